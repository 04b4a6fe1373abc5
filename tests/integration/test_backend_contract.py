"""One behaviour suite for every backend: Slurm live, Torque live (the test cluster through Debian's PBS
wrappers), OpenPBS 23.06 live (the test cluster's own PBS complex, flavour auto-detected), PBS Pro replayed from recorded OpenPBS 23.06 output (no PBS Pro server can run here; the replay
checks what is sent and how the real answers are read)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from hpcbridge.config import ClusterConfig
from hpcbridge.errors import HpcBridgeError, InvalidParameter
from hpcbridge.models import Job, JobRecord, JobRequest, JobState, Node, Partition
from hpcbridge.services.backend import SchedulerBackend, make_backend
from hpcbridge.services.cluster import Cluster
from hpcbridge.services.registry import make_transport

from ..conftest import openpbs_env, shared_fixtures

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


async def test_the_scripts_own_directives_are_read(backend: SchedulerBackend) -> None:
    native, foreign = ("#SBATCH -p gpu", "#PBS -q gpu") if backend.name == "slurm" else ("#PBS -q gpu", "#SBATCH -p gpu")
    found, values = backend.read_directives(f"#!/bin/bash\n{native}\necho hi")
    assert values["partition"][0] == "gpu" and "gpu" not in found.script
    with pytest.raises(InvalidParameter, match="line 2"):
        backend.read_directives(f"#!/bin/bash\n{foreign}\necho hi")
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
