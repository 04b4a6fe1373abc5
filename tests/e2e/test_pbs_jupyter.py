"""Through the backend seam, Jupyter kernels on PBS: the Jupyter server is an ordinary batch job found by name
and reached through the transport, so it runs on Torque (the test cluster's Debian wrappers) and on the real
OpenPBS 23.06 complex as on Slurm. Sessions and one-shot commands stay Slurm's: on PBS they are refused in
one line (qsub -I needs a terminal an agent has not)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

from ..conftest import openpbs_env
from .conftest import call, hpcbridge_executable

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


def _toml(tc: dict[str, str], op: dict[str, str]) -> str:
    common = (f'user_root = "{tc["SLURM_USER_ROOT"]}"\njupyter_venv = "{tc["SLURM_JUPYTER_VENV"]}"\n'
              f'key_path = "{tc["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc["SLURM_SSH_KNOWN_HOSTS"]}"\n'
              f'host = "{tc["SLURM_SSH_HOST"]}"\nuser = "{tc["SLURM_SSH_USER"]}"\n')
    return (f'[clusters.slurm]\nport = {tc["SLURM_SSH_PORT"]}\ndefault_partition = "cpu"\n{common}\n'
            f'[clusters.torque]\nscheduler = "pbs"\nport = {tc["SLURM_SSH_PORT"]}\ndefault_partition = "cpu"\n{common}\n'
            f'[clusters.openpbs]\nscheduler = "pbs"\nport = {op["OPENPBS_SSH_PORT"]}\n'
            f'default_partition = "{op["OPENPBS_DEFAULT_QUEUE"]}"\n{common}')


def _openpbs_jobs(op: dict[str, str]) -> str:
    ssh = ["ssh", "-i", op["OPENPBS_SSH_KEY_PATH"], "-o", f"UserKnownHostsFile={op['OPENPBS_SSH_KNOWN_HOSTS']}",
           "-o", "BatchMode=yes", "-p", op["OPENPBS_SSH_PORT"], f"{op['OPENPBS_SSH_USER']}@{op['OPENPBS_SSH_HOST']}"]
    return subprocess.run([*ssh, "qstat"], capture_output=True, text=True, timeout=30, check=False).stdout


def _slurm_jobs() -> str:
    return subprocess.run(["squeue", "--noheader", "--format", "%i"], capture_output=True, text=True,
                          check=True).stdout


async def _gone(listing: Callable[[], str], job_id: str, seconds: float = 60) -> bool:
    """The job left the queue (OpenPBS lets the server shut down within its kill_delay)."""
    number = re.compile(rf"^{re.escape(job_id.split('.')[0])}\b", re.MULTILINE)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not number.search(listing()):
            return True
        await asyncio.sleep(1)
    return False


async def test_a_kernel_on_torque_and_on_openpbs_and_no_session_there(tc_env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    op = openpbs_env()
    config = tmp_path / "config.toml"
    config.write_text(_toml(tc_env, op))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(config), HPCBRIDGE_STATE_DIR=str(tmp_path / "state"), HPCBRIDGE_TOOLSETS="all")
    started: dict[str, str] = {}
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False)
    async with Client(transport, timeout=200) as mcp:
        for cluster, queue in (("torque", "cpu"), ("openpbs", op["OPENPBS_DEFAULT_QUEUE"])):
            session = await call(mcp, "start_kernel_session", notebook=f"seam-{cluster}", partition=queue,
                                 time_limit="0:20:00", start_timeout=150, cluster=cluster)
            started[cluster] = session["job_id"]
            out = await call(mcp, "execute_code", notebook=f"seam-{cluster}", code="6 * 7", cluster=cluster)
            assert out["status"] == "ok" and out["text"] == "42\n", (cluster, out)
        with pytest.raises(ToolError, match=r"^interactive work \(sessions and one-shot commands\) on 'openpbs' is "
                                            r"not supported on pbs: submit a batch job with submit_job instead$"):
            await call(mcp, "run_interactive_command", command="hostname", cluster="openpbs")
        with pytest.raises(ToolError, match="not supported on pbs"):
            await call(mcp, "start_interactive_session", partition="cpu", cluster="torque")
    # the servers end with their client, on both
    assert await _gone(_slurm_jobs, started["torque"]), started
    assert await _gone(lambda: _openpbs_jobs(op), started["openpbs"]), started
