"""The Slurm plan's scenarios 3, 4, 5, 6 and 1 (without a container), played by a real MCP client
against the installed `hpcbridge serve` over stdio, and once more over streamable HTTP."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from .conftest import call, wait_final

pytestmark = pytest.mark.cluster


def _name() -> str:
    return f"e2e-{uuid.uuid4().hex[:6]}"


async def test_scenario_3_how_many_gpus_are_available(mcp: Client) -> None:
    info = await call(mcp, "get_gpu_info")
    assert info["by_type"] == {"a100": 8}
    assert {n["name"] for n in info["nodes"]} == {"gpu1", "gpu2"}
    avail = await call(mcp, "get_gpu_availability")
    gpu_pool = next(p for p in avail["pools"] if p["partition"] == "gpu")
    assert gpu_pool["total"] == 8 and gpu_pool["free"] + gpu_pool["allocated"] + gpu_pool["unavailable"] == 8
    status = await call(mcp, "get_cluster_status")
    assert status["gpus_total"] == 8 and {p["name"] for p in status["partitions"]} == {"gpu", "cpu", "interactive"}
    assert status["scheduler_version"].startswith("22.05")


async def test_scenario_4_cpu_data_processing_job(mcp: Client) -> None:
    parts = await call(mcp, "get_partition_info")
    cpu = next(p for p in parts["partitions"] if p["name"] == "cpu")
    assert cpu["is_default"] and cpu["total_cpus"] == 4
    # what the plan asks (64 cores, 256 GB) cannot fit these nodes: refused with what exists
    with pytest.raises(ToolError, match="at most 2"):
        await call(mcp, "submit_job", script_content="python preprocess.py", partition="cpu", nodes=1,
                   cpus_per_task=64, memory="256G", time_limit="4:00:00")
    job = await call(mcp, "submit_job", script_content="echo workers=$SLURM_CPUS_PER_TASK", partition="cpu",
                     nodes=1, cpus_per_task=2, memory="1G", time_limit="4:00:00", job_name=_name())
    assert "--cpus-per-task=2" in job["script"] and "--mem=1024M" in job["script"]
    done = await wait_final(mcp, job["job_id"])
    assert done["job"]["state"] == "COMPLETED"
    out = await call(mcp, "read_job_output", job_id=job["job_id"])
    assert out["content"].strip() == "workers=2" and not out["truncated"]


async def test_scenario_5_monitor_running_jobs(mcp: Client) -> None:
    name = _name()
    job = await call(mcp, "submit_job", script_content="for i in 1 2 3 4 5; do echo step $i; sleep 1; done; sleep 60",
                     partition="gpu", gpus=1, gpu_type="a100", time_limit="5", job_name=name)
    try:
        running: list[dict[str, object]] = []
        for _ in range(30):
            page = await call(mcp, "list_jobs", user="me", state="RUNNING")
            running = [j for j in page["items"] if j["job_id"] == job["job_id"]]
            if running:
                break
            await asyncio.sleep(0.5)
        assert running and running[0]["gpus"] == "a100:1" and running[0]["where_or_why"].startswith("gpu")
        details = await call(mcp, "get_job_details", job_id=job["job_id"])
        assert details["job"]["state"] == "RUNNING" and details["gpu_indices"] != ""
        for _ in range(20):
            out = await call(mcp, "read_job_output", job_id=job["job_id"], tail_lines=2)
            if "step 5" in out["content"]:
                break
            await asyncio.sleep(0.5)
        assert out["content"].splitlines() == ["step 4", "step 5"]
    finally:
        await call(mcp, "cancel_job", job_id=job["job_id"])


async def test_scenario_6_debug_a_failed_job(mcp: Client) -> None:
    job = await call(mcp, "submit_job", script_content="echo loading data\npython3 -c 'import nosuchmodule'\n",
                     time_limit="5", job_name=_name())
    details = await wait_final(mcp, job["job_id"])
    assert details["job"]["state"] == "FAILED" and details["exit_code"] == 1
    err = await call(mcp, "read_job_output", job_id=job["job_id"], stream="stderr", tail_lines=5)
    assert "ModuleNotFoundError: No module named 'nosuchmodule'" in err["content"]
    for _ in range(30):
        history = await call(mcp, "get_job_history", job_id=job["job_id"])
        if history["items"] and history["items"][0]["state"] == "FAILED":
            break
        await asyncio.sleep(1)
    record = history["items"][0]
    assert record["exit_code"] == 1 and record["steps"]


async def test_scenario_1_gpu_training_job_without_container(mcp: Client) -> None:
    avail = await call(mcp, "get_gpu_availability", gpu_type="a100", min_gpus=4)
    assert any(p["partition"] == "gpu" and p["largest_free_on_one_node"] >= 4 for p in avail["pools"])
    job = await call(mcp, "submit_job", script_content='echo "CVD=$CUDA_VISIBLE_DEVICES"\n', partition="gpu",
                     gpus=4, gpu_type="a100", time_limit="24:00:00", job_name=_name())
    assert "#SBATCH --gres=gpu:a100:4" in job["script"] and "#SBATCH --time=24:00:00" in job["script"]
    done = await wait_final(mcp, job["job_id"])
    assert done["job"]["state"] == "COMPLETED"
    out = await call(mcp, "read_job_output", job_id=job["job_id"])
    assert len(out["content"].strip().removeprefix("CVD=").split(",")) == 4
    with pytest.raises(ToolError, match="exceeds partition 'gpu' limit of 1-00:00:00"):
        await call(mcp, "submit_job", script_content="true", partition="gpu", gpus=4, time_limit="2-00:00:00")


async def test_hold_release_cancel_and_history_over_http(mcp_http: Client) -> None:
    job = await call(mcp_http, "submit_job", script_content="sleep 1", hold=True, time_limit="5",
                     job_name=_name())
    held = await call(mcp_http, "get_job_details", job_id=job["job_id"])
    assert held["job"]["state"] == "HELD" and "release" in held["reason_explained"]
    await call(mcp_http, "release_job", job_id=job["job_id"])
    assert (await wait_final(mcp_http, job["job_id"]))["job"]["state"] == "COMPLETED"
    summary = await call(mcp_http, "get_job_summary")
    assert summary["total"] == sum(summary["by_state"].values())
    with pytest.raises(ToolError, match="not in the queue"):
        await call(mcp_http, "cancel_job", job_id="99999999")
    status = await call(mcp_http, "get_cluster_status")
    assert status["gpus_total"] == 8


async def test_job_ids_sent_as_json_numbers_work(mcp: Client) -> None:
    """Agents often send "job_id": 1234 (a number); every job-id parameter accepts it."""
    job = await call(mcp, "submit_job", script_content="sleep 30", hold=True, time_limit="5", job_name="numeric-id")
    number = int(job["job_id"])
    try:
        assert (await call(mcp, "get_job_details", job_id=number))["job"]["job_id"] == job["job_id"]
        await call(mcp, "release_job", job_id=number)
        await call(mcp, "hold_job", job_id=number)
    finally:
        await call(mcp, "cancel_job", job_id=number)
