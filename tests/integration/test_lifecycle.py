"""The whole job lifecycle on the real cluster, as the ordinary user over SSH."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from hpcbridge.errors import InfeasibleRequest, NotFound
from hpcbridge.models import JobRequest, JobState
from hpcbridge.services.cluster import Cluster
from hpcbridge.services.files import read_file

from .conftest import wait_final, wait_in_accounting

pytestmark = pytest.mark.cluster


def _tag() -> str:
    return f"it-{uuid.uuid4().hex[:8]}"


async def test_gpu_job_sees_exactly_the_requested_devices(cluster: Cluster) -> None:
    req = JobRequest(script_content='echo "CVD=$CUDA_VISIBLE_DEVICES"', job_name=_tag(), partition="gpu",
                     gpus=2, gpu_type="a100", time_limit="5")
    submitted = await cluster.submit(req)
    details = await wait_final(cluster, submitted.job_id)
    assert details.job.state is JobState.COMPLETED
    out = await read_file(cluster, details.stdout_path)
    visible = out.content.strip().removeprefix("CVD=").split(",")
    assert len(visible) == 2 and all(v.isdigit() for v in visible), out.content


async def test_hold_release_then_runs(cluster: Cluster) -> None:
    submitted = await cluster.submit(JobRequest(script_content="sleep 1", job_name=_tag(), hold=True,
                                                time_limit="5"))
    job = (await cluster.job_details(submitted.job_id)).job
    assert job.state is JobState.HELD and job.reason == "JobHeldUser"
    await cluster.release(submitted.job_id)
    assert (await wait_final(cluster, submitted.job_id)).job.state is JobState.COMPLETED


async def test_hold_a_pending_job_then_release(cluster: Cluster) -> None:
    submitted = await cluster.submit(JobRequest(script_content="sleep 2", job_name=_tag(), time_limit="5",
                                                dependency="afterok:1", partition="cpu"))
    await cluster.hold(submitted.job_id)
    assert (await cluster.job_details(submitted.job_id)).job.state is JobState.HELD
    await cluster.release(submitted.job_id)
    assert (await cluster.job_details(submitted.job_id)).job.state is JobState.PENDING
    await cluster.cancel(submitted.job_id)


async def test_failing_job_exit_code_and_state_in_history(cluster: Cluster) -> None:
    submitted = await cluster.submit(JobRequest(script_content="echo bad >&2\nexit 7", job_name=_tag(),
                                                time_limit="5"))
    details = await wait_final(cluster, submitted.job_id)
    assert details.job.state is JobState.FAILED and details.exit_code == 7
    await wait_in_accounting(cluster, submitted.job_id)
    record = (await cluster.history(job_ids=[submitted.job_id]))[0]
    assert record.state is JobState.FAILED and record.exit_code == 7
    err = await read_file(cluster, details.stderr_path)
    assert "bad" in err.content


async def test_signal_death_is_reported(cluster: Cluster) -> None:
    submitted = await cluster.submit(JobRequest(script_content="kill -SEGV $$", job_name=_tag(), time_limit="5"))
    await wait_final(cluster, submitted.job_id)
    await wait_in_accounting(cluster, submitted.job_id)
    record = (await cluster.history(job_ids=[submitted.job_id]))[0]
    batch = next(s for s in record.steps if s.step_id.endswith(".batch"))
    assert record.state is JobState.FAILED and batch.signal == 11


async def test_cancel_running_job(cluster: Cluster) -> None:
    submitted = await cluster.submit(JobRequest(script_content="sleep 300", job_name=_tag(), time_limit="10"))
    for _ in range(30):
        if (await cluster.job_details(submitted.job_id)).job.state is JobState.RUNNING:
            break
        await asyncio.sleep(0.5)
    await cluster.cancel(submitted.job_id)
    assert (await wait_final(cluster, submitted.job_id)).job.state is JobState.CANCELLED


async def test_cancel_unknown_job_says_so(cluster: Cluster) -> None:
    with pytest.raises(NotFound, match="not in the queue"):
        await cluster.cancel("99999999")


async def test_array_tasks_each_listed_and_run(cluster: Cluster) -> None:
    name = _tag()
    submitted = await cluster.submit(JobRequest(script_content="echo task $SLURM_ARRAY_TASK_ID", job_name=name,
                                                array="0-3", time_limit="5", hold=True))
    jobs = [j for j in await cluster.backend.jobs() if j.name == name]
    assert sorted(j.array_task_id or "" for j in jobs) == ["0", "1", "2", "3"]
    assert {j.array_job_id for j in jobs} == {submitted.job_id}
    await cluster.release(submitted.job_id)
    for task in range(4):
        assert (await wait_final(cluster, f"{submitted.job_id}_{task}")).job.state is JobState.COMPLETED


async def test_afterok_dependency_waits_then_runs(cluster: Cluster) -> None:
    first = await cluster.submit(JobRequest(script_content="sleep 3", job_name=_tag(), time_limit="5"))
    second = await cluster.submit(JobRequest(script_content="echo after", job_name=_tag(), time_limit="5",
                                             dependency=f"afterok:{first.job_id}"))
    waiting = (await cluster.job_details(second.job_id)).job
    assert waiting.state is JobState.PENDING and waiting.reason == "Dependency"
    assert (await wait_final(cluster, second.job_id)).job.state is JobState.COMPLETED
    first_done = await cluster.job_details(first.job_id)
    second_done = await cluster.job_details(second.job_id)
    assert second_done.job.start_time >= first_done.end_time


async def test_impossible_requests_refused_before_sbatch(cluster: Cluster) -> None:
    before = cluster.commands_run
    cases = [
        (JobRequest(script_content="true", partition="gpux"), "partitions: gpu, cpu, interactive"),
        (JobRequest(script_content="true", partition="gpu", gpus=1, gpu_type="h100"), "it has a100"),
        (JobRequest(script_content="true", partition="gpu", gpus=8, gpu_type="a100"), "at most 4"),
        (JobRequest(script_content="true", partition="interactive", time_limit="8:00:00"), "limit of 4:00:00"),
        (JobRequest(script_content="true", partition="cpu", gpus=1), "partitions with GPUs: gpu"),
        (JobRequest(script_content="true", partition="gpu", nodes=3), "has 2 nodes"),
    ]
    for req, message in cases:
        with pytest.raises((InfeasibleRequest, NotFound), match=message):
            await cluster.submit(req)
    # only cached reads (partitions/nodes) may have run; no sbatch
    assert cluster.commands_run - before <= 2


async def test_test_only_asks_the_scheduler_without_submitting(cluster: Cluster) -> None:
    result = await cluster.submit(JobRequest(script_content="true", partition="gpu", gpus=1, time_limit="5"),
                                  test_only=True)
    assert result.test_only and "to start at" in result.scheduler_message and result.job_id == ""
