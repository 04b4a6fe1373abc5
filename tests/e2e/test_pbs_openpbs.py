"""The PBS plan's tools, resources and prompts live against the test cluster's OpenPBS 23.06 complex
(testcluster/openpbs.sh: queues workq and gpu, vnodes gpu1-2 with 4 `ngpus` each and cpu1-2, job history on)
through a real MCP client. The server is configured only by a TOML file: `pbs` (scheduler = "pbs", the
OpenPBS login sshd) and `slurm` (the Slurm test cluster) for what crosses schedulers (recommend_submission,
modify_job on both). What the scheduler says is checked with its own commands (qstat, squeue), not through
hpcbridge. One server for the module."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

from ..conftest import openpbs_env
from .conftest import call, hpcbridge_executable

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]
MAX_TIME = "72:00:00"  # the pbs cluster's policy.max_time (workq itself allows 168 h, gpu 24 h)


def _toml(tc: dict[str, str], op: dict[str, str]) -> str:
    common = (f'key_path = "{tc["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc["SLURM_SSH_KNOWN_HOSTS"]}"\n'
              f'host = "{tc["SLURM_SSH_HOST"]}"\nuser = "{tc["SLURM_SSH_USER"]}"\n'
              f'user_root = "{tc["SLURM_USER_ROOT"]}"\n')
    return (f'tool_aliases = ["pbs"]\n\n'
            f'[clusters.pbs]\nscheduler = "pbs"\nport = {op["OPENPBS_SSH_PORT"]}\n{common}'
            f'[clusters.pbs.policy]\nmax_time = "{MAX_TIME}"\n\n'
            f'[clusters.slurm]\nport = {tc["SLURM_SSH_PORT"]}\ndefault_partition = "cpu"\n{common}')


@pytest.fixture(scope="module")
def op() -> dict[str, str]:
    return openpbs_env()


@pytest.fixture(scope="module")
async def mcp(tc_env: dict[str, str], op: dict[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    home = tmp_path_factory.mktemp("openpbs")
    (home / "config.toml").write_text(_toml(tc_env, op))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(home / "config.toml"), HPCBRIDGE_STATE_DIR=str(home / "state"),
               HPCBRIDGE_TOOLSETS="all")
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False)
    async with Client(transport, timeout=200) as client:
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
