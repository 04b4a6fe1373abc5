"""The PBS plan's tools, resources and prompts live against the test cluster's OpenPBS 23.06 complex
(testcluster/openpbs.sh: queues workq and gpu, vnodes gpu1-2 with 4 `ngpus` each and cpu1-2, job history on)
through a real MCP client. The server is configured only by a TOML file: `pbs` (scheduler = "pbs", the
OpenPBS login sshd) and `slurm` (the Slurm test cluster) for what crosses schedulers (recommend_submission,
modify_job on both). What the scheduler says is checked with its own commands (qstat, squeue), not through
hpcbridge. One server for the module."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from ..conftest import openpbs_env
from .conftest import call, slurm_and_openpbs_toml, stdio_server

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]
MAX_TIME = "72:00:00"  # the pbs cluster's policy.max_time (workq itself allows 168 h, gpu 24 h)


@pytest.fixture(scope="module")
def op() -> dict[str, str]:
    return openpbs_env()


@pytest.fixture(scope="module")
async def mcp(tc_env: dict[str, str], op: dict[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    config = slurm_and_openpbs_toml(tc_env, op, top='tool_aliases = ["pbs"]\n', default="pbs",
                                    pbs_extra=f'[clusters.pbs.policy]\nmax_time = "{MAX_TIME}"\n')
    async with stdio_server(tmp_path_factory.mktemp("openpbs"), config) as client:
        yield client


def pbs_shell(op: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """A command on the OpenPBS login node, as the test user (outside hpcbridge)."""
    ssh = ["ssh", "-i", op["OPENPBS_SSH_KEY_PATH"], "-o", f"UserKnownHostsFile={op['OPENPBS_SSH_KNOWN_HOSTS']}",
           "-o", "BatchMode=yes", "-p", op["OPENPBS_SSH_PORT"], f"{op['OPENPBS_SSH_USER']}@{op['OPENPBS_SSH_HOST']}"]
    return subprocess.run([*ssh, *argv], capture_output=True, text=True, timeout=60, check=False)


def qstat(op: dict[str, str], job_id: str) -> dict[str, Any]:
    """The job as OpenPBS's own `qstat -f -x -F json` shows it."""
    out = pbs_shell(op, "qstat", "-f", "-x", "-F", "json", job_id)
    assert out.returncode == 0, out.stderr
    return dict(next(iter(json.loads(out.stdout)["Jobs"].values())))


def squeue(job_id: str) -> str:
    return subprocess.run(["squeue", "--noheader", "--jobs", job_id, "--format", "%j|%l|%P|%r"],
                          capture_output=True, text=True, timeout=30, check=False).stdout.strip()


async def error_of(client: Client, tool: str, **arguments: Any) -> str:
    with pytest.raises(ToolError) as err:
        await client.call_tool(tool, arguments)
    return str(err.value)


async def test_modify_job_on_openpbs_is_qalter_and_qmove(mcp: Client, op: dict[str, str]) -> None:
    tag = secrets.token_hex(3)
    job = (await call(mcp, "submit_job", script_content="sleep 600", job_name=f"opbs-mod-{tag}", time_limit="10",
                      hold=True, cluster="pbs"))["job_id"]
    try:
        done = await call(mcp, "modify_job", job_id=job, time_limit="2:30:00", job_name=f"opbs-new-{tag}",
                          cluster="pbs")
        assert done["changed"] == {"time_limit": "2:30:00", "job_name": f"opbs-new-{tag}"} and done["state"] == "HELD"
        seen = qstat(op, job)
        assert seen["Job_Name"] == f"opbs-new-{tag}" and seen["Resource_List"]["walltime"] == "02:30:00"
        assert seen["job_state"] == "H" and seen["queue"] == op["OPENPBS_DEFAULT_QUEUE"]

        # the effective request is judged: the job's own 2.5 h fits the gpu queue; 30 h does not (max 24 h),
        # nor does policy's max_time; refused before qalter/qmove, so the job is as it was
        assert "exceeds partition 'gpu' limit of 1-00:00:00" in await error_of(
            mcp, "modify_job", job_id=job, partition=op["OPENPBS_GPU_QUEUE"], time_limit="30:00:00", cluster="pbs")
        assert f"exceeds the policy limit of {MAX_TIME}" in await error_of(
            mcp, "modify_job", job_id=job, time_limit="100:00:00", cluster="pbs")
        assert "invalid job_name" in await error_of(mcp, "modify_job", job_id=job, job_name="a;b", cluster="pbs")
        assert "invalid time_limit: nothing to change" in await error_of(mcp, "modify_job", job_id=job,
                                                                          cluster="pbs")
        seen = qstat(op, job)
        assert seen["queue"] == op["OPENPBS_DEFAULT_QUEUE"] and seen["Resource_List"]["walltime"] == "02:30:00"

        # the queue is qmove's; GPUs rewrite the select statement, the rest of the chunk kept
        await call(mcp, "modify_job", job_id=job, partition=op["OPENPBS_GPU_QUEUE"], gpus=2, cluster="pbs")
        seen = qstat(op, job)
        assert seen["queue"] == op["OPENPBS_GPU_QUEUE"] and seen["Resource_List"]["select"] == "1:ncpus=1:ngpus=2"
        assert "GPUs per node requested" in await error_of(mcp, "modify_job", job_id=job, gpus=8, cluster="pbs")
    finally:
        await call(mcp, "delete_job", job_id=job, cluster="pbs")
    assert "only a queued job" in await error_of(mcp, "modify_job", job_id=job, job_name="late", cluster="pbs")


async def test_modify_job_on_slurm_is_scontrol_update(mcp: Client) -> None:
    tag = secrets.token_hex(3)
    job = (await call(mcp, "submit_job", script_content="sleep 600", job_name=f"slm-mod-{tag}", time_limit="10",
                      hold=True, cluster="slurm"))["job_id"]
    try:
        await call(mcp, "modify_job", job_id=job, time_limit="1:30:00", job_name=f"slm-new-{tag}",
                   partition="interactive", cluster="slurm")
        name, limit, partition, reason = squeue(job).split("|")
        assert (name, limit, partition) == (f"slm-new-{tag}", "1:30:00", "interactive") and "Held" in reason
        assert "exceeds partition 'interactive' limit" in await error_of(mcp, "modify_job", job_id=job,
                                                                          time_limit="8:00:00", cluster="slurm")
        assert squeue(job).split("|")[1] == "1:30:00"
    finally:
        await call(mcp, "cancel_job", job_id=job, cluster="slurm")


async def resource(client: Client, uri: str) -> Any:
    return json.loads((await client.read_resource(uri))[0].text)


async def test_queues_nodes_and_status(mcp: Client, op: dict[str, str]) -> None:
    queues = {q["name"]: q for q in (await call(mcp, "list_queues", cluster="pbs"))["partitions"]}
    assert set(queues) == {op["OPENPBS_DEFAULT_QUEUE"], op["OPENPBS_GPU_QUEUE"]}
    assert queues[op["OPENPBS_DEFAULT_QUEUE"]]["is_default"] and queues["gpu"]["max_time_minutes"] == 24 * 60
    one = await call(mcp, "list_queues", queue_name="gpu", cluster="pbs")
    assert [q["name"] for q in one["partitions"]] == ["gpu"]
    nodes = await call(mcp, "list_nodes", state_filter="all", cluster="pbs")
    gpus = {n["name"]: sum(g["count"] for g in n["gpus"]) for n in nodes["items"]}
    assert gpus == {"gpu1": 4, "gpu2": 4, "cpu1": 0, "cpu2": 0}  # the custom ngpus resource
    free = await call(mcp, "list_nodes", state_filter="free", cluster="pbs")
    busy = await call(mcp, "list_nodes", state_filter="busy", cluster="pbs")
    assert all(n["state"] == "IDLE" for n in free["items"]) and all(n["state"] != "IDLE" for n in busy["items"])
    assert len(free["items"]) + len(busy["items"]) <= 4
    status = await call(mcp, "get_cluster_status", cluster="pbs")
    assert op["OPENPBS_VERSION"] in status["scheduler_version"]
    system = await resource(mcp, "pbs://system/status")
    assert system["scheduler"] == "pbs"
    queue = await resource(mcp, "pbs://queue/gpu")
    assert queue["cluster"] == "pbs" and queue["partition"]["total_gpus"] == 8 and "jobs_by_state" in queue
    privileges = await resource(mcp, "pbs://user/privileges")
    assert privileges["user"] == op["OPENPBS_SSH_USER"] and "ordinary user" in privileges["privileges"]


async def test_select_dependency_hold_release_delete_and_history(mcp: Client, op: dict[str, str]) -> None:
    tag = secrets.token_hex(3)
    blocker = (await call(mcp, "submit_job", script_content="sleep 600", job_name=f"opbs-a-{tag}", gpus=1,
                          partition="gpu", time_limit="10", hold=True, cluster="pbs"))["job_id"]
    script = "#!/bin/bash\n#PBS -l select=1:ncpus=4:ngpus=1\nsleep 600\n"
    try:
        job = (await call(mcp, "submit_job", script_content=script, job_name=f"opbs-b-{tag}", partition="gpu",
                          time_limit="5", dependency=f"afterok:{blocker}", cluster="pbs"))["job_id"]
        seen = qstat(op, job)
        assert seen["Resource_List"]["select"] == "1:ncpus=4:ngpus=1" and seen["queue"] == "gpu"
        assert f"afterok:{blocker}" in seen["depend"] and seen["job_state"] == "H"  # a system hold till then
        status = await call(mcp, "get_job_status", job_id=job, cluster="pbs")
        assert status["job"]["state"] == "HELD" and status["job"]["native_state"] == "H"
        assert status["job"]["time_limit"] == "00:05:00" and status["job"]["partition"] == "gpu"
        held = await call(mcp, "list_jobs", user="me", state="H", limit=500, cluster="pbs")
        assert {blocker, job} <= {r["job_id"] for r in held["items"]}
        assert job not in {r["job_id"] for r in (await call(mcp, "list_jobs", user="me", state="R", limit=500,
                                                            cluster="pbs"))["items"]}

        await call(mcp, "hold_job", job_id=job, cluster="pbs")
        assert "u" in qstat(op, job)["Hold_Types"]
        await call(mcp, "release_job", job_id=job, cluster="pbs")
        assert "u" not in qstat(op, job)["Hold_Types"]

        assert job in {j["job_id"] for j in await resource(mcp, "pbs://user/jobs")}
        assert (await resource(mcp, f"pbs://job/{job}"))["job"]["name"] == f"opbs-b-{tag}"
        assert (await call(mcp, "delete_job", job_id=job, cluster="pbs"))["ok"]
        assert qstat(op, job)["job_state"] == "F"
    finally:
        await call(mcp, "delete_job", job_id=blocker, cluster="pbs")
    history = await call(mcp, "get_job_history", job_id=job, cluster="pbs")  # qstat -x
    assert [r["job_id"] for r in history["items"]] == [job] and history["items"][0]["native_state"] == "F"
    assert history["items"][0]["state"] == "CANCELLED"  # substate 91: qdel'ed while held, no Exit_status
    mine = await call(mcp, "get_job_history", user="me", start_time="now-1days", limit=500, cluster="pbs")
    assert {job, blocker} <= {r["job_id"] for r in mine["items"]}


async def test_arrays_from_the_parameter_and_from_the_script(mcp: Client, op: dict[str, str]) -> None:
    tag = secrets.token_hex(3)
    by_param = (await call(mcp, "submit_job", script_content="sleep 300", job_name=f"opbs-arr-{tag}", array="1-3",
                           time_limit="5", hold=True, cluster="pbs"))["job_id"]
    by_script = (await call(mcp, "submit_job", script_content="#!/bin/bash\n#PBS -J 1-3\nsleep 300\n",
                            job_name=f"opbs-arj-{tag}", time_limit="5", hold=True, cluster="pbs"))["job_id"]
    try:
        for parent in (by_param, by_script):
            assert "[]" in parent and qstat(op, parent)["array_indices_submitted"] == "1-3"
            number = parent.split("[")[0]
            rows = (await call(mcp, "list_jobs", user="me", limit=500, cluster="pbs"))["items"]
            tasks = sorted(r["job_id"] for r in rows if r["job_id"].startswith(f"{number}["))
            assert tasks == [parent.replace("[]", f"[{i}]") for i in (1, 2, 3)], tasks  # one row per subjob
    finally:
        for parent in (by_param, by_script):
            await call(mcp, "delete_job", job_id=parent, cluster="pbs")


async def test_diagnose_a_failed_job_and_a_walltime_overrun(mcp: Client, op: dict[str, str]) -> None:
    tag = secrets.token_hex(3)
    failed = (await call(mcp, "submit_job", script_content="echo going; exit 3", job_name=f"opbs-fail-{tag}",
                         time_limit="2", cluster="pbs"))["job_id"]
    overrun = (await call(mcp, "submit_job", script_content="sleep 600", job_name=f"opbs-over-{tag}",
                          time_limit="1", cluster="pbs"))["job_id"]
    for job in (failed, overrun):
        waited = await call(mcp, "wait_for_job", job_id=job, until="final", timeout=200, cluster="pbs")
        assert waited["wait"]["reached"], waited
    assert qstat(op, failed)["Exit_status"] == 3 and qstat(op, overrun)["Exit_status"] == -29  # JOB_EXEC_KILL_WALLTIME
    diagnosis = await call(mcp, "diagnose_job", job_id=failed, cluster="pbs")
    assert diagnosis["cause"] == "nonzero_exit" and diagnosis["state"] == "FAILED", diagnosis
    assert any("3" in line for line in diagnosis["evidence"])
    diagnosis = await call(mcp, "diagnose_job", job_id=overrun, cluster="pbs")
    assert diagnosis["cause"] == "time_limit" and diagnosis["state"] == "TIMEOUT", diagnosis
    history = await call(mcp, "get_job_history", user="me", state="FAILED,TIMEOUT", start_time="now-1days",
                         limit=500, cluster="pbs")
    states = {r["job_id"]: (r["state"], r["exit_code"]) for r in history["items"]}
    assert states[failed][0] == "FAILED" and states[overrun][0] == "TIMEOUT", states


async def test_prompts_and_recommendation_across_slurm_and_openpbs(mcp: Client) -> None:
    guide = (await mcp.get_prompt("submit_job_guide", {"job_type": "gpu", "queue": "gpu"})).messages[0]
    assert "submit_job" in guide.content.text  # type: ignore[union-attr]
    failure = (await mcp.get_prompt("diagnose_job_failure", {"job_id": "1.vm"})).messages[0]
    assert "diagnose_job" in failure.content.text  # type: ignore[union-attr]
    optimize = (await mcp.get_prompt("optimize_resources", {"workload_description": "bert"})).messages[0]
    assert "recommend_submission" in optimize.content.text  # type: ignore[union-attr]
    best = await call(mcp, "recommend_submission", gpus=2, time_limit="1:00:00")
    options = {(o["cluster"], o["partition"]): o for o in best["options"]}
    assert options[("pbs", "gpu")]["feasible"] and options[("slurm", "gpu")]["feasible"], options
    assert "PBS gives no start estimate" in options[("pbs", "gpu")]["why"]
    assert not options.get(("pbs", "workq"), {"feasible": False})["feasible"]  # no GPUs in workq


async def test_hostile_values_through_real_qsub_and_qalter(mcp: Client, op: dict[str, str],
                                                           tc_env: dict[str, str]) -> None:
    """Every string parameter of submit_job (real, held submissions: no test_only on PBS) and of modify_job
    (against a real held job, so a value that passes goes to qalter/qmove): no injected command runs."""
    import asyncio

    from .test_safety_and_scale import _markers, _remove_literal_names, _string_params, payloads

    tag = f"hpcb-pwned-{secrets.token_hex(4)}"
    target = (await call(mcp, "submit_job", script_content="sleep 300", job_name=f"opbs-hostile-{tag[-8:]}",
                         time_limit="5", hold=True, cluster="pbs"))["job_id"]
    tools = {t.name: t for t in await mcp.list_tools()}
    calls: list[tuple[str, dict[str, Any]]] = []
    for param in _string_params(tools["submit_job"].input_schema):
        if param not in ("script_content", "cluster"):
            calls += [("submit_job", {"script_content": "true", "hold": True, "time_limit": "1", "cluster": "pbs",
                                      param: value}) for value in payloads(f"/tmp/{tag}-qsub-{param}")]
    for param in _string_params(tools["modify_job"].input_schema):
        if param != "cluster":
            calls += [("modify_job", {"job_id": target, "cluster": "pbs", param: value})
                      for value in payloads(f"/tmp/{tag}-qalter-{param}")]
    gate = asyncio.Semaphore(8)
    accepted: list[dict[str, Any]] = []

    async def one(tool: str, args: dict[str, Any]) -> None:
        async with gate:
            try:
                accepted.append(await call(mcp, tool, **args))
            except ToolError:
                pass

    try:
        await asyncio.gather(*(one(tool, args) for tool, args in calls))
    finally:
        for job in {a["job_id"] for a in accepted} | {target}:
            pbs_shell(op, "qdel", job)
    assert len(calls) > 2000, len(calls)
    assert _markers(tag) == [], f"a hostile value ran a command ({len(calls)} calls, {len(accepted)} accepted)"
    _remove_literal_names(tag, tc_env["SLURM_USER_ROOT"])
