"""Fairshare, priority and start estimates (issue 28) through a real MCP client on the real test clusters.

Slurm 22.05 runs priority/multifactor with fairshare weighted most (testcluster/cluster.sh); alice has
associations in `research` (default) and `capped`. A job is made to pend by filling the gpu partition with this
test's own blockers (4 GPUs each, 10 minutes, so the backfill scheduler has an end time to plan from).
OpenPBS 23.06 runs with strict_ordering (testcluster/openpbs.sh), so its scheduler calendars the top queued job
and sets estimated.start_time / estimated.exec_vnode; here workq's two CPU vnodes are filled by one job.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from ..conftest import openpbs_env
from .conftest import (
    HTTP_TOKEN,
    call,
    server_env,
    slurm_and_openpbs_toml,
    start_http_server,
    stdio_server,
    stop_and_read_log,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(420)]
NAME = "h28a-standing"


@pytest.fixture
async def both(tmp_path: Path, tc_env: dict[str, str]) -> AsyncIterator[Client]:
    config = slurm_and_openpbs_toml(tc_env, openpbs_env(), default="slurm")
    async with stdio_server(tmp_path, config, toolsets="cluster,jobs,agent,account") as client:
        yield client


async def _until(client: Client, job_id: str, check: str, tries: int = 90, **cluster: str) -> dict:
    """get_job_priority until `check` names a field that is set (the scheduler plans on its own cycle)."""
    found: dict = {}
    for _ in range(tries):
        found = await call(client, "get_job_priority", job_id=job_id, **cluster)
        if found.get(check):
            return found
        await asyncio.sleep(2)
    return found


async def test_fairshare_priority_rank_estimate_and_diagnosis_of_a_pending_slurm_job(both: Client) -> None:
    shares = await call(both, "get_fairshare")
    accounts = {a["account"]: a for a in shares["accounts"]}
    assert shares["user"] == "alice" and set(accounts) >= {"research", "capped"}, shares
    assert accounts["research"]["default"] and not accounts["capped"]["default"]
    assert shares["accounts"][0]["account"] == "research"  # the default account first
    assert all(a["fairshare"] is not None and 0 <= a["fairshare"] <= 1 for a in shares["accounts"]), shares

    blockers = [await call(both, "submit_job", script_content="sleep 600", partition="gpu", gpus=4,
                           time_limit="10", job_name=f"{NAME}-block") for _ in range(2)]
    waiting: list[dict] = []
    try:
        for _ in range(2):
            waiting.append(await call(both, "submit_job", script_content="sleep 30", partition="gpu", gpus=4,
                                      time_limit="5", job_name=f"{NAME}-wait"))
        first, second = waiting[0]["job_id"], waiting[1]["job_id"]
        standing = await _until(both, first, "estimated_start")
        assert standing["state"] == "PENDING" and standing["partition"] == "gpu", standing
        assert standing["priority"] and standing["priority"] > 0, standing
        names = {f["name"] for f in standing["factors"]}
        assert "fairshare" in names, standing  # the site weighs it (PriorityWeightFairshare=10000)
        assert standing["biggest"] == standing["factors"][0]["name"]
        assert standing["factors"] == sorted(standing["factors"], key=lambda f: -abs(f["weighted"]))
        assert standing["estimated_start"], f"squeue --start gave no estimate: {standing}"
        assert standing["rank"] and standing["pending_in_partition"] >= 2, standing
        later = await call(both, "get_job_priority", job_id=second)
        assert later["rank"] > standing["rank"], (standing, later)  # same factors, younger: behind it

        result = await both.call_tool("get_job_priority", {"job_id": first})
        text = result.content[0].text
        assert f"rank {standing['rank']} of" in text and "in gpu" in text and "expected start" in text, text

        diagnosis = await call(both, "diagnose_job", job_id=first)
        assert diagnosis["cause"] == "pending", diagnosis
        assert "priority" in diagnosis["summary"] and "rank" in diagnosis["summary"], diagnosis
        assert any(e.startswith("standing: priority") for e in diagnosis["evidence"]), diagnosis
    finally:
        for job in waiting + blockers:
            await call(both, "cancel_job", job_id=job["job_id"])

    running = await call(both, "get_job_priority", job_id=blockers[0]["job_id"])
    assert running["priority"] is None and running["notes"], running  # no rank for a job that is not pending


async def test_openpbs_start_estimate_and_no_fairshare(both: Client) -> None:
    with pytest.raises(ToolError, match="fairshare is not supported on pbs"):
        await call(both, "get_fairshare", cluster="pbs")
    fill = "#!/bin/bash\n#PBS -l select=2:ncpus=4\nsleep 300\n"
    filler = await call(both, "submit_job", cluster="pbs", script_content=fill, partition="workq",
                        time_limit="6", job_name=f"{NAME}-fill")
    waiting: dict = {}
    try:
        waiting = await call(both, "submit_job", cluster="pbs", script_content="sleep 5", partition="workq",
                             cpus_per_task=2, time_limit="2", job_name=f"{NAME}-wait")
        standing = await _until(both, waiting["job_id"], "estimated_start", tries=45, cluster="pbs")
        assert standing["state"] == "PENDING", standing
        assert standing["estimated_start"] and standing["estimated_nodes"].startswith("(cpu"), standing
        assert standing["priority"] is None and any("no priority factors" in n for n in standing["notes"]), standing
    finally:
        for job in (waiting, filler):
            if job:
                await call(both, "cancel_job", cluster="pbs", job_id=job["job_id"])


async def test_compute_page_shows_the_fairshare_per_account(tc_env: dict[str, str], tmp_path: Path) -> None:
    """The compute page's part, in a real headless Chromium: filled by htmx from /parts/standing/{cluster}."""
    playwright_api = pytest.importorskip("playwright.async_api", reason="pip install -e '.[test]'")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail(f"{chromium} is missing: scripts/setup.sh installs Debian's chromium")
    env = server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_STATE_DIR=str(tmp_path / "state"))
    proc, url = start_http_server(env)
    try:
        async with playwright_api.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            tab = await browser.new_page()
            base = url.removesuffix("/mcp")
            await tab.goto(base + "/")
            await tab.fill("input[name=token]", HTTP_TOKEN)
            await tab.click("button:has-text('Log in')")
            await tab.goto(base + "/compute")
            table = tab.locator("#standing table.fairshare")
            expect = playwright_api.expect
            await expect(table.locator("tbody tr").first).to_contain_text("research (default)", timeout=60_000)
            await expect(table.locator("tbody")).to_contain_text("capped")
            await expect(table.locator("caption")).to_contain_text("alice")
            await browser.close()
    finally:
        stop_and_read_log(proc)
