"""progress_look against the real Slurm test cluster: what it reads, and that a failure never escapes."""

from __future__ import annotations

import os

import pytest

from hpcbridge.models import Job, JobState
from hpcbridge.services.cluster import Cluster
from hpcbridge.services.progress_look import look_at

pytestmark = pytest.mark.cluster


async def test_a_failing_question_leaves_the_fields_empty(cluster: Cluster) -> None:
    """squeue refuses a job id it does not know (exit 1, 'Invalid job id specified'): no answer, no error."""
    me = await cluster.user()
    ghost = Job("999999999", "ghost", me, JobState.RUNNING, "R")
    result = await cluster.run(["squeue", "--noheader", "--jobs", "999999999"])
    assert not result.ok  # the failure is real, not assumed
    assert await look_at(cluster, [ghost]) == {}


async def test_other_users_and_pending_jobs_are_not_read(cluster: Cluster) -> None:
    tag = os.urandom(3).hex()
    other = Job("1", f"x{tag}", "someone-else", JobState.RUNNING, "R")
    waiting = Job("2", f"y{tag}", await cluster.user(), JobState.PENDING, "PD")
    before = cluster.commands_run
    assert await look_at(cluster, [other, waiting]) == {}
    assert cluster.commands_run == before  # nothing was asked of the cluster (the user is cached)
