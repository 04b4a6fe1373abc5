"""The behaviour every scheduler backend shares: one suite, imported by each test module that provides a
`backend` fixture (a SchedulerBackend whose login user is alice) and a `gpu_queue_directive` fixture (a
directive line, in the backend's own syntax, that names the queue `gpu`). tests/integration/
test_backend_contract.py runs it live on Slurm, Torque and OpenPBS and on replayed PBS Pro output;
tests/unit/test_toy_scheduler.py on a scheduler defined only in the test tree."""

from __future__ import annotations

import pytest

from hpcbridge.backends import registry
from hpcbridge.backends.base import Capabilities, SchedulerBackend
from hpcbridge.errors import HpcBridgeError, InvalidParameter
from hpcbridge.models import Job, JobRecord, JobRequest, JobState, Node, Partition


async def test_the_backend_is_registered_and_complete(backend: SchedulerBackend) -> None:
    assert backend.name in registry.names() and isinstance(backend.capabilities, Capabilities)
    assert (backend.interactive is not None) == backend.capabilities.interactive


async def test_version_and_user(backend: SchedulerBackend) -> None:
    assert await backend.version()
    assert await backend.whoami() == "alice"


async def test_partitions_nodes_and_jobs_are_shared_models(backend: SchedulerBackend) -> None:
    parts = await backend.partitions()
    assert parts and all(isinstance(p, Partition) and p.name for p in parts)
    assert sum(p.is_default for p in parts) <= 1
    nodes = await backend.nodes()
    assert nodes and all(isinstance(n, Node) and n.cpus_total > 0 for n in nodes)
    jobs = await backend.jobs()
    assert all(isinstance(j, Job) and isinstance(j.state, JobState) for j in jobs)


async def test_history_is_records(backend: SchedulerBackend) -> None:
    records = await backend.history(start_time="now-7days")
    assert all(isinstance(r, JobRecord) and isinstance(r.state, JobState) for r in records)


async def test_job_ids_and_times_are_checked_before_anything_runs(backend: SchedulerBackend) -> None:
    assert backend.job_id(12) == "12"
    for bad in ("1;rm -rf /", "$(id)", "12 13"):
        with pytest.raises(InvalidParameter, match="job_id"):
            backend.job_id(bad)
    assert backend.history_time("start_time", "now-2weeks") == "now-2weeks"
    with pytest.raises(InvalidParameter, match="start_time"):
        backend.history_time("start_time", "`id`")


async def test_the_scripts_own_directives_are_read(backend: SchedulerBackend, gpu_queue_directive: str) -> None:
    """A directive naming the queue `gpu`, in the backend's own syntax, is read as partition=gpu; every other
    registered scheduler's directive prefix (and LSF's) is refused naming the line."""
    foreign = registry.foreign_directives(backend.name)
    found, values = backend.read_directives(f"#!/bin/bash\n{gpu_queue_directive}\necho hi", foreign)
    assert values["partition"][0] == "gpu" and "gpu" not in found.script
    for prefix in foreign:
        with pytest.raises(InvalidParameter, match="line 2"):
            backend.read_directives(f"#!/bin/bash\n{prefix} -q gpu\necho hi", foreign)
    script = backend.render_script(JobRequest(script_content="echo hi", partition="cpu", job_name="contract"))
    assert script.startswith("#!") and script.rstrip().endswith("echo hi") and "contract" in script


async def test_a_missing_capability_is_refused_not_sent_elsewhere(backend: SchedulerBackend) -> None:
    caps = backend.capabilities
    if not caps.gpu_types:
        with pytest.raises(HpcBridgeError, match="gpu_type"):
            await backend.check_request(JobRequest(script_content="true", partition="gpu", gpus=1, gpu_type="a100"))
    if not caps.forced_delete:
        with pytest.raises(HpcBridgeError, match="force"):
            await backend.cancel("1", force=True)
