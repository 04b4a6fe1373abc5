"""MCP tasks (the io.modelcontextprotocol/tasks extension, SEP-2663), on with `mcp_tasks = true`
(HPCBRIDGE_MCP_TASKS): a client calls the long waits as a task, gets a task id at once, polls tasks/get until the
task is done, then reads the tool's result. Off (the default), the server offers no tasks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp_tasks.client import call_tool_task

from .conftest import call, hpcbridge_executable, server_env

TASK_TOOLS = {"wait_for_job", "start_interactive_session", "start_session_from_profile", "start_kernel_session"}
TERMINAL = {"completed", "failed", "cancelled"}


@pytest.fixture
async def tasks_mcp(tc_env: dict[str, str]) -> AsyncIterator[Client]:
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"],
                               env=server_env(tc_env, HPCBRIDGE_MCP_TASKS="true"))
    async with Client(transport, timeout=120) as client:
        yield client


@pytest.fixture
async def legacy(tc_env: dict[str, str]) -> AsyncIterator[Client]:
    """A 2025-11-25 client: that protocol lists each tool's task support (execution.taskSupport); 2026-07-28
    negotiates the extension per request instead, so its tools/list carries no per-tool field."""
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"],
                               env=server_env(tc_env, HPCBRIDGE_MCP_TASKS="true"))
    async with Client(transport, timeout=120, mode="legacy") as client:
        yield client


async def test_wait_for_job_runs_as_a_task_that_the_client_polls_to_the_jobs_final_state(tasks_mcp: Client) -> None:
    mcp = tasks_mcp
    job = await call(mcp, "submit_job", script_content="sleep 8", job_name=f"tasks_{uuid.uuid4().hex[:6]}",
                     partition="cpu", time_limit="2")
    try:
        task = await call_tool_task(mcp, "wait_for_job", {"job_id": job["job_id"], "timeout": 120})
        assert task.task_id and task.create_result.status == "working", task.create_result
        polls, seen = 0, []
        while (status := await task.status()).status not in TERMINAL:
            polls += 1
            seen.append(status.status_message)
            assert status.status == "working" and polls < 600, status
            await asyncio.sleep(0.5)
        assert status.status == "completed", status
        answer = (await task.result()).structured_content or {}
        assert answer["wait"]["reached"] and answer["wait"]["state"] == "COMPLETED", answer
        assert polls >= 1, "the task was done before the first poll: the job cannot have run"
        # the job's state changes (MCP progress on a plain call) arrive as the task's status message
        assert any(m and job["job_id"] in m for m in seen), seen
    finally:
        await mcp.call_tool("cancel_job", {"job_id": job["job_id"]}, raise_on_error=False)


async def test_the_server_offers_the_tasks_extension_only_when_configured(tasks_mcp: Client, mcp: Client) -> None:
    caps = tasks_mcp.server_capabilities
    assert caps is not None and "io.modelcontextprotocol/tasks" in (caps.extensions or {}), caps
    plain = mcp.server_capabilities  # the suite's server: mcp_tasks left at its default
    assert plain is not None and "io.modelcontextprotocol/tasks" not in (plain.extensions or {}), plain


async def test_tools_list_says_which_tools_may_run_as_tasks(legacy: Client) -> None:
    tools = await legacy.list_tools()
    optional = {t.name for t in tools if t.execution and t.execution.task_support == "optional"}
    assert optional == TASK_TOOLS, optional
    assert all(t.execution is None for t in tools if t.name not in TASK_TOOLS)


async def test_a_plain_call_of_a_task_capable_tool_still_answers_inline(legacy: Client) -> None:
    """Optional task support: a client that does not ask for a task (here: a 2025-11-25 client, which cannot)
    gets the result on the call itself."""
    job = await call(legacy, "submit_job", script_content="true", job_name=f"tasks_{uuid.uuid4().hex[:6]}",
                     partition="cpu", time_limit="1")
    answer = await call(legacy, "wait_for_job", job_id=job["job_id"], timeout=120)
    assert answer["wait"]["reached"] and answer["wait"]["state"] == "COMPLETED", answer
