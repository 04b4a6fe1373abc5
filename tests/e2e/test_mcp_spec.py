"""The MCP spec as clients use it now, through a real fastmcp Client against `hpcbridge serve` (stdio):
elicitation before destructive calls (both protocol eras), completions from the live cluster."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

from .conftest import call, hpcbridge_executable, server_env


class Person:
    """The user behind an elicitation-capable client: answers as told, and remembers what was asked."""

    def __init__(self) -> None:
        self.answer: Any = "decline"
        self.asked: list[str] = []

    async def __call__(self, message: str, response_type: Any, params: Any, context: Any) -> Any:
        from fastmcp.client.elicitation import ElicitResult

        self.asked.append(message)
        if self.answer == "decline":
            return ElicitResult(action="decline")
        return {"value": self.answer}  # the form, answered


@pytest.fixture(params=["legacy", "auto"])  # handshake era (ctx.elicit) and 2026-07-28 (input_required)
async def asking(request: pytest.FixtureRequest, tc_env: dict[str, str]) -> AsyncIterator[tuple[Client, Person]]:
    person = Person()
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=server_env(tc_env),
                               keep_alive=False)
    async with Client(transport, timeout=120, elicitation_handler=person, mode=request.param) as client:
        yield client, person


async def _exists(client: Client, path: str) -> bool:
    listing = await call(client, "list_directory", path=path.rsplit("/", 1)[0], directory_type="scratch")
    return path.rsplit("/", 1)[1] in {e["name"] for e in listing["entries"]}


async def test_delete_file_asks_the_user_and_a_decline_keeps_the_file(asking: tuple[Client, Person]) -> None:
    client, person = asking
    name = f"h29b-elicit-{uuid.uuid4().hex[:8]}"
    path = f"{name}/keep.txt"
    await call(client, "write_file", path=path, content="precious\n", directory_type="scratch", make_dirs=True)
    try:
        person.answer = "decline"
        with pytest.raises(ToolError, match="not confirmed: deleting .*keep.txt was not done"):
            await call(client, "delete_file", path=path, directory_type="scratch")
        assert len(person.asked) == 1 and "keep.txt" in person.asked[0] and "cannot be undone" in person.asked[0]
        assert await _exists(client, path)

        person.answer = False  # accepted the form but said no
        with pytest.raises(ToolError, match="not confirmed"):
            await call(client, "delete_file", path=path, directory_type="scratch")
        assert len(person.asked) == 2 and await _exists(client, path)

        person.answer = True
        await call(client, "delete_file", path=path, directory_type="scratch")
        assert len(person.asked) == 3 and not await _exists(client, path)

        # confirm=true still works without asking (agents that were told to go ahead)
        await call(client, "write_file", path=path, content="x", directory_type="scratch")
        await call(client, "delete_file", path=path, directory_type="scratch", confirm=True)
        assert len(person.asked) == 3 and not await _exists(client, path)
    finally:
        await call(client, "delete_file", path=name, directory_type="scratch", recursive=True, confirm=True)


async def test_a_client_without_elicitation_gets_the_confirm_fallback(mcp: Client) -> None:
    name = f"h29b-noelicit-{uuid.uuid4().hex[:8]}"
    await call(mcp, "write_file", path=f"{name}/f.txt", content="x", directory_type="scratch", make_dirs=True)
    with pytest.raises(ToolError, match="needs confirm=true"):
        await call(mcp, "delete_file", path=f"{name}/f.txt", directory_type="scratch")
    assert await _exists(mcp, f"{name}/f.txt")
    await call(mcp, "delete_file", path=name, directory_type="scratch", recursive=True, confirm=True)


async def test_cancel_jobs_asks_and_a_decline_leaves_the_job_queued(asking: tuple[Client, Person]) -> None:
    client, person = asking
    job = await call(client, "submit_job", script_content="sleep 300", job_name=f"h29b_elicit_{uuid.uuid4().hex[:6]}",
                     hold=True, time_limit="5")
    job_id = job["job_id"]
    try:
        person.answer = "decline"
        with pytest.raises(ToolError, match="not confirmed: cancelling 1 job"):
            await call(client, "cancel_jobs", job_ids=[job_id])
        assert job_id in person.asked[0]
        assert (await call(client, "get_job_details", job_id=job_id))["job"]["state"] in {"HELD", "PENDING"}
        person.answer = True
        done = await call(client, "cancel_jobs", job_ids=[job_id])
        assert done["cancelled"] == [job_id] and len(person.asked) == 2
    finally:
        await client.call_tool("cancel_job", {"job_id": job_id}, raise_on_error=False)


async def test_completions_offer_partitions_clusters_profiles_and_a_running_jobs_id(mcp: Client) -> None:
    from mcp_types import PromptReference, ResourceTemplateReference

    queue = ResourceTemplateReference(uri="slurm://queue/{queue_name}")
    parts = (await mcp.complete(queue, {"name": "queue_name", "value": ""})).values
    assert {"gpu", "cpu", "interactive"} <= set(parts)
    assert (await mcp.complete(queue, {"name": "queue_name", "value": "in"})).values == ["interactive"]

    clusters = (await mcp.complete(PromptReference(name="diagnose_job_failure"), {"name": "cluster", "value": ""}))
    assert clusters.values, "no configured cluster offered"
    guide = PromptReference(name="submit_job_guide")
    in_cluster = await mcp.complete(guide, {"name": "queue", "value": "g"}, {"cluster": clusters.values[0]})
    assert in_cluster.values == ["gpu"]

    job = await call(mcp, "submit_job", script_content="sleep 120", job_name=f"h29b_complete_{uuid.uuid4().hex[:6]}",
                     partition="cpu", time_limit="3")
    job_id = job["job_id"]
    try:
        await call(mcp, "wait_for_job", job_id=job_id, until="running", timeout=90)
        diagnose = PromptReference(name="diagnose_job_failure")
        # the queue may hold more than the 100 candidates a completion carries: narrow by what was typed
        everything = await mcp.complete(diagnose, {"name": "job_id", "value": ""})
        assert everything.values and (job_id in everything.values or everything.has_more)
        assert job_id in (await mcp.complete(diagnose, {"name": "job_id", "value": job_id})).values
        by_uri = ResourceTemplateReference(uri="slurm://job/{job_id}")
        assert job_id in (await mcp.complete(by_uri, {"name": "job_id", "value": job_id})).values
        assert (await mcp.complete(by_uri, {"name": "job_id", "value": "x"})).values == []
    finally:
        await mcp.call_tool("cancel_job", {"job_id": job_id}, raise_on_error=False)
    # the job's arguments are unknown to the handler: no candidates, not an error
    assert (await mcp.complete(guide, {"name": "job_type", "value": "py"})).values == []
    notebook = PromptReference(name="work_in_notebook")
    assert {"dev-1gpu", "dev-8gpu", "cpu-only"} <= set((await mcp.complete(notebook, {"name": "profile",
                                                                                      "value": ""})).values)
    assert (await mcp.complete(notebook, {"name": "profile", "value": "cpu"})).values == ["cpu-only"]
    # open notebooks: those of a running Jupyter server (none need be running here): a list, never an error
    assert isinstance((await mcp.complete(notebook, {"name": "notebook", "value": ""})).values, list)


async def test_one_log_format_for_hpcbridge_fastmcp_and_uvicorn(tc_env: dict[str, str]) -> None:
    """Every stderr line of an HTTP server is `time LEVEL logger: message`, uvicorn's and fastmcp's included
    (before: uvicorn's `INFO:     ...` and fastmcp's rich, column-wrapped lines)."""
    import re

    from fastmcp.client.transports import StreamableHttpTransport

    from .conftest import HTTP_TOKEN, post_status, start_http_server, stop_and_read_log

    proc, url = start_http_server(server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_LOG_LEVEL="INFO"))
    try:
        assert post_status(url, {}) == 401  # logged by uvicorn (access) and the auth layer
        async with Client(StreamableHttpTransport(url, auth=HTTP_TOKEN), timeout=60) as client:
            with pytest.raises(ToolError):  # fastmcp logs a failed tool call
                await call(client, "delete_file", path="nothing-here")
    finally:
        log = stop_and_read_log(proc)
    lines = [line for line in log.splitlines() if line.strip() and not line.startswith("dashboard: ")]
    shape = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")
    odd = [line for line in lines if not shape.match(line)]
    assert not odd, odd[:10]
    loggers = {m.group(1) for line in lines if (m := re.match(r"^\S+ \S+ \S+ ([\w.]+):", line))}
    assert any(n.startswith("uvicorn") for n in loggers) and any(n.startswith("fastmcp") for n in loggers), loggers


async def test_a_client_polls_wait_for_job_with_short_calls_until_the_job_is_done(mcp: Client) -> None:
    """A client without MCP tasks (test_mcp_tasks.py has those) that must not hold one request polls with a
    short timeout; each call answers (not an error) until reached."""
    job = await call(mcp, "submit_job", script_content="sleep 6", job_name=f"h29b_poll_{uuid.uuid4().hex[:6]}",
                     partition="cpu", time_limit="2")
    polls = 0
    try:
        while True:
            polls += 1
            answer = (await call(mcp, "wait_for_job", job_id=job["job_id"], timeout=2))["wait"]
            if answer["reached"]:
                break
            assert answer["timed_out"] and polls < 200, answer
        assert answer["state"] == "COMPLETED" and polls > 1, (answer, polls)
    finally:
        await mcp.call_tool("cancel_job", {"job_id": job["job_id"]}, raise_on_error=False)
