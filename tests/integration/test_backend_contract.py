"""One behaviour suite for every backend: Slurm live, Torque live (the test cluster through Debian's PBS
wrappers), OpenPBS 23.06 live (the test cluster's own PBS complex, flavour auto-detected), PBS Pro replayed from recorded OpenPBS 23.06 output (no PBS Pro server can run here; the replay
checks what is sent and how the real answers are read)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from hpcbridge.backends.base import JobChanges, SchedulerBackend
from hpcbridge.backends.registry import make_backend
from hpcbridge.config import ClusterConfig
from hpcbridge.models import JobRequest, JobState
from hpcbridge.services.cluster import Cluster
from hpcbridge.services.registry import make_transport

from ..conftest import openpbs_env, shared_fixtures
from ..contract import *  # the shared suite (tests/contract.py), run on each backend below

KINDS = ["slurm", "torque", "openpbs", "pbspro"]
LIVE = {"slurm", "torque", "openpbs"}
QUEUE = {"openpbs": "workq"}  # the Slurm cluster's partition cpu, under its own name on the OpenPBS site


def _config(tc_env: dict[str, str], kind: str) -> ClusterConfig:
    if kind == "openpbs":
        env = openpbs_env()
        return ClusterConfig(
            name=kind, scheduler="pbs", host=env["OPENPBS_SSH_HOST"], port=int(env["OPENPBS_SSH_PORT"]),
            user=env["OPENPBS_SSH_USER"], key_path=env["OPENPBS_SSH_KEY_PATH"],
            known_hosts=env["OPENPBS_SSH_KNOWN_HOSTS"], default_partition=env["OPENPBS_DEFAULT_QUEUE"])
    return ClusterConfig(
        name=kind, scheduler="slurm" if kind == "slurm" else "pbs", pbs_flavor="torque" if kind == "torque" else "auto",
        host=tc_env["SLURM_SSH_HOST"], port=int(tc_env["SLURM_SSH_PORT"]), user=tc_env["SLURM_SSH_USER"],
        key_path=tc_env["SLURM_SSH_KEY_PATH"], known_hosts=tc_env["SLURM_SSH_KNOWN_HOSTS"], default_partition="cpu")


@pytest.fixture
def gpu_queue_directive(backend: SchedulerBackend) -> str:
    return "#SBATCH -p gpu" if backend.name == "slurm" else "#PBS -q gpu"


@pytest.fixture(params=KINDS)
async def backend(request: pytest.FixtureRequest, tc_env: dict[str, str]) -> AsyncIterator[SchedulerBackend]:
    kind = request.param
    if kind == "pbspro":
        from ..unit.test_pbs_backend import Replay

        replay = Replay(shared_fixtures("pbs"))
        yield make_backend(ClusterConfig(name=kind, scheduler="pbs", pbs_flavor="pbspro", transport="local"),
                           replay.run, replay.write)
        return
    config = _config(tc_env, kind)
    cluster = Cluster(config, make_transport(config))
    try:
        yield cluster.backend
    finally:
        await cluster.close()


@pytest.mark.parametrize("kind", sorted(LIVE))
async def test_submit_hold_release_cancel_and_history(kind: str, tc_env: dict[str, str]) -> None:
    """The lifecycle on the live backends (a replay has no queue that changes)."""
    config = _config(tc_env, kind)
    cluster = Cluster(config, make_transport(config))
    backend = cluster.backend
    try:
        req = JobRequest(script_content="sleep 60", partition=QUEUE.get(kind, "cpu"), time_limit="5", hold=True,
                         job_name="contract")
        await backend.check_request(req)
        job_id = await backend.submit(backend.render_script(req), req)
        assert backend.job_id(job_id) == job_id
        held = await backend.job(job_id)
        assert held is not None and held.job.state in (JobState.HELD, JobState.PENDING)
        await backend.release(job_id)
        await backend.hold(job_id)
        await backend.modify(job_id, JobChanges(job_name="contract-renamed"))  # qalter -N; scontrol update
        renamed = await backend.job(job_id)
        assert renamed is not None and renamed.job.name == "contract-renamed", kind
        await backend.cancel(job_id)
        deadline = time.monotonic() + 60
        while True:
            listed = {j.job_id for j in await backend.jobs(user="alice")}
            gone = job_id not in listed or ((await backend.job(job_id)) or held).job.state.final
            if gone or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        assert gone, f"{kind}: job {job_id} still active after cancel"
    finally:
        await cluster.close()
