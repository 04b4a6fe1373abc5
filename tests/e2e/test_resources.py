"""MCP resources through a real MCP client."""

from __future__ import annotations

import json

import pytest
from fastmcp import Client
from mcp.shared.exceptions import MCPError

from .conftest import call

pytestmark = pytest.mark.cluster


async def test_resources_answer_with_json(mcp: Client) -> None:
    templates = {t.uri_template for t in await mcp.list_resource_templates()}
    paths = {"job/{job_id}", "queue/{queue_name}"}
    assert templates == {f"{scheme}://{p}" for scheme in ("slurm", "pbs") for p in paths}
    fixed = {"system/status", "user/jobs", "user/privileges"}
    expected = {f"{s}://{p}" for s in ("slurm", "pbs") for p in fixed} | {"jobs://summary"}
    assert {str(r.uri) for r in await mcp.list_resources()} == expected
    summary = json.loads((await mcp.read_resource("jobs://summary"))[0].text)
    assert len(summary) == 1 and {"cluster", "counts", "last_seen", "unreachable"} <= set(summary[0])
    privileges = json.loads((await mcp.read_resource("slurm://user/privileges"))[0].text)
    assert privileges["user"] == "alice" and privileges["privileges"].startswith("ordinary user")
    # this server has only a Slurm cluster: the PBS scheme says so (an MCP error) instead of answering from it
    with pytest.raises(MCPError, match="no PBS cluster is configured"):
        await mcp.read_resource("pbs://system/status")
    status = json.loads((await mcp.read_resource("slurm://system/status"))[0].text)
    assert {p["name"] for p in status["partitions"]} == {"gpu", "cpu", "interactive"}
    queue = json.loads((await mcp.read_resource("slurm://queue/gpu"))[0].text)
    assert queue["status"]["gpus_total"] == 8
    job = await call(mcp, "submit_job", script_content="sleep 30", hold=True, time_limit="5")
    try:
        mine = json.loads((await mcp.read_resource("slurm://user/jobs"))[0].text)
        assert job["job_id"] in {j["job_id"] for j in mine}
        details = json.loads((await mcp.read_resource(f"slurm://job/{job['job_id']}"))[0].text)
        assert details["job"]["state"] == "HELD"
    finally:
        await call(mcp, "cancel_job", job_id=job["job_id"])
    with pytest.raises(MCPError, match="partitions: gpu, cpu, interactive"):
        await mcp.read_resource("slurm://queue/nope")
