# ruff: noqa: F811
"""Progress and trouble of a running job (issue 27) through a real MCP client on the real Slurm test cluster.

A job draws a tqdm-style bar on stderr (redrawn with `\\r`, as tqdm does), then waits for a marker file the
test creates; only then does it print a Python traceback to stderr, touch a second marker, and keep running.
The test polls list_jobs until the bar shows, creates the marker, waits for the second marker (the traceback
is on disk), and then ONE list_jobs call must show the trouble: no race, no sleep-based timing.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client

from ..conftest import openpbs_env
from .conftest import as_cluster_user, call, slurm_and_openpbs_toml, stdio_server

# The board in Chromium uses the dashboard's fixtures (an HTTP server over the Slurm test cluster, a logged-in
# tab); pytest finds them by name in this module, so the test's parameters shadow the imports (F811).
from .test_dashboard import SHOTS, agent, browser, dashboard, page, playwright_api  # noqa: F401
from .test_pbs_openpbs import pbs_shell

pytestmark = pytest.mark.cluster

SCRIPT = r"""#!/bin/bash
d=$1
i=0
while [ $i -le 24 ]; do
  # tqdm's default layout, redrawn in place with \r (tqdm/std.py format_meter)
  printf '\rtrain:  %d%%|##        | %d/100 [00:0%d<00:20,  3.71it/s, loss=0.5]' $i $i $((i/10)) >&2
  i=$((i+8))
done
until [ -e "$d/go" ]; do sleep 0.2; done
printf '\nTraceback (most recent call last):\n  File "train.py", line 42, in <module>\n' >&2
printf '    loss.backward()\nRuntimeError: boom in rank 0\n' >&2
touch "$d/written"
sleep 600
"""


def _row(listing: dict[str, Any], job_id: str) -> dict[str, Any] | None:
    return next((r for r in listing["items"] if r["job_id"] == job_id), None)


async def _running_row(mcp: Client, job_id: str, name: str, want: str) -> dict[str, Any]:
    """Poll list_jobs (bounded) until the job's row has a non-empty `want` field."""
    for _ in range(120):
        listing = await call(mcp, "list_jobs", state="RUNNING", limit=25)
        row = _row(listing, job_id)
        if row and row[want]:
            return row
        await asyncio.sleep(1)
    raise AssertionError(f"job {job_id} ({name}) never showed {want} in list_jobs")


async def test_list_jobs_shows_progress_then_the_traceback_and_diagnose_says_so(
    mcp: Client, tc_env: dict[str, str]
) -> None:
    tag = os.urandom(3).hex()
    name = f"hpb_progress_{tag}"
    work = f"{tc_env['SLURM_DIR_SCRATCH']}/progress-{tag}"
    as_cluster_user(tc_env, 'mkdir -p "$1" && printf "%s" "$2" > "$1/job.sh"', work, SCRIPT)
    submitted = await call(mcp, "submit_job", script_content=f"bash {work}/job.sh {work}\n", job_name=name,
                           partition="cpu", time_limit="10", working_directory=work,
                           error_file=f"{work}/err-%j-%x.txt", output_file=f"{work}/out-%j.txt")
    job_id = submitted["job_id"]
    try:
        row = await _running_row(mcp, job_id, name, "progress")
        assert row["progress"] == "24/100 24% 3.71it/s ETA 00:20", row  # the last \r redraw, not the first
        assert row["trouble"] == "", row
        before = await call(mcp, "diagnose_job", job_id=job_id)
        assert before["cause"] == "running" and "24/100" in before["summary"], before

        # the job now waits for the marker and writes nothing: age its files as if it had hung for 20 minutes
        # (touch -d, not a 10-minute wait); log_stall_minutes is 10 by default
        as_cluster_user(tc_env, 'touch -d "@$(( $(date +%s) - 1200 ))" "$1"/err-*.txt "$1"/out-*.txt', work)
        row = _row(await call(mcp, "list_jobs", state="RUNNING", limit=25), job_id)
        assert row is not None and row["trouble"] == "no output for 20 min", row
        stuck = await call(mcp, "diagnose_job", job_id=job_id)
        assert stuck["cause"] == "log_stalled" and "no output for 20 min" in stuck["summary"], stuck

        as_cluster_user(tc_env, 'touch "$1/go"; i=0; until [ -e "$1/written" ] || [ $i -ge 600 ]; do '
                        'sleep 0.1; i=$((i+1)); done; test -e "$1/written"', work)
        page = await call(mcp, "list_jobs", state="RUNNING", limit=25)  # one poll after the line appeared
        row = _row(page, job_id)
        assert row is not None and row["state"] == "RUNNING", page
        # the traceback's header is line 2 of the err file (the bar is line 1, ended by the printf's \n)
        assert row["trouble"] == "Python traceback: RuntimeError: boom in rank 0 (stderr line 2)", row
        assert row["progress"].startswith("24/100"), row
        diag = await call(mcp, "diagnose_job", job_id=job_id)
        assert diag["cause"] == "python_exception" and "still RUNNING" in diag["summary"], diag
    finally:
        await call(mcp, "cancel_job", job_id=job_id)

BOARD_SCRIPT = r"""printf '\r 40%%|####      | 40/100 [00:10<00:15,  4.00it/s]' >&2
printf '\nTraceback (most recent call last):\n  File "train.py", line 7, in <module>\nValueError: bad batch\n' >&2
sleep 600
"""


async def test_the_board_shows_the_progress_and_the_trouble_flag(page: Any, agent: Client) -> None:
    tag = os.urandom(3).hex()
    job = await call(agent, "submit_job", script_content=BOARD_SCRIPT, job_name=f"hpb_board_trouble_{tag}",
                     time_limit="10")
    job_id = job["job_id"]
    try:
        # one file for both streams (no -e): named after stdout
        await _running_row(agent, job_id, tag, "trouble")  # the traceback is on disk and readable
        await page.reload()  # a page load reads the running jobs' output afresh
        row = page.locator(f'#board section[data-cluster="slurm"] tr[data-job="{job_id}"]')
        await playwright_api.expect(row.locator(".trouble")).to_have_text(
            "⚠ Python traceback: ValueError: bad batch (stdout line 2)", timeout=30_000)
        await playwright_api.expect(row.locator(".output-text")).to_have_text("40/100 40% 4.00it/s ETA 00:15")
        await playwright_api.expect(row.locator("meter.output-meter")).to_have_attribute("value", "0.400")
        await page.screenshot(path=str(SHOTS / "board-trouble.png"))
    finally:
        await call(agent, "cancel_job", job_id=job_id)


PBS_SCRIPT = r"""#!/bin/bash
#PBS -k oed
d=$HOME/hpb-progress-{tag}
echo "step 300/1000 | loss 1.9 | 2.0 it/s"
until [ -e "$d/go" ]; do sleep 0.2; done
printf 'Traceback (most recent call last):\n  File "t.py", line 1, in <module>\nOSError: disk gone\n' >&2
touch "$d/written"
sleep 600
"""


@pytest.fixture(scope="module")
async def pbs_mcp(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    """A server whose default cluster `pbs` is the test cluster's OpenPBS 23.06."""
    config = slurm_and_openpbs_toml(tc_env, openpbs_env(), default="pbs")
    async with stdio_server(tmp_path_factory.mktemp("progress-pbs"), config) as client:
        yield client


async def test_openpbs_direct_write_job_shows_progress_then_trouble(pbs_mcp: Client) -> None:
    """OpenPBS spools output on the execution host unless the job asks for direct write (`-k oed`): such a
    job's files are read while it runs; the scheduler keeps stderr apart (no -j oe)."""
    op = openpbs_env()
    tag = os.urandom(3).hex()
    work = f"/home/{op['OPENPBS_SSH_USER']}/hpb-progress-{tag}"
    assert pbs_shell(op, "mkdir", "-p", work).returncode == 0
    job = await call(pbs_mcp, "submit_job", script_content=PBS_SCRIPT.replace("{tag}", tag),
                     job_name=f"hpbprog{tag}", time_limit="10", cluster="pbs",
                     output_file=f"{work}/out.txt", error_file=f"{work}/err.txt")
    job_id = job["job_id"]
    try:
        for _ in range(120):
            row = _row(await call(pbs_mcp, "list_jobs", state="RUNNING", cluster="pbs"), job_id)
            if row and row["progress"]:
                break
            await asyncio.sleep(1)
        else:
            raise AssertionError(f"OpenPBS job {job_id} never showed progress")
        assert row["progress"] == "step 300/1000 30% 2.0 it/s ETA 05:50" and row["trouble"] == "", row
        wait = 'touch "$1/go"; i=0; until [ -e "$1/written" ] || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done'
        went = pbs_shell(op, shlex.join(["sh", "-c", wait + '; test -e "$1/written"', "wait", work]))  # one string: ssh joins argv
        assert went.returncode == 0, went.stderr
        row = _row(await call(pbs_mcp, "list_jobs", state="RUNNING", cluster="pbs"), job_id)
        assert row is not None and row["trouble"] == "Python traceback: OSError: disk gone (stderr line 1)", row
    finally:
        await call(pbs_mcp, "cancel_job", job_id=job_id, cluster="pbs")
