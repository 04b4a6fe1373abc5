"""Two-factor sites: the test cluster's third sshd asks, after the key, for a one-time code
(testcluster/cluster.sh start_otp_sshd). asyncssh cannot answer it; `hpcbridge login` opens an OpenSSH master
in a terminal (a pty here, answering the code once) and every tool then rides it without another prompt."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

from ..conftest import TC_DIR
from .conftest import call, hpcbridge_executable, login_through_a_pty, openssh_env, server_env

pytestmark = pytest.mark.cluster


def _short_home() -> Path:
    # a Unix socket path must stay under 108 bytes: pytest's tmp_path can be longer
    import tempfile

    return Path(tempfile.mkdtemp(prefix="hpcb-"))


def test_asyncssh_cannot_answer_the_code_and_says_what_to_use(tc_env: dict[str, str]) -> None:
    env = server_env(tc_env, SLURM_SSH_PORT=openssh_env(tc_env, Path("/"))["SLURM_SSH_PORT"])
    out = subprocess.run([hpcbridge_executable(), "check"], env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 1 and 'transport = "openssh"' in out.stdout and "hpcbridge login" in out.stdout, out.stdout


async def test_after_one_login_the_tools_ride_the_master_until_it_dies(tc_env: dict[str, str]) -> None:
    home = _short_home()
    env = openssh_env(tc_env, home)
    with pytest.raises(ToolError, match=r"no SSH master for default .*hpcbridge login default"):
        async with Client(StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env,
                                         keep_alive=False), timeout=60) as client:
            await call(client, "list_jobs", limit=1)
    used = (TC_DIR / "otp-code").read_text()
    status, shown, asked = login_through_a_pty(env)
    assert status == 0 and asked == 1 and "logged in: Master running" in shown, shown
    assert (TC_DIR / "otp-code").read_text() != used  # one-time: the site now expects another code
    again = await asyncio.to_thread(subprocess.run, [hpcbridge_executable(), "login"], env=env,
                                    capture_output=True, text=True, timeout=30, check=False)
    assert again.returncode == 0 and "already logged in" in again.stdout
    checked = await asyncio.to_thread(subprocess.run, [hpcbridge_executable(), "check"], env=env,
                                      capture_output=True, text=True, timeout=60, check=False)
    assert "default: openssh master: Master running" in checked.stdout, checked.stdout
    async with Client(StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False),
                      timeout=120) as client:
        jobs = await call(client, "list_jobs", limit=1)
        assert jobs["total"] >= 0
        job = await call(client, "submit_job", script_content="echo over-the-master", time_limit="5",
                         partition="cpu")  # the script travels on stdin, through the master
        for _ in range(60):
            details = await call(client, "get_job_details", job_id=job["job_id"])
            if details["job"]["state"] == "COMPLETED":
                break
            await asyncio.sleep(1)
        out = await call(client, "read_job_output", job_id=job["job_id"])
        assert out["content"] == "over-the-master\n"
        await call(client, "write_file", path=f"openssh-{home.name}.txt", content="x\n", directory_type="results")
        await asyncio.to_thread(subprocess.run, ["ssh", "-S", str(home / ".ssh" / "hpcbridge-default.sock"), "-O",
                                "exit", "x"], capture_output=True, check=False, timeout=10)
        started = time.monotonic()
        with pytest.raises(ToolError, match=r"no SSH master for default .*hpcbridge login default"):
            await call(client, "list_jobs", limit=1)
        assert time.monotonic() - started < 15
