"""Interactive work through a real MCP client: the Slurm plan's scenarios 8-11, pending allocations, and
no orphaned allocation after SIGTERM, a client disconnect, or SIGKILL followed by a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from fastmcp.exceptions import ToolError

from .conftest import HTTP_TOKEN, call, every_gpu_taken, hpcbridge_executable, server_env, start_http_server

pytestmark = pytest.mark.cluster


def allocations(prefix: str = "hpcb-") -> list[str]:
    out = subprocess.run(["squeue", "--noheader", "--format", "%i %j"], capture_output=True, text=True,
                         check=True).stdout
    return [line.split()[0] for line in out.splitlines() if len(line.split()) == 2 and line.split()[1].startswith(prefix)]


async def none_left_within(seconds: float, prefix: str = "hpcb-") -> list[str]:
    """The allocations still in squeue once none is left or `seconds` passed (a cancelled one is listed while
    it completes: CG, the epilog)."""
    deadline = time.monotonic() + seconds
    while (left := allocations(prefix)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    return left


async def gone_within(seconds: float, job_id: str) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if job_id not in allocations():
            return True
        await asyncio.sleep(0.5)
    return False


async def test_scenario_8_one_shot_command_on_a_gpu_node(mcp: Client) -> None:
    out = await call(mcp, "run_interactive_command", command='echo "CVD=$CUDA_VISIBLE_DEVICES"; env | grep ^PYXIS_CONTAINER_IMAGE',
                     partition="interactive", gpus_per_node=4, container_image="default", time_limit="0:10:00")
    lines = out["stdout"].splitlines()
    assert out["exit_status"] == 0 and len(lines[0].removeprefix("CVD=").split(",")) == 4
    assert lines[1].endswith("pytorch-24.01.sqsh")
    assert await none_left_within(60) == []  # allocated, ran, released
    failed = await call(mcp, "run_interactive_command", command="exit 7", partition="cpu")
    assert failed["exit_status"] == 7
    with pytest.raises(ToolError, match="did not finish within 2s; its allocation was cancelled"):
        await call(mcp, "run_interactive_command", command="sleep 60", partition="cpu", timeout=2)
    assert await none_left_within(60) == []


async def test_scenario_9_persistent_session_from_a_profile(mcp: Client) -> None:
    profiles = {p["name"] for p in (await call(mcp, "list_interactive_profiles"))["profiles"]}
    assert {"dev-8gpu", "dev-1gpu", "cpu-only"} <= profiles
    session = await call(mcp, "start_session_from_profile", profile_name="dev-8gpu", session_name="my-dev-session")
    assert session["status"] == "active" and session["gpus_per_node"] == 4 and session["job_id"]
    sid = session["session_id"]
    try:
        installed = await call(mcp, "exec_in_session", session_id=sid, command="python3 -c 'import json; print(\"ok\", json.__name__)'")
        assert installed["stdout"] == "ok json\n" and installed["job_id"] == session["job_id"]
        gpus = await call(mcp, "exec_in_session", session_id=sid, command="echo $CUDA_VISIBLE_DEVICES")
        assert len(gpus["stdout"].strip().split(",")) == 4
        info = await call(mcp, "get_interactive_session_info", session_id="my-dev-session")
        assert info["recent_commands"][0]["command"] == "echo $CUDA_VISIBLE_DEVICES"
        assert info["container_image"].endswith("pytorch-24.01.sqsh") and info["time_left"]
    finally:
        ended = await call(mcp, "end_interactive_session", session_id=sid)
    assert ended["status"] == "ended" and await gone_within(10, session["job_id"])


async def test_scenario_10_debug_interactively(mcp: Client, tc_env: dict[str, str]) -> None:
    root = tc_env["SLURM_USER_ROOT"]
    await call(mcp, "write_file", path="myproject/train.py", directory_type="projects",
               content="import sys\nprint('epoch 1')\nraise SystemExit('loss is NaN' if '--fixed' not in sys.argv else 0)\n")
    session = await call(mcp, "start_interactive_session", partition="interactive", gpus_per_node=2,
                         container_image="default", container_mounts=f"{root}/data:/data,{root}/Projects:/Projects",
                         time_limit="2:00:00")
    sid = session["session_id"]
    try:
        listing = await call(mcp, "exec_in_session", session_id=sid, command="ls", working_directory=f"{root}/Projects/myproject")
        assert listing["stdout"].split() == ["train.py"]
        broken = await call(mcp, "exec_in_session", session_id=sid, command="python3 train.py 2>&1 | head -100",
                            working_directory=f"{root}/Projects/myproject")
        assert "loss is NaN" in broken["stdout"]
        fixed = await call(mcp, "exec_in_session", session_id=sid, command="python3 train.py --fixed",
                           working_directory=f"{root}/Projects/myproject")
        assert fixed["exit_status"] == 0 and fixed["stdout"] == "epoch 1\n"
        with pytest.raises(ToolError, match="did not finish within 2s"):
            await call(mcp, "exec_in_session", session_id=sid, command="sleep 30", timeout=2)
        still = await call(mcp, "exec_in_session", session_id=sid, command="echo alive")
        assert still["stdout"] == "alive\n"  # a timed-out command does not end the session
    finally:
        await call(mcp, "end_interactive_session", session_id=sid)


async def test_scenario_11_saved_profile(mcp: Client) -> None:
    saved = await call(mcp, "save_interactive_profile", profile_name="ml-research", partition="interactive",
                       account="research", nodes=1, gpus_per_node=4, time_limit="4:00:00",
                       container_image="/lustre/images/pytorch-24.01.sqsh", container_mounts="/lustre:/lustre")
    assert saved["name"] == "ml-research" and not saved["built_in"]
    got = await call(mcp, "get_interactive_profile", profile_name="ml-research")
    assert got["settings"]["gpus_per_node"] == 4
    session = await call(mcp, "start_session_from_profile", profile_name="ml-research", time_limit="0:30:00")
    try:
        assert session["status"] == "active" and session["time_limit"] == "0:30:00"
    finally:
        await call(mcp, "end_interactive_session", session_id=session["session_id"])
    await call(mcp, "delete_interactive_profile", profile_name="ml-research")
    with pytest.raises(ToolError, match="built-in profiles cannot be deleted"):
        await call(mcp, "delete_interactive_profile", profile_name="dev-1gpu")


async def test_pending_allocation_reports_progress_then_cancels_or_keeps_waiting(mcp: Client) -> None:
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with every_gpu_taken(mcp):
        with pytest.raises(ToolError, match="still pending after 6s .*Resources.*cancelled"):
            await mcp.call_tool("start_interactive_session", {"partition": "gpu", "gpus_per_node": 4,
                                                              "time_limit": "0:10:00", "wait_timeout": 6},
                                progress_handler=on_progress)
        assert any("pending: Resources" in m for m in messages), messages
        kept = await call(mcp, "start_interactive_session", partition="gpu", gpus_per_node=4, time_limit="0:10:00",
                          wait_timeout=4, on_timeout="keep_waiting", session_name="patient")
        assert kept["status"] == "pending" and kept["pending_reason"] == "Resources"
    for _ in range(30):
        info = await call(mcp, "get_interactive_session_info", session_id="patient")
        if info["status"] == "active":
            break
        await asyncio.sleep(1)
    assert info["status"] == "active"
    await call(mcp, "end_interactive_session", session_id="patient")


async def _http_session(url: str, name: str) -> dict[str, object]:
    async with Client(StreamableHttpTransport(url, auth=HTTP_TOKEN), timeout=120) as client:
        return await call(client, "start_interactive_session", session_name=name, partition="cpu",
                          time_limit="0:10:00")


def _isolated_env(tc_env: dict[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    return server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_STATE_DIR=str(tmp_path), **extra)


async def test_no_allocation_survives_sigterm(tc_env: dict[str, str], tmp_path: Path) -> None:
    proc, url = start_http_server(_isolated_env(tc_env, tmp_path))
    session = await _http_session(url, "term")
    assert session["job_id"] in allocations()
    proc.send_signal(signal.SIGTERM)
    assert await gone_within(10, str(session["job_id"]))
    proc.wait(20)


async def test_no_allocation_survives_the_client_disconnecting(tc_env: dict[str, str], tmp_path: Path) -> None:
    env = server_env(tc_env, HPCBRIDGE_STATE_DIR=str(tmp_path))
    # keep_alive=False: leaving the context closes the server's stdin, as a client that exits does
    # (fastmcp's client otherwise keeps stdio servers running between connections)
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False)
    async with Client(transport, timeout=120) as client:
        session = await call(client, "start_interactive_session", partition="cpu", time_limit="0:10:00")
        assert session["job_id"] in allocations()
    assert await gone_within(10, session["job_id"])


async def test_after_sigkill_the_next_start_reaps(tc_env: dict[str, str], tmp_path: Path) -> None:
    proc, url = start_http_server(_isolated_env(tc_env, tmp_path))
    session = await _http_session(url, "killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    await asyncio.sleep(2)
    assert session["job_id"] in allocations()  # nothing could clean up
    again, _ = start_http_server(_isolated_env(tc_env, tmp_path))
    try:
        assert await gone_within(10, str(session["job_id"]))
    finally:
        again.terminate()
        again.wait(20)


async def test_idle_sessions_end_and_limits_hold(tc_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[clusters.default]\ninteractive_session_timeout = 3\nmax_sessions = 1\n"
                      "max_session_time = \"1:00:00\"\n")
    env = server_env(tc_env, HPCBRIDGE_STATE_DIR=str(tmp_path), HPCBRIDGE_CONFIG=str(config))
    async with Client(StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env), timeout=120) as client:
        with pytest.raises(ToolError, match="exceeds the session limit of 1:00:00"):
            await call(client, "start_interactive_session", partition="cpu", time_limit="2:00:00")
        session = await call(client, "start_interactive_session", partition="cpu", time_limit="0:10:00")
        with pytest.raises(ToolError, match="max_sessions = 1"):
            await call(client, "start_interactive_session", partition="cpu", time_limit="0:10:00")
        assert await gone_within(12, session["job_id"])
        info = await call(client, "get_interactive_session_info", session_id=session["session_id"])
        assert info["status"] == "ended" and "idle" in info["note"]
        listed = await call(client, "list_interactive_sessions")
        assert [s["status"] for s in listed["sessions"]] == ["ended"]


async def test_a_session_whose_allocation_ended_says_so(mcp: Client) -> None:
    session = await call(mcp, "start_interactive_session", partition="cpu", time_limit="0:10:00",
                         session_name=f"short-{uuid.uuid4().hex[:4]}")
    await call(mcp, "cancel_job", job_id=session["job_id"])  # ended outside hpcbridge
    await asyncio.sleep(1)
    info = await call(mcp, "get_interactive_session_info", session_id=session["session_id"])
    assert info["status"] == "ended" and "allocation ended" in info["note"]
    with pytest.raises(ToolError, match="is ended"):
        await call(mcp, "exec_in_session", session_id=session["session_id"], command="true")
    assert os.environ["HPCBRIDGE_STATE_DIR"]


async def test_two_commands_at_once_in_a_one_gpu_session(mcp: Client, tc_env: dict[str, str]) -> None:
    """Issue 25, kind 9: two overlapping exec_in_session steps in a 1-GPU allocation both run at once; the
    second does not wait for the GRES the first step holds. Event-based: the first step waits for a file
    that only the second writes, so a second step queued behind the first would make the first time out."""
    marker = f"{tc_env['SLURM_USER_ROOT']}/scratch/overlap-{uuid.uuid4().hex[:8]}"
    session = await call(mcp, "start_interactive_session", partition="gpu", gpus_per_node=1, time_limit="0:10:00",
                         session_name=f"overlap-{uuid.uuid4().hex[:4]}")
    sid = session["session_id"]
    try:
        first = asyncio.create_task(call(
            mcp, "exec_in_session", session_id=sid, timeout=60,
            command=f"echo GPU=$CUDA_VISIBLE_DEVICES; for i in $(seq 600); do [ -e {marker} ] && break; sleep 0.1; done; "
                    f"[ -e {marker} ] && echo saw-second"))
        await asyncio.sleep(0)  # the first step is asked for before the second
        second = await call(mcp, "exec_in_session", session_id=sid, timeout=60,
                            command=f"echo GPU=$CUDA_VISIBLE_DEVICES; touch {marker}")
        first_out = await first
        assert second["exit_status"] == 0 and first_out["exit_status"] == 0, (first_out, second)
        assert "saw-second" in first_out["stdout"]
        gpu_lines = {line for out in (first_out, second) for line in out["stdout"].splitlines() if line.startswith("GPU=")}
        assert len(gpu_lines) == 1 and gpu_lines != {"GPU="}, gpu_lines  # both steps see the session's one GPU
    finally:
        await call(mcp, "end_interactive_session", session_id=sid)
        await asyncio.to_thread(subprocess.run, ["rm", "-f", marker], check=False)
