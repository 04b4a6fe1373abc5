"""PBS through a real MCP client: the test cluster's Debian `slurm-wlm-torque` wrappers (qsub, qstat, qdel,
qhold, qrls, pbsnodes) make it a Torque-style PBS cluster. The server is configured only by a TOML file with
`scheduler = "pbs"`; the PBS plan's tool names are on (`tool_aliases = ["pbs"]`).

The wrappers print no exit status and show a held job as Q, so hold/release are checked against the real
scheduler underneath (squeue), which is what a PBS server would report as H."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from .conftest import call, hpcbridge_executable

pytestmark = pytest.mark.timeout(240)


def _toml(tc_env: dict[str, str]) -> str:
    return f"""tool_aliases = ["pbs"]

[clusters.torque]
scheduler = "pbs"
host = "{tc_env['SLURM_SSH_HOST']}"
port = {tc_env['SLURM_SSH_PORT']}
user = "{tc_env['SLURM_SSH_USER']}"
key_path = "{tc_env['SLURM_SSH_KEY_PATH']}"
known_hosts = "{tc_env['SLURM_SSH_KNOWN_HOSTS']}"
default_partition = "cpu"
user_root = "{tc_env['SLURM_USER_ROOT']}"
"""


@pytest.fixture(scope="module")
async def pbs(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    config = tmp_path_factory.mktemp("pbs") / "config.toml"
    config.write_text(_toml(tc_env))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(config), HPCBRIDGE_STATE_DIR=os.environ["HPCBRIDGE_STATE_DIR"],
               HPCBRIDGE_TOOLSETS="all")
    async with Client(StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env), timeout=120) as c:
        yield c


def slurm_view(job_id: str) -> str:
    """What the scheduler under the wrappers says: 'STATE REASON', or '' once the job is gone."""
    out = subprocess.run(["squeue", "--noheader", "--jobs", job_id, "--format", "%T %r"], capture_output=True,
                         text=True, timeout=30, check=False)
    return out.stdout.strip()


async def error_of(client: Client, tool: str, **arguments: Any) -> str:
    with pytest.raises(ToolError) as err:
        await client.call_tool(tool, arguments)
    return str(err.value)


async def resource(client: Client, uri: str) -> Any:
    return json.loads((await client.read_resource(uri))[0].text)


async def test_mvp_and_v1_lifecycle(pbs: Client) -> None:
    """submit -> status -> hold -> release -> delete -> history, with the PBS plan's names and resources."""
    queues = await call(pbs, "list_queues")
    assert {q["name"] for q in queues["partitions"]} >= {"gpu", "cpu", "interactive"}
    tag = secrets.token_hex(3)
    blocker = (await call(pbs, "submit_job", script_content="sleep 600", job_name=f"pbs-a-{tag}",
                          time_limit="10", hold=True))["job_id"]
    try:
        assert "JobHeldUser" in slurm_view(blocker)
        sub = await call(pbs, "submit_job", script_content="sleep 600", job_name=f"pbs-b-{tag}", time_limit="5",
                         dependency=f"afterok:{blocker}")
        job = sub["job_id"]
        assert "# submitted as: qsub -N pbs-b-" in sub["script"] and f"-W depend=afterok:{blocker}" in sub["script"]

        status = await call(pbs, "get_job_status", job_id=job)
        assert status["job"]["state"] == "PENDING" and status["job"]["native_state"] == "Q"
        assert status["job"]["partition"] == "cpu" and status["job"]["time_limit"] == "00:05:00"
        listed = await call(pbs, "list_jobs", user="me", state="Q", limit=500)
        assert job in {r["job_id"] for r in listed["items"]}

        await call(pbs, "hold_job", job_id=job)
        assert "JobHeldUser" in slurm_view(job)
        await call(pbs, "release_job", job_id=job)
        assert "JobHeldUser" not in slurm_view(job) and "PENDING" in slurm_view(job)

        mine = await resource(pbs, "pbs://user/jobs")
        assert job in {j["job_id"] for j in mine}
        assert (await resource(pbs, f"pbs://job/{job}"))["job"]["name"] == f"pbs-b-{tag}"
        assert (await resource(pbs, "pbs://queue/cpu"))["jobs_by_state"].get("PENDING", 0) >= 2
        assert (await resource(pbs, "pbs://system/status"))["scheduler"] == "pbs"
        with pytest.raises(MCPError, match="no SLURM cluster is configured"):  # a failed read is an MCP error
            await resource(pbs, "slurm://system/status")

        # Torque's forced delete is qdel -p; these wrappers do not have it, and say so
        assert "not supported by this cluster's qdel" in await error_of(pbs, "delete_job", job_id=job, force=True)
        deleted = await call(pbs, "delete_job", job_id=job)
        assert deleted["ok"] and "PENDING" not in slurm_view(job)
    finally:
        await asyncio.to_thread(subprocess.run, ["scancel", blocker], check=False, timeout=30)

    history = await call(pbs, "get_job_history", job_id=job)
    record = history["items"][0]
    # the wrappers keep finished jobs as C without an exit status: finished, outcome not reported
    assert record["job_id"] == job and record["native_state"] == "C" and record["state"] == "ENDED"


async def test_a_job_runs_and_its_output_is_read(pbs: Client, tc_env: dict[str, str]) -> None:
    tag = secrets.token_hex(3)
    out = f"{tc_env['SLURM_USER_ROOT']}/logs/pbs-{tag}.out"
    job = (await call(pbs, "submit_job", script_content=f"echo hello-{tag}", output_file=out,
                      time_limit="2"))["job_id"]
    waited = await call(pbs, "wait_for_job", job_id=job, until="final", timeout=90)
    assert waited["wait"]["reached"] and waited["wait"]["state"] == "ENDED", waited
    text = await call(pbs, "read_job_output", file_path=out)
    assert f"hello-{tag}" in text["content"]
    diagnosis = await call(pbs, "diagnose_job", job_id=job)
    assert diagnosis["cause"] == "ended" and diagnosis["job_id"] == job


async def test_another_users_job_is_a_privilege_error(pbs: Client) -> None:
    other = (await asyncio.to_thread(subprocess.run, ["sbatch", "--parsable", "-p", "cpu", "-t", "5", "-o",
                                                      "/dev/null", "-H", "--wrap", "sleep 300"],
                                     capture_output=True, text=True, check=True,
                                     timeout=30)).stdout.strip()  # root's job, held so it stays
    try:
        for tool in ("delete_job", "hold_job", "release_job"):
            message = await error_of(pbs, tool, job_id=other)
            assert "not permitted for alice" in message and "operator or manager" in message, (tool, message)
        assert "PENDING" in slurm_view(other)
    finally:
        await asyncio.to_thread(subprocess.run, ["scancel", other], check=False, timeout=30)
    privileges = await resource(pbs, "pbs://user/privileges")
    assert privileges["user"] == "alice" and privileges["privileges"]


async def test_what_pbs_cannot_do_is_refused_before_qsub(pbs: Client) -> None:
    before = (await call(pbs, "list_jobs", user="me", state="all", limit=1))["total"]
    cases = {
        "gpu_type": {"gpus": 1, "gpu_type": "a100", "partition": "gpu"},
        "container_image": {"container_image": "default"},
        "job_name": {"job_name": "has space"},
        "partition": {"partition": "nosuchqueue"},
    }
    for expected, extra in cases.items():
        message = await error_of(pbs, "submit_job", script_content="true", **extra)
        assert expected.split("_")[0] in message or "nosuchqueue" in message, (expected, message)
    assert "gpu, cpu, interactive" in await error_of(pbs, "submit_job", script_content="true",
                                                     partition="nosuchqueue")
    # a PBS-only server does not offer tools its backend cannot serve (interactive sessions, containers)
    names = {t.name for t in await pbs.list_tools()}
    assert not names & {"start_interactive_session", "run_interactive_command", "list_container_images"}
    assert (await call(pbs, "list_jobs", user="me", state="all", limit=1))["total"] == before
    preview = await call(pbs, "submit_job", script_content="true", nodes=1, cpus_per_task=2, time_limit="90",
                         test_only=True)
    assert preview["test_only"] and not preview["job_id"] and "nodes=1:ppn=2" in preview["script"]
    assert "walltime=01:30:00" in preview["script"] and "nothing was submitted" in preview["scheduler_message"]


async def test_nodes_and_prompts(pbs: Client) -> None:
    nodes = await call(pbs, "list_nodes", state_filter="all")
    assert {n["name"] for n in nodes["items"]} == {"gpu1", "gpu2", "cpu1", "cpu2"}
    gpus = {n["name"]: sum(g["count"] for g in n["gpus"]) for n in nodes["items"]}
    assert gpus["gpu1"] == 4 and gpus["cpu1"] == 0
    free = await call(pbs, "list_nodes", state_filter="free")
    assert all(n["state"] == "IDLE" for n in free["items"])
    status = await call(pbs, "get_cluster_status")
    assert status["scheduler_version"].startswith("Torque")
    guide = (await pbs.get_prompt("submit_job_guide", {"job_type": "gpu", "queue": "gpu"})).messages[0]
    assert "submit_job" in guide.content.text  # type: ignore[union-attr]
    names = {t.name for t in await pbs.list_tools()}
    assert {"get_job_status", "delete_job", "list_queues", "list_nodes", "get_job_summary"} <= names



async def test_gpu_summary_and_recommendation_tools(pbs: Client) -> None:
    gpus = await call(pbs, "get_gpu_info")
    assert gpus["by_type"] == {"gpu": 8}  # the wrappers' pbsnodes gives counts, not types
    free = await call(pbs, "get_gpu_availability", min_gpus=2)
    assert free["free_by_type"]["gpu"] <= 8
    summary = await call(pbs, "get_job_summary")
    assert summary["cluster"] == "torque" and summary["total"] >= 0
    best = await call(pbs, "recommend_submission", gpus=2, time_limit="1:00:00")
    assert best["best"] and best["best"]["feasible"] and "PBS gives no start estimate" in best["best"]["why"]


def test_check_reports_scheduler_and_privileges(tc_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(_toml(tc_env))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(config), HPCBRIDGE_STATE_DIR=os.environ["HPCBRIDGE_STATE_DIR"],
               HPCBRIDGE_TOOLSETS="all")
    out = subprocess.run([hpcbridge_executable(), "check"], env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "torque: scheduler: pbs Torque-style qstat" in out.stdout
    assert "torque: privileges: alice: unknown" in out.stdout  # the wrappers have no qstat -B
    assert "torque: partitions: gpu, cpu, interactive" in out.stdout  # no server attributes: no default marked


async def test_hostile_values_never_reach_a_shell(pbs: Client, tc_env: dict[str, str]) -> None:
    """Every string parameter of every tool, and real submissions (the wrappers' qsub builds shell text)."""
    from .test_safety_and_scale import (
        _markers,
        _remove_literal_names,
        _string_params,
        hostile_sweep,
        payloads,
    )

    tag = f"hpcb-pwned-{secrets.token_hex(4)}"
    calls, _ = await hostile_sweep(pbs, tag)
    accepted = 0
    tools = await pbs.list_tools()
    submit = next(t for t in tools if t.name == "submit_job")
    submitted = []
    for param in _string_params(submit.input_schema):
        if param == "script_content" or param.startswith("container_"):
            continue
        for value in payloads(f"/tmp/{tag}-qsub-{param}"):
            calls += 1
            try:
                job = await call(pbs, "submit_job", **{"script_content": "true", "hold": True,
                                                        "time_limit": "1", param: value})
            except ToolError:
                continue
            accepted += 1
            submitted.append(job["job_id"])
    if submitted:
        await asyncio.to_thread(subprocess.run, ["scancel", *submitted], check=False, timeout=30)
    assert calls > 200, calls
    assert _markers(tag) == [], f"a hostile value ran a command ({calls} calls, {accepted} real submissions)"
    _remove_literal_names(tag, tc_env["SLURM_USER_ROOT"])


async def test_without_a_known_default_queue_the_server_chooses(tc_env: dict[str, str], tmp_path: Path) -> None:
    """The wrappers report no default queue: submit without -q, as qsub does (the server picks its default)."""
    config = tmp_path / "config.toml"
    config.write_text(_toml(tc_env).replace('default_partition = "cpu"\n', ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(config), HPCBRIDGE_STATE_DIR=os.environ["HPCBRIDGE_STATE_DIR"],
               HPCBRIDGE_TOOLSETS="all")
    async with Client(StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env), timeout=120) as c:
        job = await call(c, "submit_job", script_content="sleep 30", hold=True, time_limit="5",
                         job_name="server-queue")
        try:
            assert " -q " not in job["script"].splitlines()[1]  # the qsub line names no queue
            details = await call(c, "get_job_details", job_id=job["job_id"])
            assert details["job"]["partition"] == "cpu"  # the server's default
        finally:
            await call(c, "cancel_job", job_id=job["job_id"])
