"""get_job_metrics through a real MCP client (issue 27): a Slurm job on the test cluster writes a TensorBoard
event file with tensorboardX's SummaryWriter (installed into the jobs' Python by testcluster/cluster.sh) and a
JSONL metric log, and keeps running; the tool finds both in the job's work dir and
returns the loss values the job wrote, and a chart image that decodes as PNG."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from PIL import Image

from ..conftest import TC_DIR, openpbs_env
from .conftest import as_cluster_user, call, slurm_and_openpbs_toml, stdio_server
from .test_dashboard import SHOTS, Dashboard, agent, browser, dashboard, page, playwright_api  # noqa: F401 - fixtures

pytestmark = pytest.mark.cluster

STEPS = 40
# The job's program: loss = 3 * 0.9**step (float32 in the event file), acc in the JSONL only every 4th line.
WRITER = f"""
import json, time
from tensorboardX import SummaryWriter
w = SummaryWriter(logdir="tb/run1")
with open("logs/train_metrics.jsonl", "w") as log:
    for step in range({STEPS}):
        loss = 3 * 0.9 ** step
        w.add_scalar("train/loss", loss, step)
        w.add_scalar("train/lr", 1e-3, step)
        row = {{"step": step, "loss": loss}}
        if step % 4 == 0:
            row["acc"] = step / {STEPS}
        log.write(json.dumps(row) + "\\n")
# tensorboardX queues events for a writer thread and its flush() does not drain that queue (seen here: 7 of
# 80 scalars missing after flush()); close() does. The job goes on running while the test reads.
w.close()
open("written", "w").close()
time.sleep(300)
"""


def loss(step: int) -> float:
    return 3 * 0.9**step


async def start_writer(client: Client, tc_env: dict[str, str]) -> tuple[str, str]:
    """(job id, work dir) of a running job that has written its metrics."""
    tag = f"e2e-metrics-{os.urandom(3).hex()}"
    work = as_cluster_user(tc_env, 'mkdir -p "$HOME/$1/logs" "$HOME/$1/data" "$HOME/$1/.venv" && '
                                   'printf "city,pop\\nA,1\\n" > "$HOME/$1/data/cities.csv" && '
                                   'printf "step,loss\\n0,9\\n" > "$HOME/$1/.venv/metrics.csv" && '
                                   'cd "$HOME/$1" && pwd -P', tag).strip()
    python = TC_DIR / "jupyter-venv" / "bin" / "python"
    script = f"#!/bin/bash\n{python} - <<'EOF'\n{WRITER}\nEOF\n"
    job = (await call(client, "submit_job", script_content=script, job_name=tag, working_directory=work,
                      time_limit="10"))["job_id"]
    deadline = time.monotonic() + 180
    while not as_cluster_user(tc_env, 'test -e "$1/written" && echo yes || true', work).strip():
        if time.monotonic() > deadline:
            await call(client, "cancel_job", job_id=job)
            raise AssertionError(f"job {job} did not write its metrics")
        await asyncio.sleep(1)
    return job, work


async def test_metrics_of_a_running_job_from_tensorboardx_and_jsonl(mcp: Client, tc_env: dict[str, str]) -> None:
    job, work = await start_writer(mcp, tc_env)
    try:
        details = await call(mcp, "get_job_details", job_id=job)
        assert details["job"]["state"] == "RUNNING"  # read while the job runs

        result = await mcp.call_tool("get_job_metrics", {"job_id": job, "series": "loss|acc", "max_points": 100})
        found = result.structured_content or {}
        kinds = {f["path"].removeprefix(work + "/"): f["kind"] for f in found["files"]}
        assert kinds.pop("logs/train_metrics.jsonl") == "jsonl"
        assert [k for k in kinds] and all(p.startswith("tb/run1/events.out.tfevents.") for p in kinds)
        # data/cities.csv and slurm-J.out are not metric logs; .venv/metrics.csv is in a hidden folder
        assert set(kinds.values()) == {"tfevents"}
        series = {s["name"]: s for s in found["series"]}
        assert set(series) == {"train/loss", "loss", "acc"}  # lr is filtered out by series=
        tb = series["train/loss"]
        assert tb["points"] == STEPS and (tb["first_step"], tb["last_step"]) == (0, STEPS - 1)
        assert tb["values"] == pytest.approx([loss(s) for s in range(STEPS)], rel=1e-6)
        assert tb["last"] == pytest.approx(loss(STEPS - 1), rel=1e-6) and tb["max"] == pytest.approx(3.0)
        assert series["loss"]["values"] == [loss(s) for s in range(STEPS)]  # JSONL: exact doubles
        assert series["acc"]["steps"] == [float(s) for s in range(0, STEPS, 4)]
        text = result.content[0].text
        assert "train/loss | 40 | 0..39 |" in text
        images = [c for c in result.content if c.type == "image"]
        assert len(images) == 1 and images[0].mime_type == "image/png"
        image = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
        assert image.format == "PNG" and image.size[1] == 3 * 140  # one panel per series

        few = await call(mcp, "get_job_metrics", job_id=job, paths=["logs/train_metrics.jsonl"], max_points=10,
                         chart_png=False)
        thin = {s["name"]: s for s in few["series"]}["loss"]
        assert thin["downsampled"] and len(thin["values"]) <= 10 and thin["points"] == STEPS
        assert thin["values"][0] == 3 and thin["values"][-1] == loss(STEPS - 1)

        cut = await call(mcp, "get_job_metrics", job_id=job, paths=["tb/run1"], max_bytes=1000, chart_png=False)
        (events,) = cut["files"]
        assert events["truncated"] and events["read_bytes"] == 1000 and "first 1000 of" in events["note"]
        partial = {s["name"]: s for s in cut["series"]}["train/loss"]
        assert 0 < partial["points"] < STEPS  # the whole records before the cut, as written
        assert partial["values"] == pytest.approx([loss(s) for s in range(partial["points"])], rel=1e-6)
    finally:
        await call(mcp, "cancel_job", job_id=job)


async def test_paths_outside_the_sandbox_and_bad_values_are_refused(mcp: Client) -> None:
    with pytest.raises(ToolError, match="outside|not allowed|allowed"):
        await mcp.call_tool("get_job_metrics", {"paths": ["/etc/passwd.csv"]})
    with pytest.raises(ToolError, match="job_id"):
        await mcp.call_tool("get_job_metrics", {})
    with pytest.raises(ToolError, match="series"):
        await mcp.call_tool("get_job_metrics", {"paths": ["x.jsonl"], "series": "("})


async def test_the_job_page_charts_the_series_with_uplot(
    page: Any, agent: Client, dashboard: Dashboard, tc_env: dict[str, str],  # noqa: F811 - fixtures imported above
) -> None:
    """In Chromium: the metric part loads after the page, lists the series and draws a uPlot canvas per series,
    with no CSP complaint (the drawing script is a static file, no inline script)."""
    job, _ = await start_writer(agent, tc_env)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        await page.goto(f"{dashboard.base}/job/slurm/{job}")
        part = page.locator("#job-metrics")
        await playwright_api.expect(part.locator("table.metrics")).to_contain_text("train/loss", timeout=30_000)
        rows = await part.locator("table.metrics tbody tr").all_inner_texts()
        loss_row = next(r for r in rows if r.startswith("train/loss"))
        assert "\t40\t0..39\t" in loss_row  # points, steps as the job wrote them
        charts = part.locator(".metric-chart canvas")
        await playwright_api.expect(charts).to_have_count(len(rows), timeout=10_000)  # one uPlot per series
        assert len(rows) == 4  # train/loss, train/lr (events), loss, acc (JSONL)
        await part.scroll_into_view_if_needed()  # the README's picture
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / "job_metrics.png"))
        await part.locator("input[name=series]").fill("^loss$")
        await part.locator("button:has-text('Reload')").click()
        await playwright_api.expect(part.locator("table.metrics tbody tr")).to_have_count(1)
        await playwright_api.expect(charts).to_have_count(1)
        assert not refused, refused
    finally:
        await call(agent, "cancel_job", job_id=job)


@pytest.fixture(scope="module")
async def pbs(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    """A server whose default cluster `pbs` is the test cluster's OpenPBS 23.06."""
    config = slurm_and_openpbs_toml(tc_env, openpbs_env(), default="pbs")
    async with stdio_server(tmp_path_factory.mktemp("metrics-openpbs"), config, "watch,jobs,agent") as client:
        yield client


async def test_metrics_of_an_openpbs_job(pbs: Client, tc_env: dict[str, str]) -> None:
    """The same on OpenPBS, by paths: PBS reports the directory qsub ran in (PBS_O_WORKDIR, the login home,
    outside this server's sandbox) as the work dir, not the job's `cd` target, so the run's folder is given."""
    tag = f"e2e-metrics-pbs-{os.urandom(3).hex()}"
    work = as_cluster_user(tc_env, 'mkdir -p "$1/scratch/$2/logs" && cd "$1/scratch/$2" && pwd -P',
                           tc_env["SLURM_USER_ROOT"], tag).strip()
    python = TC_DIR / "jupyter-venv" / "bin" / "python"
    script = f"#!/bin/bash\n{python} - <<'EOF'\n{WRITER.replace('time.sleep(300)', '')}\nEOF\n"
    job = (await call(pbs, "submit_job", script_content=script, job_name=tag[:15], working_directory=work,
                      time_limit="10", cluster="pbs"))["job_id"]
    try:
        await call(pbs, "wait_for_job", job_id=job, timeout=180, cluster="pbs")
        found = await call(pbs, "get_job_metrics", paths=[work], series="^(train/)?loss$", cluster="pbs")
        series = {s["name"]: s for s in found["series"]}
        assert set(series) == {"train/loss", "loss"}
        assert series["train/loss"]["values"] == pytest.approx([loss(s) for s in range(STEPS)], rel=1e-6)
        assert series["loss"]["last"] == loss(STEPS - 1)
    except BaseException:
        await pbs.call_tool("cancel_job", {"job_id": job, "cluster": "pbs"}, raise_on_error=False)
        raise
