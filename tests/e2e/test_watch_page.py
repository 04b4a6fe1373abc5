"""Issue 27's proof on one page: a running 2-GPU Slurm training job's page in a real Chromium shows, together,
the GPU chart (the stand-in nvidia-smi's values, sampled while the page is open), the progress its tqdm bar
printed, the trouble flag for the traceback it wrote to stderr while it kept running, and the metric chart of
the TensorBoard event file it wrote with tensorboardX. The screenshot is the README's "Watching a run" image.

The job writes its traceback only after the test creates a marker file, so the page is first seen with
progress and no trouble, then (after the marker) with the flag: no timing, no race."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from fastmcp import Client

from ..conftest import TC_DIR
from .conftest import as_cluster_user, call
from .test_dashboard import SHOTS, Dashboard, agent, browser, dashboard, page, playwright_api  # noqa: F401 - fixtures

pytestmark = pytest.mark.cluster

TRAIN = r"""
import os, sys, time
from tensorboardX import SummaryWriter
w = SummaryWriter(logdir="tb")
for step in range(30):
    w.add_scalar("train/loss", 2.5 * 0.9 ** step, step)
w.close()
for i in range(0, 301, 50):  # a tqdm bar as tqdm draws it: one line redrawn with \r
    sys.stdout.write(f"\rtraining:  {i * 100 // 1000:2d}%|####      | {i}/1000 [00:{i // 50:02d}<00:40, 25.00it/s]")
sys.stdout.flush()
open("started", "w").close()
while not os.path.exists("go"):
    time.sleep(0.5)
sys.stderr.write('Traceback (most recent call last):\n  File "train.py", line 88, in <module>\n'
                 '    loss.backward()\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n')
sys.stderr.flush()
open("failed", "w").close()
time.sleep(600)
"""


def _indices(text: str) -> list[str]:
    out: list[str] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        out += [str(i) for i in range(int(first), int(last or first) + 1)]
    return out


async def _wait_file(tc_env: dict[str, str], path: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not as_cluster_user(tc_env, 'test -e "$1" && echo yes || true', path).strip():
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(1)


async def test_the_job_page_shows_gpus_progress_trouble_and_metrics(page: Any, agent: Client,  # noqa: F811
                                                                       dashboard: Dashboard,  # noqa: F811
                                                                       tc_env: dict[str, str]) -> None:
    tag = f"e2e-watchpage-{os.urandom(3).hex()}"
    work = as_cluster_user(tc_env, 'mkdir -p "$HOME/$1" && cd "$HOME/$1" && pwd -P', tag).strip()
    python = TC_DIR / "jupyter-venv" / "bin" / "python"
    script = f"#!/bin/bash\n{python} -u - <<'EOF'\n{TRAIN}\nEOF\n"
    job = (await call(agent, "submit_job", script_content=script, job_name=tag, working_directory=work,
                      partition="gpu", gpus=2, time_limit="15", error_file=f"{work}/err.log"))["job_id"]
    standin = TC_DIR / "nvidia-smi"
    written: list[str] = []
    try:
        await _wait_file(tc_env, f"{work}/started")
        details = (await call(agent, "get_job_details", job_id=job))
        node = details["job"]["node_list"]
        for n, index in enumerate(_indices(details["gpu_indices"])):  # "0-1" or "1,3": the job's two GPUs
            values = f"utilization.gpu={87 + n * 6}\nmemory.used={40536 + n * 9000}\npower.draw=312.45\n"
            written.append(as_cluster_user(tc_env, 'mkdir -p "$1" && printf "$3" > "$1/$2" && echo "$1/$2"',
                                           f"{standin}/{node}", index, values + "temperature.gpu=64\n").strip())
        await page.goto(f"{dashboard.base}/job/slurm/{job}")
        progress = page.locator("dd.output-progress")
        await playwright_api.expect(progress).to_contain_text("300/1000")
        await playwright_api.expect(page.locator(".badge.trouble")).to_have_count(0)

        as_cluster_user(tc_env, 'touch "$1/go"', work)
        await _wait_file(tc_env, f"{work}/failed")
        await page.reload()
        await playwright_api.expect(page.locator(".badge.trouble")).to_contain_text("CUDA out of memory")
        await playwright_api.expect(progress).to_contain_text("300/1000")  # it still runs: both are shown
        rows = page.locator("#job-stats-now table.gpu-stats tbody tr")
        await playwright_api.expect(rows).to_have_count(2, timeout=30_000)  # its 2 GPUs, not the node's 4
        await playwright_api.expect(page.locator("#job-stats-util canvas").first).to_be_visible()
        metrics = page.locator("#job-metrics")
        await playwright_api.expect(metrics.locator("table.metrics")).to_contain_text("train/loss", timeout=30_000)
        await playwright_api.expect(metrics.locator(".metric-chart canvas").first).to_be_visible()
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / "job-watch.png"), full_page=True)
        await playwright_api.expect(rows.first).to_contain_text("87")  # the stand-in's values for this job
    finally:
        await call(agent, "cancel_job", job_id=job)
        for path in written:
            as_cluster_user(tc_env, 'rm -f -- "$1"', path)
