"""Limits before submitting (issue 28) through a real MCP client, on the real test clusters: Slurm 22.05 (the
account `capped` with GrpTRES=gres/gpu=2 and the QOS `short` with MaxWall=00:30:00, testcluster/cluster.sh) and
OpenPBS 23.06 (queue gpu with max_run_res.ngpus = [u:PBS_GENERIC=6], testcluster/openpbs.sh). What reached the
scheduler is checked with its own commands (squeue, qstat), not through hpcbridge. Job names carry a random tag;
only the jobs these tests submit are cancelled."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastmcp import Client

from ..conftest import openpbs_env
from .conftest import (
    HTTP_TOKEN,
    call,
    server_env,
    slurm_and_openpbs_toml,
    start_http_server,
    stdio_server,
    stop_and_read_log,
)
from .test_pbs_openpbs import error_of, pbs_shell

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def op() -> dict[str, str]:
    return openpbs_env()


@pytest.fixture(scope="module")
async def mcp(tc_env: dict[str, str], op: dict[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    config = slurm_and_openpbs_toml(tc_env, op, default="slurm")
    async with stdio_server(tmp_path_factory.mktemp("limits"), config, toolsets="jobs,account,agent,interactive") as client:
        yield client


def squeue_named(name: str) -> list[str]:
    """'id|state|account|gres' of the jobs named `name`, as Slurm's own squeue shows them."""
    out = subprocess.run(["squeue", "--noheader", "--name", name, "--format", "%i|%T|%a|%b"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return out.split()


def _reason(job_id: str) -> str:
    return subprocess.run(["squeue", "--noheader", "--jobs", job_id, "--format", "%r"], capture_output=True,
                          text=True, timeout=30, check=False).stdout.strip()


def scancel(job_id: str) -> None:
    subprocess.run(["scancel", job_id], capture_output=True, timeout=30, check=False)


async def test_get_limits_names_the_capped_account_and_the_short_qos(mcp: Client) -> None:
    result = await mcp.call_tool("get_limits", {"cluster": "slurm"})
    found = {(lim["reason"], lim["name"], lim["resource"], lim["value"]) for lim in result.structured_content["limits"]}
    assert ("AssocGrpGRES", "GrpTRES", "gres/gpu", 2) in found
    assert ("QOSMaxWallDurationPerJobLimit", "MaxWall", "wall", 30) in found
    assert result.structured_content["default_account"] == "research"
    grp = next(lim for lim in result.structured_content["limits"] if lim["reason"] == "AssocGrpGRES")
    assert grp["where"] == "account capped" and isinstance(grp["in_use"], int)
    assert "AssocGrpGRES (GrpTRES gres/gpu=2 on account capped" in result.content[0].text


async def test_grp_tres_refuses_three_gpus_before_sbatch_and_accepts_two_then_notes_the_wait(mcp: Client) -> None:
    tag = secrets.token_hex(3)
    over, fits, waits = f"h28b-over-{tag}", f"h28b-fits-{tag}", f"h28b-waits-{tag}"
    message = await error_of(mcp, "submit_job", script_content="sleep 5", job_name=over, partition="gpu",
                             account="capped", gpus=3, time_limit="10", cluster="slurm")
    assert "AssocGrpGRES" in message and "GrpTRES gres/gpu=2" in message and "gres/gpu=3" in message, message
    assert squeue_named(over) == []  # nothing reached the scheduler
    first = await call(mcp, "submit_job", script_content="sleep 300", job_name=fits, partition="gpu",
                       account="capped", gpus=2, time_limit="10", cluster="slurm")
    second = ""
    try:
        assert first["notes"] == [] and squeue_named(fits)[0].startswith(f"{first['job_id']}|")
        deadline = time.monotonic() + 120
        while "RUNNING" not in squeue_named(fits)[0]:  # the gpu nodes may be busy with other tests' jobs
            assert time.monotonic() < deadline, squeue_named(fits)
            await asyncio.sleep(2)
        # two GPUs of capped run now: one more fits the limit only once they end, so it is taken with a note
        result = await mcp.call_tool("submit_job", {"script_content": "sleep 5", "job_name": waits, "partition": "gpu",
                                                    "account": "capped", "gpus": 1, "time_limit": "5",
                                                    "cluster": "slurm"})
        second = result.structured_content["job_id"]
        (note,) = result.structured_content["notes"]
        assert "waits until running jobs end: AssocGrpGRES" in note and "2 in use" in note and "0 free now" in note
        assert f"note: {note}" in result.content[0].text
        assert squeue_named(waits)[0].startswith(f"{second}|")
        # AccountingStorageEnforce=limits: Slurm holds it with AssocGrpGRES; diagnose_job names limit and numbers
        deadline = time.monotonic() + 90
        while _reason(second) != "AssocGrpGRES":
            assert time.monotonic() < deadline, _reason(second)
            await asyncio.sleep(2)
        diagnosis = await call(mcp, "diagnose_job", job_id=second, cluster="slurm")
        assert diagnosis["cause"] == "pending", diagnosis
        assert "AssocGrpGRES (GrpTRES gres/gpu=2 on account capped, 2 in use)" in diagnosis["summary"], diagnosis
    finally:
        scancel(first["job_id"])
        if second:
            scancel(second)


async def test_qos_max_wall_refuses_a_longer_job_and_takes_a_shorter_one(mcp: Client) -> None:
    tag = secrets.token_hex(3)
    name = f"h28b-short-{tag}"
    message = await error_of(mcp, "submit_job", script_content="sleep 5", job_name=name, qos="short",
                             time_limit="1:00:00", cluster="slurm")
    assert "QOSMaxWallDurationPerJobLimit" in message and "MaxWall 00:30:00 on QOS short" in message, message
    assert squeue_named(name) == []
    # the same in a script's own directives: the effective request is judged
    script = "#!/bin/bash\n#SBATCH --qos=short\n#SBATCH --time=45\nsleep 5\n"
    message = await error_of(mcp, "submit_job", script_content=script, job_name=name, cluster="slurm")
    assert "QOSMaxWallDurationPerJobLimit" in message, message
    assert squeue_named(name) == []
    ok = await call(mcp, "submit_job", script_content="sleep 1", job_name=name, qos="short", time_limit="20",
                    hold=True, cluster="slurm")
    try:
        assert squeue_named(name)[0].startswith(f"{ok['job_id']}|")
    finally:
        scancel(ok["job_id"])


async def test_pbs_queue_max_run_res_live(mcp: Client, op: dict[str, str]) -> None:
    result = await mcp.call_tool("get_limits", {"cluster": "pbs"})
    (lim,) = [x for x in result.structured_content["limits"] if x["name"] == "max_run_res.ngpus"]
    assert (lim["value"], lim["partition"], lim["scope"]) == (6, "gpu", "queue_user")
    tag = secrets.token_hex(3)
    name = f"h28b-pbs-{tag}"
    message = await error_of(mcp, "submit_job", script_content="sleep 5", job_name=name, partition="gpu", nodes=2,
                             gpus=4, time_limit="10", cluster="pbs")
    assert "ngpus=8 exceeds max_run_res.ngpus" in message and "queue gpu" in message, message
    listed = pbs_shell(op, "qselect", "-N", name)
    assert listed.returncode == 0 and listed.stdout.strip() == "", listed
    ok = await call(mcp, "submit_job", script_content="sleep 5", job_name=name, partition="gpu", nodes=1, gpus=2,
                    time_limit="10", hold=True, cluster="pbs")
    try:
        assert pbs_shell(op, "qselect", "-N", name).stdout.split() == [ok["job_id"]]
    finally:
        pbs_shell(op, "qdel", ok["job_id"])


async def test_recommend_submission_ranks_down_what_a_queue_limit_keeps_pending(mcp: Client) -> None:
    # 8 GPUs on 2 nodes fit the gpu queue's nodes (4 each) but not its max_run_res.ngpus of 6 per user
    result = await call(mcp, "recommend_submission", gpus=8, nodes=2, time_limit="10", cluster="pbs")
    (gpu,) = [o for o in result["options"] if o["partition"] == "gpu"]
    assert not gpu["feasible"] and "max_run_res.ngpus" in gpu["why"], gpu
    fits = await call(mcp, "recommend_submission", gpus=6, nodes=2, time_limit="10", cluster="pbs")
    (gpu,) = [o for o in fits["options"] if o["partition"] == "gpu"]
    assert gpu["feasible"] and gpu["rank"] == 1, fits


async def test_sessions_and_modify_job_meet_the_same_limits(mcp: Client) -> None:
    tag = secrets.token_hex(3)
    message = await error_of(mcp, "run_interactive_command", command="hostname", partition="gpu", account="capped",
                             gpus_per_node=3, time_limit="5", cluster="slurm")
    assert "AssocGrpGRES" in message and "GrpTRES gres/gpu=2" in message, message
    name = f"h28b-modify-{tag}"
    held = await call(mcp, "submit_job", script_content="sleep 1", job_name=name, time_limit="1:00:00", hold=True,
                      cluster="slurm")
    try:
        message = await error_of(mcp, "modify_job", job_id=held["job_id"], qos="short", cluster="slurm")
        assert "QOSMaxWallDurationPerJobLimit" in message and "MaxWall 00:30:00" in message, message
        assert squeue_named(name) == [f"{held['job_id']}|PENDING|research|N/A"]  # its QOS was not changed
        ok = await call(mcp, "modify_job", job_id=held["job_id"], qos="short", time_limit="20", cluster="slurm")
        assert ok, ok
    finally:
        scancel(held["job_id"])


def test_compute_page_limits_part(tc_env: dict[str, str], op: dict[str, str], tmp_path: Path) -> None:
    """The dashboard's compute page loads its limits part from /compute/limits (htmx): both clusters' limits,
    each with what is in use; read over HTTP as a logged-in browser would."""
    (tmp_path / "config.toml").write_text(slurm_and_openpbs_toml(tc_env, op, default="slurm"))
    env = server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_STATE_DIR=str(tmp_path / "state"),
                     HPCBRIDGE_CONFIG=str(tmp_path / "config.toml"))
    for key in [k for k in env if k.startswith("SLURM_")]:
        del env[key]  # both clusters come from the file
    proc, url = start_http_server(env)
    try:
        base = url.removesuffix("/mcp")
        answer = httpx.post(f"{base}/login", data={"token": HTTP_TOKEN}, follow_redirects=False, timeout=30)
        assert answer.status_code == 303, answer.text
        name, _, rest = answer.headers["set-cookie"].partition("=")
        with httpx.Client(base_url=base, cookies={name: rest.split(";", 1)[0]}, timeout=120) as browser:
            assert 'hx-get="/compute/limits"' in browser.get("/compute").text
            part = browser.get("/compute/limits").text
    finally:
        log = stop_and_read_log(proc)
    assert "Traceback" not in log, log[-3000:]
    slurm, _, pbs = part.partition('data-cluster="pbs"')
    assert 'data-reason="AssocGrpGRES"><td><code>AssocGrpGRES</code></td><td>GrpTRES</td>' in slurm
    assert "account capped" in slurm and "gres/gpu=2" in slurm and "QOSMaxWallDurationPerJobLimit" in slurm
    assert 'data-reason="max_run_res.ngpus"' in pbs and "queue gpu" in pbs and "ngpus=6" in pbs


async def test_pbs_second_gpu_job_waits_on_the_queue_limit_and_diagnose_names_it(mcp: Client,
                                                                                   op: dict[str, str]) -> None:
    tag = secrets.token_hex(3)
    first = await call(mcp, "submit_job", script_content="sleep 120", job_name=f"h28b-pbs1-{tag}", partition="gpu",
                       gpus=4, time_limit="5", cluster="pbs")
    second = ""
    try:
        deadline = time.monotonic() + 120
        while (await call(mcp, "get_job_details", job_id=first["job_id"], cluster="pbs"))["job"]["state"] != "RUNNING":
            assert time.monotonic() < deadline, "the first job did not start"
            await asyncio.sleep(2)
        # 4 of the user's 6 ngpus run in the queue: 4 more fit a node but not the limit until the first ends
        result = await mcp.call_tool("submit_job", {"script_content": "sleep 5", "job_name": f"h28b-pbs2-{tag}",
                                                    "partition": "gpu", "gpus": 4, "time_limit": "5", "cluster": "pbs"})
        second = result.structured_content["job_id"]
        (note,) = result.structured_content["notes"]
        assert "ngpus=4 waits until running jobs end: max_run_res.ngpus" in note and "4 in use" in note, note
        deadline = time.monotonic() + 90
        while "limit" not in (comment := qstat_comment(op, second)):  # the scheduler's own words, next cycle
            assert time.monotonic() < deadline, comment
            await asyncio.sleep(2)
        diagnosis = await call(mcp, "diagnose_job", job_id=second, cluster="pbs")
        assert "max_run_res.ngpus (max_run_res.ngpus ngpus=6 on queue gpu, 4 in use)" in diagnosis["summary"], diagnosis
    finally:
        for job in (first["job_id"], second):
            if job:
                pbs_shell(op, "qdel", job)


def qstat_comment(op: dict[str, str], job_id: str) -> str:
    out = pbs_shell(op, "qstat", "-f", "-F", "json", job_id)
    return str(next(iter(json.loads(out.stdout)["Jobs"].values())).get("comment", "")) if out.returncode == 0 else ""
