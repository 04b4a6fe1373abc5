"""The job history over a real MCP client, with two clusters configured: the test cluster as Slurm and, through
Debian's Torque wrappers, as PBS. Jobs are submitted on both, some fail; the server is stopped; a job is
submitted and fails while nobody records; the server starts again and catches up from accounting."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from ..conftest import postgres_schema
from .conftest import call, hpcbridge_executable

pytestmark = pytest.mark.timeout(300)

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "ENDED"}


def _toml(tc: dict[str, str]) -> str:
    common = (f'host = "{tc["SLURM_SSH_HOST"]}"\nport = {tc["SLURM_SSH_PORT"]}\nuser = "{tc["SLURM_SSH_USER"]}"\n'
              f'key_path = "{tc["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc["SLURM_SSH_KNOWN_HOSTS"]}"\n'
              f'default_partition = "cpu"\nuser_root = "{tc["SLURM_USER_ROOT"]}"\n')
    return (f'toolsets = ["all"]\n\n[history]\nactive_minutes = 10\ngpu_sample_seconds = 10\n\n'
            f'[clusters.slurm]\nscheduler = "slurm"\ndefault = true\n{common}\n'
            f'[clusters.torque]\nscheduler = "pbs"\n{common}')


@dataclass(frozen=True)
class Server:
    start: Callable[[], Any]  # an async context manager: the server running, a client connected
    env: dict[str, str]  # the server's environment, for the CLI reading the same history


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tc_env: dict[str, str],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("history")
    (home / "config.toml").write_text(_toml(tc_env))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(home / "config.toml"), HPCBRIDGE_STATE_DIR=str(home / "state"))

    @asynccontextmanager
    async def start() -> AsyncIterator[Client]:
        transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False)
        async with Client(transport, timeout=120) as client:
            yield client

    if request.param == "sqlite":
        yield Server(start, env)
        return
    with postgres_schema() as url:
        env["HPCBRIDGE_DATABASE_URL"] = url
        yield Server(start, env)


async def _until(what: str, probe: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(2)


async def _search(client: Client, **filters: Any) -> list[dict[str, Any]]:
    return (await call(client, "search_history", limit=100, **filters))["items"]


def _as_alice(command: str) -> str:
    out = subprocess.run(["su", "-", "alice", "-c", command], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


async def test_history_across_two_clusters_survives_a_stop(server: Server) -> None:
    tag = secrets.token_hex(3)
    async with server.start() as mcp:
        ok = await call(mcp, "submit_job", script_content="echo fine", job_name=f"hist_ok_{tag}")
        bad = await call(mcp, "submit_job", script_content="echo dying >&2; exit 3", job_name=f"hist_bad_{tag}")
        first = await call(mcp, "submit_job", script_content="sleep 2", job_name=f"hist_chain_{tag}")
        second = await call(mcp, "submit_job", script_content="echo second", job_name=f"hist_chain2_{tag}",
                            dependency=f"afterok:{first['job_id']}")
        pbs = await call(mcp, "submit_job", script_content="exit 5", job_name=f"hist_pbs_{tag}", cluster="torque")
        for job in (ok, bad, second):
            await call(mcp, "wait_for_job", job_id=job["job_id"], until="final", timeout=120)

        async def recorded() -> Any:
            rows = await _search(mcp, text=tag)
            finals = [r for r in rows if r["state"] in FINAL and r["cluster"] == "slurm"]
            pbs_rows = [r for r in rows if r["cluster"] == "torque" and r["state"] in FINAL]
            bad_row = next((r for r in finals if r["job_id"] == bad["job_id"]), None)
            return rows if len(finals) >= 4 and pbs_rows and bad_row and bad_row["cause"] else None

        rows = await _until("the jobs recorded with their ends and causes", recorded, 150)
        by_id = {(r["cluster"], r["job_id"]): r for r in rows}
        failed = by_id[("slurm", bad["job_id"])]
        assert (failed["state"], failed["exit_code"]) == ("FAILED", 3) and failed["cause"]
        assert by_id[("slurm", ok["job_id"])]["state"] == "COMPLETED"
        assert any(r["cluster"] == "torque" and r["job_id"].startswith(pbs["job_id"].split(".")[0]) for r in rows)
        facts = await call(mcp, "get_history_job", job_id=bad["job_id"])
        assert "exit 3" in facts["script"] and [s for _, s, _ in facts["transitions"]][-1] == "FAILED"
        run = await call(mcp, "get_run", name=f"hist_chain_{tag}", cluster="slurm")
        assert [j["job_id"] for j in run["jobs"]["items"]] == [first["job_id"], second["job_id"]]
        entry = await call(mcp, "create_logbook_entry", project="hist", title=f"chain {tag}",
                           body=f"The @hist_chain_{tag} run finished; the bad one died of xylophones.")
        assert entry["runs"] == [f"hist_chain_{tag}"]

    # nobody records now: a job fails while the server is down
    down_id = _as_alice(f"sbatch --parsable -p cpu -J hist_down_{tag} --wrap 'exit 2'")
    for _ in range(60):
        if not _as_alice(f"squeue -h -j {down_id} -o %T"):
            break
        await asyncio.sleep(1)

    async with server.start() as mcp:
        async def caught_up() -> Any:
            # PostgreSQL's english configuration drops stop words ("down"): the name picks the job out
            rows = [r for r in await _search(mcp, text=f"hist_down_{tag}", cluster="slurm")
                    if r["name"] == f"hist_down_{tag}"]
            return rows if rows and rows[0]["state"] == "FAILED" else None

        rows = await _until("the job that ended while the server was down", caught_up, 120)
        assert rows[0]["job_id"] == down_id and rows[0]["exit_code"] == 2
        everything = await _search(mcp, text=tag)
        assert {r["cluster"] for r in everything} == {"slurm", "torque"}  # across both clusters, after a restart
        found = await call(mcp, "search_logbook", text="xylophone")
        assert [e["id"] for e in found["items"]] == [entry["id"]]
        advice = await call(mcp, "recommend_submission", cluster="slurm")
        cpu = next(o for o in advice["options"] if o["partition"] == "cpu")
        assert cpu["recent_wait_minutes"] is not None and "recent queue wait here" in cpu["why"]
        summary = await call(mcp, "get_history_summary")
        assert {c["cluster"] for c in summary["clusters"]} == {"slurm", "torque"}
        refused = await mcp.call_tool("cancel_jobs", {"run": f"hist_chain_{tag}"}, raise_on_error=False)
        assert refused.is_error and "confirm=true" in refused.content[0].text

    # a person at a shell reads the same history, with no server running
    found = json.loads(_cli(server.env, "history", "search", tag, "--json"))
    assert {j["cluster"] for j in found["items"]} == {"slurm", "torque"} and found["total"] == len(everything)
    chain = json.loads(_cli(server.env, "history", "run", f"hist_chain_{tag}", "--cluster", "slurm", "--json"))
    assert [j["job_id"] for j in chain["jobs"]["items"]] == [first["job_id"], second["job_id"]]
    text = _cli(server.env, "history", "search", "--state", "FAILED", "--cluster", "slurm", tag)
    assert f"slurm:{bad['job_id']} FAILED exit=3" in text and f"slurm:{ok['job_id']} " not in text


def _cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([hpcbridge_executable(), *args], env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout
