"""Hostile values through every string parameter, a 10,000-task queue, and the HTTP front door."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from .conftest import call, hpcbridge_executable, post_status, server_env, wait_final

pytestmark = pytest.mark.cluster

# Required arguments that are not under test get harmless values; submit_job only asks --test-only.
BASE_ARGS: dict[str, dict[str, Any]] = {
    "submit_job": {"script_content": "true", "test_only": True},
    "upload_file": {"content": "x", "remote_path": "hpcb-e2e-upload.txt"},
    "write_file": {"content": "x", "path": "hpcb-e2e-write.txt"},
    "delete_file": {"path": "hpcb-e2e-does-not-exist", "confirm": True},
    "start_interactive_session": {"partition": "cpu", "time_limit": "0:05:00", "wait_timeout": 5},
    "start_session_from_profile": {"profile_name": "cpu-only", "time_limit": "0:05:00", "wait_timeout": 5},
    "run_interactive_command": {"command": "true", "partition": "cpu", "time_limit": "0:05:00"},
    "exec_in_session": {"command": "true"},
    "read_job_output": {"file_path": "/etc/hostname"},
}
# Parameters whose whole point is to run commands: script_content (a job script) and command (the
# shell tool, which is disabled in this server) are exercised by their own tests.
NOT_UNDER_TEST = {("submit_job", "script_content"), ("run_shell_command", "command"),
                  ("run_interactive_command", "command"), ("exec_in_session", "command")}


_SHAPES = ("x'; {c}; '", "$({c})", "`{c}`", "; {c}", "a\n{c}", "--wrap={c}", '" ; {c}; "', "| {c}", "&& {c}",
           "a b $({c})", "{c} &", "x${{IFS}}$({c})", "'$({c})'", '"$({c})"', "x\r\n{c}", "#SBATCH --wrap={c}",
           "\n#SBATCH --wrap={c}", "x\n#PBS -v A=`{c}`", "../../$({c})", "-o /dev/null; {c}", "$(echo;{c})",
           "<({c})", ">({c})", "a;{c};b", "x' || {c} #", 'x" || {c} #', "*; {c}", "~/$({c})", "gpu,cpu;{c}",
           "x\t$({c})")
_COMMANDS = ("touch {m}", "touch${{IFS}}{m}", "/usr/bin/touch {m}", "sh -c 'touch {m}'", 'bash -c "touch {m}"',
             "echo x > {m}", "python3 -c 'open(\"{m}\", \"w\")'")


def payloads(marker: str) -> list[str]:
    """30 injection shapes x 7 ways to create the marker file: 210 hostile strings."""
    return [shape.format(c=command.format(m=marker)) for shape in _SHAPES for command in _COMMANDS]


def _string_params(schema: dict[str, Any]) -> list[str]:
    out = []
    for name, prop in schema.get("properties", {}).items():
        types = {prop.get("type")} | {p.get("type") for p in prop.get("anyOf", [])}
        if "string" in types and "enum" not in prop:
            out.append(name)
    return out


def _markers(tag: str) -> list[str]:
    """Marker files where an injected `touch /tmp/<tag>-...` would have put them (the cluster is this
    machine). Files whose *names* contain the payload elsewhere are literal names, which is correct."""
    return sorted(str(p) for p in Path("/tmp").glob(f"{tag}*"))


def _remove_literal_names(tag: str, user_root: str) -> None:
    for path in sorted(Path(user_root).rglob(f"*{tag}*"), key=lambda p: -len(p.parts)):
        top = Path(user_root) / path.relative_to(user_root).parts[0]
        shutil.rmtree(top, ignore_errors=True) if top.is_dir() else top.unlink(missing_ok=True)


async def hostile_sweep(client: Client, tag: str) -> tuple[int, int]:
    """Every payload through every string parameter of every tool the server lists: (calls, refused).
    Sixteen calls are in flight at once, as several agents on one server would send them."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for tool in await client.list_tools():
        for param in _string_params(tool.input_schema):
            if (tool.name, param) in NOT_UNDER_TEST:
                continue
            for value in payloads(f"/tmp/{tag}-{tool.name}-{param}"):
                args = {**BASE_ARGS.get(tool.name, {}), param: value}
                for required in tool.input_schema.get("required", []):
                    args.setdefault(required, "1")
                calls.append((tool.name, args))
    gate = asyncio.Semaphore(16)

    async def one(name: str, args: dict[str, Any]) -> bool:
        async with gate:
            try:
                await client.call_tool(name, args)
            except ToolError:
                return True
            return False

    refused = await asyncio.gather(*(one(name, args) for name, args in calls))
    return len(calls), sum(refused)


async def test_hostile_values_in_every_string_parameter_run_nothing(mcp: Client, tc_env: dict[str, str]) -> None:
    tag = f"hpcb-pwned-{uuid.uuid4().hex[:8]}"
    calls, refused = await hostile_sweep(mcp, tag)
    await asyncio.sleep(1)
    for session in (await call(mcp, "list_interactive_sessions"))["sessions"]:  # any a payload did not stop
        if session["status"] != "ended":
            await call(mcp, "end_interactive_session", session_id=session["session_id"])
    assert calls > 200 * 100, calls  # 210 strings through each of the 100+ string parameters
    assert _markers(tag) == [], f"a hostile value ran a command ({calls} calls, {refused} refused)"
    _remove_literal_names(tag, tc_env["SLURM_USER_ROOT"])


async def test_env_values_reach_the_job_literally(mcp: Client) -> None:
    tag = f"hpcb-pwned-{uuid.uuid4().hex[:8]}"
    value = f"it's $(touch /tmp/{tag}) `touch /tmp/{tag}` ; \"q\""
    job = await call(mcp, "submit_job", script_content='printf "%s" "$PAYLOAD"', env={"PAYLOAD": value},
                     time_limit="5", job_name="literal-env")
    await wait_final(mcp, job["job_id"])
    out = await call(mcp, "read_job_output", job_id=job["job_id"])
    assert out["content"] == value
    assert _markers(tag) == []


async def test_run_shell_command_is_off_by_default_and_then_not_listed(mcp: Client) -> None:
    assert "run_shell_command" not in {t.name for t in await mcp.list_tools()}  # it could only refuse
    with pytest.raises(ToolError, match="Unknown tool"):
        await call(mcp, "run_shell_command", command="id")


async def test_ten_thousand_array_tasks_small_default_answer_and_full_paging(mcp: Client) -> None:
    job = await call(mcp, "submit_job", script_content="true", array="0-9999", hold=True, partition="cpu",
                     time_limit="5", job_name="big-array")
    array_id = job["job_id"]
    try:
        raw = await mcp.call_tool_mcp("list_jobs", {})
        size = len(raw.model_dump_json(by_alias=True, exclude_none=True).encode())
        first = raw.structured_content
        assert first is not None
        assert size <= 8 * 1024, f"default list_jobs answer is {size} bytes"
        assert first["total"] >= 10_000 and sum(first["counts"].values()) == first["total"]
        assert first["counts"].get("HELD", 0) >= 10_000 and len(first["items"]) == 20
        seen: set[str] = set()
        offset: int | None = 0
        pages = 0
        while offset is not None:
            page = await call(mcp, "list_jobs", user="me", limit=500, offset=offset)
            seen.update(j["job_id"] for j in page["items"] if j["job_id"].startswith(f"{array_id}_"))
            offset = page["next_offset"]
            pages += 1
        assert seen == {f"{array_id}_{i}" for i in range(10_000)}, (len(seen), pages)
        Path("/tmp/hpcb-e2e-list-size.json").write_text(json.dumps({"bytes": size, "pages": pages}))
    finally:
        await call(mcp, "cancel_job", job_id=array_id)


def test_http_requires_the_bearer_token(http_server: str) -> None:
    assert post_status(http_server, {}) == 401
    assert post_status(http_server, {"Authorization": "Bearer nope"}) == 401


async def test_every_tool_is_annotated(mcp: Client) -> None:
    tools = {t.name: t for t in await mcp.list_tools()}
    for name in ("get_cluster_status", "list_jobs", "get_job_details", "get_job_history", "get_gpu_availability"):
        assert tools[name].annotations.read_only_hint is True
    for name in ("list_directory", "read_file", "find_files", "get_disk_usage", "list_container_images"):
        assert tools[name].annotations.read_only_hint is True
    for name in ("cancel_job", "upload_file", "write_file", "delete_file"):
        assert tools[name].annotations.destructive_hint is True
    assert tools["submit_job"].annotations.idempotent_hint is False
    # every tool returns structured content, so every tool declares its output schema (issue 29)
    assert not [n for n, t in tools.items() if not t.output_schema]


async def test_the_default_toolsets_and_the_toolsets_flag(tc_env: dict[str, str]) -> None:
    from fastmcp.client.transports import StdioTransport

    env = server_env(tc_env, HPCBRIDGE_TOOLSETS="")  # nothing configured: the default set
    async with Client(StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env)) as client:
        names = {t.name for t in await client.list_tools()}
    # 19: run_shell_command is listed only where a cluster sets allow_shell (this one does not)
    assert len(names) == 19 and {"submit_job", "list_jobs", "modify_job", "get_gpu_availability", "wait_for_job"} <= names
    assert "run_shell_command" not in names
    assert "read_file" not in names and "start_interactive_session" not in names
    args = ["serve", "--toolsets", "files,interactive"]
    async with Client(StdioTransport(command=hpcbridge_executable(), args=args, env=env)) as client:
        names = {t.name for t in await client.list_tools()}
    assert {"read_file", "start_interactive_session"} <= names and "submit_job" not in names
