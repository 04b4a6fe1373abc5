"""get_team_usage on the real OpenPBS 23.06 complex (testcluster/openpbs.sh) through a real MCP client (stdio):
the same neutral queue listing as on Slurm. bob, OpenPBS's second user, keeps a held job there (`held-analysis`,
account proj-alpha, put there by openpbs.sh); alice submits one through submit_job."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from ..conftest import openpbs_env
from .conftest import call, hpcbridge_executable

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
async def mcp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    op = openpbs_env()
    config = (f'[clusters.pbs]\nscheduler = "pbs"\ndefault = true\nhost = "{op["OPENPBS_SSH_HOST"]}"\n'
              f'port = {op["OPENPBS_SSH_PORT"]}\nuser = "{op["OPENPBS_SSH_USER"]}"\n'
              f'key_path = "{op["OPENPBS_SSH_KEY_PATH"]}"\nknown_hosts = "{op["OPENPBS_SSH_KNOWN_HOSTS"]}"\n'
              'team = ["bob"]\n')
    home = tmp_path_factory.mktemp("usage-pbs")
    (home / "config.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(home / "config.toml"), HPCBRIDGE_STATE_DIR=str(home / "state"),
               HPCBRIDGE_TOOLSETS="all")
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False)
    async with Client(transport, timeout=200) as client:
        yield client


async def test_team_usage_on_openpbs_counts_bob_and_alice(mcp: Client) -> None:
    op = openpbs_env()
    job = (await call(mcp, "submit_job", script_content="sleep 600", job_name=f"h28c-pbs-{secrets.token_hex(3)}",
                      time_limit="10", cluster="pbs"))["job_id"]
    try:
        usage: dict[str, Any] = {}
        for _ in range(60):
            usage = await call(mcp, "get_team_usage", cluster="pbs")
            rows = {r["name"]: r for r in usage["users"]}
            if rows.get("alice", {}).get("running_jobs", 0) + rows.get("alice", {}).get("pending_jobs", 0) >= 1:
                break
            await asyncio.sleep(2)
        rows = {r["name"]: r for r in usage["users"]}
        assert rows["alice"]["me"] and rows["alice"]["running_jobs"] + rows["alice"]["pending_jobs"] >= 1
        assert rows["bob"]["team"] and rows["bob"]["pending_jobs"] >= 1  # HELD counts as pending
        accounts = {r["name"]: r for r in usage["accounts"]}
        assert accounts[op["OPENPBS_ACCOUNT"]]["team"]
        assert usage["cluster"] == "pbs" and usage["team"] == ["bob"]
    finally:
        await call(mcp, "cancel_job", job_id=job, cluster="pbs")
