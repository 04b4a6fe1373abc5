"""Provoked failures classified through a real MCP client; waiting with progress; where to submit."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from fastmcp import Client

from .conftest import as_cluster_user, call

pytestmark = pytest.mark.cluster

# (script, extra submit_job arguments, expected cause, a piece of evidence)
PROVOKED: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "gpu_oom": ("echo 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB' >&2; exit 1",
                {"partition": "gpu", "gpus": 1}, "gpu_out_of_memory", "CUDA out of memory"),
    "nccl": ("echo 'RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1269, unhandled system error' >&2; exit 1",
             {}, "nccl_error", "NCCL error"),
    "segfault": ("kill -SEGV $$", {}, "killed_by_signal", "11"),
    "missing_module": ("python3 -c 'import nosuchmodule'", {}, "missing_dependency", "nosuchmodule"),
    "traceback": ("python3 -c 'raise ValueError(\"learning rate must be positive\")'", {}, "python_exception",
                  "ValueError: learning rate must be positive"),
    "host_oom": ("python3 -c 'import time; x = bytearray(400 * 1024 * 1024); time.sleep(30)'", {"memory": "60M"},
                 "out_of_memory", "memory limit"),
    "quota": ("echo \"OSError: [Errno 122] Disk quota exceeded: '/scratch/ckpt'\" >&2; exit 1", {}, "disk_quota",
              "Disk quota exceeded"),
    "container": ("echo 'pyxis: failed to import docker image' >&2; exit 1", {}, "container_image", "pyxis"),
    "time_limit": ("sleep 600", {"time_limit": "1"}, "time_limit", "TIME"),
}


async def test_provoked_failures_are_classified_with_evidence(mcp: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    jobs = {}
    for name, (script, extra, _, _) in PROVOKED.items():
        args = {"time_limit": "5", "job_name": f"diag-{name}-{tag}", **extra}
        jobs[name] = (await call(mcp, "submit_job", script_content=script, **args))["job_id"]
    answers = await asyncio.gather(*(call(mcp, "wait_for_job", job_id=j, timeout=240) for j in jobs.values()))
    failures = []
    for (name, job_id), answer in zip(jobs.items(), answers):
        _, _, cause, evidence = PROVOKED[name]
        diag = answer["diagnosis"]
        if not diag or diag["cause"] != cause or not any(evidence in e for e in diag["evidence"]):
            failures.append((name, job_id, answer["wait"]["state"], diag))
    assert not failures, failures


async def test_never_starting_held_and_cancelled_jobs(mcp: Client, tc_env: dict[str, str]) -> None:
    first = await call(mcp, "submit_job", script_content="exit 1", time_limit="5")
    second = await call(mcp, "submit_job", script_content="true", time_limit="5",
                        dependency=f"afterok:{first['job_id']}")
    held = await call(mcp, "submit_job", script_content="true", time_limit="5", hold=True)
    # hpcbridge refuses this before sbatch; a person at a shell can still submit it
    too_long = as_cluster_user(tc_env, "sbatch --parsable -p interactive -t 8:00:00 --wrap true").strip()
    victim = await call(mcp, "submit_job", script_content="sleep 300", time_limit="5")
    await call(mcp, "wait_for_job", job_id=first["job_id"], timeout=60)
    await call(mcp, "wait_for_job", job_id=victim["job_id"], until="running", timeout=60)
    await call(mcp, "cancel_job", job_id=victim["job_id"])
    for _ in range(30):
        never = await call(mcp, "diagnose_job", job_id=second["job_id"])
        if never["cause"] == "never_starts":
            break
        await asyncio.sleep(1)
    assert never["cause"] == "never_starts" and "DependencyNeverSatisfied" in never["evidence"][0]
    assert (await call(mcp, "diagnose_job", job_id=held["job_id"]))["cause"] == "held"
    limit = await call(mcp, "diagnose_job", job_id=too_long)
    assert limit["cause"] == "never_starts" and "PartitionTimeLimit" in limit["evidence"][0]
    cancelled = await call(mcp, "wait_for_job", job_id=victim["job_id"], timeout=60)
    assert cancelled["diagnosis"]["cause"] == "cancelled" and "alice" in cancelled["diagnosis"]["summary"]
    for job in (second["job_id"], held["job_id"], too_long):
        await call(mcp, "cancel_job", job_id=job)


async def test_pending_reason_is_explained_with_an_estimate(mcp: Client) -> None:
    blockers = [await call(mcp, "submit_job", script_content="sleep 120", partition="gpu", gpus=4, time_limit="5")
                for _ in range(2)]
    waiting = await call(mcp, "submit_job", script_content="true", partition="gpu", gpus=4, time_limit="5")
    try:
        for _ in range(20):
            diag = await call(mcp, "diagnose_job", job_id=waiting["job_id"])
            if diag["cause"] == "pending" and "Resources" in diag["evidence"][0]:
                break
            await asyncio.sleep(1)
        assert diag["cause"] == "pending" and "resources" in diag["summary"].lower()
        details = await call(mcp, "get_job_details", job_id=waiting["job_id"])
        assert "free" in details["reason_explained"]
    finally:
        for job in (*blockers, waiting):
            await call(mcp, "cancel_job", job_id=job["job_id"])


async def test_wait_for_job_reports_each_state_change_as_progress(mcp: Client) -> None:
    # long enough that polls backing off from 2 s (2, 3, 4.5, 6.75 s ...) see it running
    job = await call(mcp, "submit_job", script_content="sleep 20", time_limit="5", hold=True)
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    waiter = asyncio.create_task(mcp.call_tool("wait_for_job", {"job_id": job["job_id"], "timeout": 120},
                                               progress_handler=on_progress))
    await asyncio.sleep(3)
    await call(mcp, "release_job", job_id=job["job_id"])
    result = (await waiter).structured_content
    states = [t["state"] for t in result["wait"]["transitions"]]
    assert states[0] == "HELD" and states[-1] == "COMPLETED" and "RUNNING" in states
    assert [m.split(": ", 1)[1].split(" ")[0] for m in messages] == states
    assert result["diagnosis"] is None and result["wait"]["reached"]


async def test_recommendation_for_four_a100_for_two_hours(mcp: Client) -> None:
    free = await call(mcp, "get_gpu_availability", partition="gpu", gpu_type="a100")
    rec = await call(mcp, "recommend_submission", gpus=4, gpu_type="a100", time_limit="2:00:00")
    best = rec["best"]
    assert best["partition"] == "gpu" and best["feasible"] and best["free_gpus"] == free["free_by_type"]["a100"]
    assert f"{best['free_gpus']} free a100s now" in best["why"]
    cpu = next(o for o in rec["options"] if o["partition"] == "cpu")
    assert not cpu["feasible"] and "no GPUs" in cpu["why"]
    text = (await mcp.call_tool("recommend_submission", {"gpus": 4, "gpu_type": "a100", "time_limit": "2:00:00"}))
    assert text.content[0].text.splitlines()[1].startswith("  1. default/gpu")


async def test_prompts_use_the_tools(mcp: Client) -> None:
    prompts = {p.name for p in await mcp.list_prompts()}
    assert prompts == {"submit_job_guide", "diagnose_job_failure", "optimize_resources", "work_in_notebook"}
    guide = await mcp.get_prompt("diagnose_job_failure", {"job_id": "123"})
    text = guide.messages[0].content.text
    assert "diagnose_job(job_id='123')" in text and "read_job_output" in text
    tools = {t.name for t in await mcp.list_tools()}
    for prompt, args in (("submit_job_guide", {"job_type": "pytorch training"}),
                         ("optimize_resources", {"workload_description": "7B fine-tune"}),
                         ("work_in_notebook", {"notebook": "explore", "profile": "dev-1gpu"})):
        body = (await mcp.get_prompt(prompt, args)).messages[0].content.text
        mentioned = {t for t in tools if t in body}
        assert mentioned and mentioned <= tools
