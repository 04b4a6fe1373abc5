"""Jupyter kernels on the test cluster's compute nodes through a real MCP client: a server job started on
demand and reached through an SSH port forward, code in, text/errors/plots out, the .ipynb on the cluster,
cancellation that interrupts the kernel, and the lifetime rules (ends with hpcbridge, reaped after SIGKILL,
persistent servers reattached and ended by their idle timeout, a late start leaves nothing)."""

from __future__ import annotations

import asyncio
import base64
import io
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from fastmcp.exceptions import ToolError
from PIL import Image

from .conftest import (
    HTTP_TOKEN,
    as_cluster_user,
    call,
    every_gpu_taken,
    hpcbridge_executable,
    server_env,
    start_http_server,
    stop_and_read_log,
)

pytestmark = pytest.mark.cluster
RUN = uuid.uuid4().hex[:6]  # notebooks stay on the cluster between runs: each run writes its own
TOUR = f"tour-{RUN}"


def jupyter_jobs() -> dict[str, str]:
    """Live Jupyter server jobs (id -> name) of every hpcbridge."""
    out = subprocess.run(["squeue", "--noheader", "--format", "%i %j %T"], capture_output=True, text=True,
                         check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    return {r[0]: r[1] for r in rows if len(r) == 3 and "-jupyter-" in r[1] and r[2] != "COMPLETING"}


async def gone_within(seconds: float, job_id: str) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if job_id not in jupyter_jobs():
            return True
        await asyncio.sleep(0.5)
    return False


async def run_code(client: Client, notebook: str, code: str, tool: str = "execute_code") -> tuple[dict[str, Any], list[Any]]:
    result = await client.call_tool(tool, {"notebook": notebook, "code": code})
    return result.structured_content or {}, result.content


async def test_kernel_on_a_gpu_node_text_plots_errors_cancel_and_notebook(mcp: Client, tc_env: dict[str, str]) -> None:
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    started = await mcp.call_tool("start_kernel_session", {"notebook": TOUR, "partition": "gpu", "gpus_per_node": 1,
                                                           "time_limit": "0:30:00"}, progress_handler=on_progress)
    session = started.structured_content or {}
    assert any("submitted" in m for m in messages) and any("ready on" in m for m in messages), messages
    job_id = session["job_id"]
    assert job_id in jupyter_jobs() and not session["persistent"]
    try:
        gpus, _ = await run_code(mcp, TOUR, 'import os, socket\nprint(os.environ["CUDA_VISIBLE_DEVICES"])\n'
                                              'print(os.environ["SLURM_JOB_ID"], os.environ["SLURMD_NODENAME"])\n'
                                              "socket.gethostname()")
        cvd, job, node = gpus["text"].split()[:3]
        assert len(cvd.split(",")) == 1 and job == job_id and node.startswith("gpu"), gpus
        assert gpus["status"] == "ok" and gpus["cell_index"] == 0 and gpus["execution_count"] == 1

        plot, blocks = await run_code(mcp, TOUR, "import matplotlib.pyplot as plt\n"
                                                   "plt.figure(figsize=(30, 20), dpi=100); plt.plot([1, 3, 2]); plt.show()")
        images = [b for b in blocks if b.type == "image"]
        assert len(images) == 1 and images[0].mime_type == "image/png"
        png = base64.b64decode(images[0].data)
        assert png.startswith(b"\x89PNG") and max(Image.open(io.BytesIO(png)).size) == 1024
        assert plot["images"][0]["scaled_from"][0] > 2000  # inline figures are cropped to their content

        error, blocks = await run_code(mcp, TOUR, "def f(x):\n    return 1 / x\nf(0)")
        assert error["status"] == "error" and error["error_name"] == "ZeroDivisionError"
        assert "return 1 / x" in error["text"] and "ZeroDivisionError: division by zero" in blocks[0].text
        assert "\x1b[" not in error["text"]

        scratch, _ = await run_code(mcp, TOUR, "40 + 2", tool="execute_scratch_code")
        assert scratch["text"].strip() == "42" and scratch["cell_index"] is None

        await _cancel_a_long_loop(mcp)

        await call(mcp, "add_notebook_cell", notebook=TOUR, source="# Results\nfirst *try*", cell_type="markdown")
        await call(mcp, "add_notebook_cell", notebook=TOUR, source="y = 7\ny * 6", cell_type="code")
        rerun = await call(mcp, "rerun_notebook_cell", notebook=TOUR, cell_index=-1)
        assert rerun["text"].strip() == "42"
        await call(mcp, "edit_notebook_cell", notebook=TOUR, cell_index=-2, source="# Results\nsecond try")
        with pytest.raises(ToolError, match=r"invalid cell_index: 99; expected 0..6 \(the notebook has 7 cells\)"):
            await call(mcp, "delete_notebook_cell", notebook=TOUR, cell_index=99)
        cells = await call(mcp, "read_notebook", notebook=TOUR)
        assert cells["total"] == 7 and cells["cells"][-2]["source"] == "# Results\nsecond try"

        saved = nbformat.reads(as_cluster_user(tc_env, 'cat "$1"', session["path"]), as_version=4)
        nbformat.validate(saved)
        code = [c for c in saved.cells if c.cell_type == "code"]
        assert code[0].outputs and code[0].execution_count == 1
        assert any("image/png" in o.get("data", {}) for o in code[1].outputs)
        assert code[2].outputs[0].output_type == "error" and code[2].outputs[0].ename == "ZeroDivisionError"
        assert not any("40 + 2" in c.source for c in saved.cells)  # scratch code is not saved
        interrupted = [o for o in code[3].outputs if o.output_type == "error"]
        assert interrupted and interrupted[0].ename == "KeyboardInterrupt"  # the cancelled loop, as it ended
        assert code[-1].outputs[0]["data"]["text/plain"] == "42"

        listed = await call(mcp, "list_kernel_sessions")
        assert listed["job_id"] == job_id and [s["notebook"] for s in listed["sessions"]] == [TOUR]
    finally:
        await asyncio.to_thread(subprocess.run, ["scancel", job_id], check=True)
    assert await gone_within(20, job_id)
    with pytest.raises(ToolError, match=f"the Jupyter server ended \\(job {job_id} .*notebooks stay"):
        await call(mcp, "execute_code", notebook=TOUR, code="1 + 1")


async def _cancel_a_long_loop(mcp: Client) -> None:
    """A 30-second loop reports progress; cancelling the call interrupts the kernel, which stays usable."""
    progress: list[str] = []
    first = asyncio.Event()

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")
        if "last output" in (message or ""):
            first.set()

    loop = asyncio.create_task(mcp.call_tool(
        "execute_code", {"notebook": TOUR, "code": "import time\nfor i in range(30):\n    print(i, flush=True)\n"
                                                     "    time.sleep(1)"}, progress_handler=on_progress))
    await asyncio.wait_for(first.wait(), 20)
    started = time.monotonic()
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert any("running for" in m for m in progress), progress
    after, _ = await run_code(mcp, TOUR, "i")
    assert int(after["text"].strip()) < 25 and time.monotonic() - started < 20, after


def _isolated(tc_env: dict[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    return server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_STATE_DIR=str(tmp_path), **extra)


async def _start(client: Client, notebook: str, **extra: Any) -> dict[str, Any]:
    return await call(client, "start_kernel_session", notebook=notebook, partition="cpu", time_limit="0:20:00",
                      **extra)


async def test_by_default_the_server_ends_with_its_client(tc_env: dict[str, str], tmp_path: Path) -> None:
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], keep_alive=False,
                               env=server_env(tc_env, HPCBRIDGE_STATE_DIR=str(tmp_path)))
    async with Client(transport, timeout=120) as client:
        await call(client, "save_interactive_profile", profile_name="nb-cpu", partition="cpu", time_limit="0:15:00",
                   python_env=tc_env["SLURM_JUPYTER_VENV"], modules=[])
        session = await call(client, "start_kernel_session", notebook="gone", profile_name="nb-cpu")
        assert session["job_id"] in jupyter_jobs()
        where, _ = await run_code(client, "gone", "import sys, os; print(sys.prefix, os.environ['SLURM_JOB_PARTITION'])")
        assert where["text"].split() == [tc_env["SLURM_JUPYTER_VENV"], "cpu"]
    assert await gone_within(10, session["job_id"])


def _secrets_of(tc_env: dict[str, str], job_id: str) -> tuple[str, str, str]:
    """The server's token and what the cluster shows of the job: its script as Slurm keeps it, and its log."""
    runtime = as_cluster_user(tc_env, 'scontrol show job "$1" | grep -o "StdOut=[^ ]*"', job_id).strip()
    runtime = runtime.removeprefix("StdOut=").rsplit("/", 1)[0]
    modes = as_cluster_user(tc_env, 'stat -c "%a %n" "$1" "$1"/token "$1"/jpserver-*.json', runtime)
    # owner only (jupyter_core adds the sticky bit to its runtime directory: 1700)
    assert [line.split()[0][-3:] for line in modes.splitlines()] == ["700", "600", "600"], modes
    token = as_cluster_user(tc_env, 'cat "$1/token"', runtime).strip()
    script = as_cluster_user(tc_env, 'scontrol write batch_script "$1" -', job_id)
    return token, script, as_cluster_user(tc_env, 'cat "$1/server.log"', runtime)


async def test_after_sigkill_the_next_start_reaps_the_server(tc_env: dict[str, str], tmp_path: Path) -> None:
    proc, url = start_http_server(_isolated(tc_env, tmp_path))
    try:
        async with Client(StreamableHttpTransport(url, auth=HTTP_TOKEN), timeout=120) as client:
            session = await _start(client, "killed")
            await run_code(client, "killed", "1 + 1")
        token, script, server_log = _secrets_of(tc_env, session["job_id"])
    finally:
        proc.send_signal(signal.SIGKILL)  # also when the above failed: no server outlives the test
    proc.wait(10)
    log = stop_and_read_log(proc)
    assert len(token) >= 40 and "JUPYTER_TOKEN_FILE" in script
    assert "forward" in log and "jupyter" in log  # the log and the audit log were written...
    assert all(token not in text for text in (log, script, server_log))  # ...and hold no token
    assert "TCP_NODELAY not set" not in server_log and "Jupyter Server" in server_log
    await asyncio.sleep(2)
    assert session["job_id"] in jupyter_jobs()  # nothing could clean up
    again, _ = start_http_server(_isolated(tc_env, tmp_path))
    try:
        assert await gone_within(15, session["job_id"])
    finally:
        again.terminate()
        again.wait(20)


async def test_a_persistent_server_is_reattached_then_ends_when_idle(tc_env: dict[str, str], tmp_path: Path) -> None:
    env = server_env(tc_env, HPCBRIDGE_STATE_DIR=str(tmp_path))
    first = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False)
    async with Client(first, timeout=120) as client:
        session = await _start(client, f"kept-{RUN}", persist=True, idle_timeout_minutes=0.5)
        await run_code(client, f"kept-{RUN}", "x = 41 + 1")
    job_id = session["job_id"]
    await asyncio.sleep(3)
    assert job_id in jupyter_jobs()  # outlived its hpcbridge
    second = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False)
    async with Client(second, timeout=120) as client:
        listed = await call(client, "list_kernel_sessions")
        assert listed["job_id"] == job_id and listed["persistent"] and listed["sessions"][0]["notebook"] == f"kept-{RUN}"
        x, _ = await run_code(client, f"kept-{RUN}", "x")
        assert x["text"].strip() == "42"  # the kernel's state survived the restart
        again = await _start(client, f"kept-{RUN}")
        assert again["job_id"] == job_id and "reattached" in again["note"]
    # no execution for 30 s: the kernel is culled, then the server shuts down (checked every 60 s)
    assert await gone_within(180, job_id)


async def test_a_start_that_exceeds_its_timeout_leaves_nothing(mcp: Client) -> None:
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with every_gpu_taken(mcp):
        with pytest.raises(ToolError, match=r"did not start within 10s \(job \d+: PENDING, Resources.*cancelled"):
            await mcp.call_tool("start_kernel_session", {"notebook": "late", "partition": "gpu", "gpus_per_node": 1,
                                                         "start_timeout": 10}, progress_handler=on_progress)
        assert any("pending: Resources" in m for m in messages), messages
        submitted = [m.split()[3] for m in messages if m.startswith("Jupyter server job")]
        assert submitted and submitted[0] not in jupyter_jobs()


async def test_a_server_that_fails_to_start_says_why_and_leaves_nothing(mcp: Client) -> None:
    with pytest.raises(ToolError, match=r"invalid modules: 'cuda; rm -rf ~' is not a module name"):
        await call(mcp, "start_kernel_session", notebook="bad", partition="cpu", modules=["cuda; rm -rf ~"])
    # the test cluster has no environment modules: `module load` fails and the job ends at once
    with pytest.raises(ToolError, match=r"job \d+ ended while starting: .*module: command not found") as failed:
        await call(mcp, "start_kernel_session", notebook="bad", partition="cpu", modules=["cuda/12.6"])
    job_id = str(failed.value).split("job ", 1)[1].split()[0]
    assert job_id not in jupyter_jobs()


async def test_a_container_server_runs_as_a_pyxis_step(tc_env: dict[str, str], tmp_path: Path) -> None:
    """Pyxis is a stand-in here (testcluster/pyxis_standin.c): it proves the options reach the step that runs
    the server and its kernels, not that a container runs."""
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], keep_alive=False,
                               env=server_env(tc_env, HPCBRIDGE_STATE_DIR=str(tmp_path)))
    async with Client(transport, timeout=120) as client:
        await _start(client, "boxed", container_image="default")
        where, _ = await run_code(client, "boxed", "import os; print(os.environ['PYXIS_CONTAINER_IMAGE'], "
                                                   "os.environ['SLURM_STEP_ID'])")
        image, step = where["text"].split()
        assert image == tc_env["SLURM_DEFAULT_IMAGE"] and step == "0"
