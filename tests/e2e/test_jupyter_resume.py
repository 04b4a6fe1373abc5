"""Picking up where you left off (issue 27), through a real MCP client on the Slurm test cluster.

With jupyter_warm_start the server job is in the queue before any tool is called, and the first cell runs on
it without a new submission. After the server is killed (scancel), a new server and run_all_cells give the
new kernel the notebook's state back (the 3rd cell uses what the 2nd defined); a notebook whose 2nd cell
raises stops there and names it. Two server jobs in all: the warm one (killed on purpose) and its successor,
shared by both notebooks. A second, short test: a warm server never outlives its hpcbridge."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from .conftest import as_cluster_user, call, hpcbridge_executable, server_env
from .test_jupyter import gone_within, jupyter_jobs

pytestmark = pytest.mark.cluster
RUN = uuid.uuid4().hex[:6]


def _warm_client(tc_env: dict[str, str], tmp_path: Path) -> Client:
    env = server_env(tc_env, HPCBRIDGE_STATE_DIR=str(tmp_path), SLURM_JUPYTER_WARM_START="true")
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False)
    return Client(transport, timeout=120)


async def _new_server_job(before: dict[str, str], seconds: float = 60) -> str:
    """The Jupyter server job that appeared since `before` (this hpcbridge's `hpcb-<instance>-jupyter-<p>`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        new = [i for i, name in jupyter_jobs().items() if i not in before and not name.startswith("hpcb-keep-")]
        if new:
            assert len(new) == 1, new
            return new[0]
        await asyncio.sleep(0.5)
    raise AssertionError(f"no Jupyter server job was submitted within {seconds:g}s")


def _kernels_started(tc_env: dict[str, str], job_name: str) -> list[str]:
    """The kernels the server job has started, from its log (jupyter_server: "Kernel started: <id>")."""
    log = as_cluster_user(tc_env, 'cat "$HOME/.hpcbridge/jupyter/$1/server.log" 2>/dev/null || true', job_name)
    return [line.rsplit("Kernel started: ", 1)[1].split()[0] for line in log.splitlines() if "Kernel started: " in line]


async def _spare_kernel(tc_env: dict[str, str], job_name: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = await asyncio.to_thread(_kernels_started, tc_env, job_name)
        if started:
            assert len(started) == 1, started
            return started[0]
        await asyncio.sleep(0.5)
    raise AssertionError(f"the warm server {job_name} started no kernel within {seconds:g}s")


async def _run(client: Client, notebook: str, code: str) -> dict[str, Any]:
    return await call(client, "execute_code", notebook=notebook, code=code)


async def test_warm_start_then_restore_after_the_server_is_killed(tc_env: dict[str, str], tmp_path: Path) -> None:
    kept, broken = f"resume-{RUN}", f"broken-{RUN}"
    before = jupyter_jobs()
    jobs: list[str] = []
    try:
        async with _warm_client(tc_env, tmp_path) as client:
            warm = await _new_server_job(before)  # no tool has been called: only the MCP handshake
            jobs.append(warm)
            messages: list[str] = []

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                messages.append(message or "")

            warm_name = jupyter_jobs()[warm]
            spare = await _spare_kernel(tc_env, warm_name)  # the warm start also starts one kernel
            started = await client.call_tool("start_kernel_session", {"notebook": kept},
                                             progress_handler=on_progress)
            session = started.structured_content or {}
            assert session["job_id"] == warm, (session, warm)
            assert not any("submitted" in m for m in messages), messages  # no second sbatch
            assert set(jupyter_jobs()) - set(before) == {warm}
            first = await _run(client, kept, "import os\nprint('start', os.environ['SLURM_JOB_ID'])")
            assert first["status"] == "ok" and first["text"].split() == ["start", warm]
            assert session["kernel_id"] == spare  # the session adopted it: no kernel was started for the call
            assert await asyncio.to_thread(_kernels_started, tc_env, warm_name) == [spare]
            await _run(client, kept, "x = 6 * 7")
            third = await _run(client, kept, "print(x + 1)")
            assert third["text"].strip() == "43"

            await asyncio.to_thread(subprocess.run, ["scancel", warm], check=True)  # the server is lost, and the kernel with it
            assert await gone_within(20, warm)

            again = await call(client, "start_kernel_session", notebook=kept, partition="cpu", time_limit="0:15:00")
            assert again["job_id"] != warm and "run_all_cells" in again["note"]
            jobs.append(again["job_id"])
            with pytest.raises(Exception, match="NameError"):  # the new kernel is empty...
                lost = await call(client, "execute_scratch_code", notebook=kept, code="x")
                raise AssertionError(lost["error_name"] or lost["text"])
            restored = await call(client, "run_all_cells", notebook=kept)
            assert restored["completed"] and restored["code_cells"] == 3, restored
            assert [c["cell_index"] for c in restored["ran"]] == [0, 1, 2]
            assert restored["ran"][2]["output_tail"] == "43" and restored["ran"][0]["output_tail"].split() == [
                "start", again["job_id"]]  # ...until the cells ran again, in the new job
            x = await call(client, "execute_scratch_code", notebook=kept, code="x")
            assert x["text"].strip() == "42"
            saved = nbformat.reads(as_cluster_user(tc_env, 'cat "$1"', again["path"]), as_version=4)
            assert [c.execution_count for c in saved.cells] == [1, 2, 3]  # written back by the normal path
            assert saved.cells[2].outputs[0]["text"].strip() == "43"

            await call(client, "start_kernel_session", notebook=broken)  # same server
            for source in ("y = 1", "raise ValueError('cell two is broken')", "print('never ran')"):
                await call(client, "add_notebook_cell", notebook=broken, source=source, cell_type="code")
            stopped = await client.call_tool("run_all_cells", {"notebook": broken})
            result = stopped.structured_content or {}
            assert not result["completed"] and result["failed_cell"] == 1, result
            assert result["failed_first_line"] == "raise ValueError('cell two is broken')"
            assert (result["error_name"], result["error_value"]) == ("ValueError", "cell two is broken")
            assert [c["status"] for c in result["ran"]] == ["ok", "error"]  # the 3rd cell did not run
            text = stopped.content[0].text
            assert 'stopped at cell 1 ("raise ValueError(\'cell two is broken\')"), code cell 2 of 3' in text, text
            assert "ValueError: cell two is broken" in text
            never = await call(client, "execute_scratch_code", notebook=broken, code="'never' in dir()")
            assert never["text"].strip() == "False"
            saved = nbformat.reads(as_cluster_user(tc_env, 'cat "$1"', again["path"].replace(kept, broken)),
                                   as_version=4)
            assert saved.cells[1].outputs[0].output_type == "error" and not saved.cells[2].outputs
    finally:
        for job in jobs:
            await asyncio.to_thread(subprocess.run, ["scancel", job], check=False)
    assert await gone_within(15, jobs[-1])  # the successor ended with its hpcbridge


async def test_a_warm_server_ends_with_its_hpcbridge(tc_env: dict[str, str], tmp_path: Path) -> None:
    """Whether the client leaves while the warm start is still under way or after it is ready, no job stays."""
    before = jupyter_jobs()
    job = ""
    try:
        async with _warm_client(tc_env, tmp_path):
            job = await _new_server_job(before)
        assert await gone_within(15, job)
    finally:
        if job:
            await asyncio.to_thread(subprocess.run, ["scancel", job], check=False)
