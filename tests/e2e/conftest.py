"""End to end: a real MCP client spawns the installed `hpcbridge serve` (stdio) or talks to it over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from ..conftest import TC_DIR, cluster_env

HTTP_TOKEN = "e2e-" + os.urandom(16).hex()  # tokens under 32 characters are refused


def hpcbridge_executable() -> str:
    """The console script installed with the package (beside this interpreter, else on PATH)."""
    beside = Path(sys.executable).parent / "hpcbridge"
    found = str(beside) if beside.exists() else shutil.which("hpcbridge")
    if not found:
        pytest.fail("the hpcbridge console script is not installed (pip install -e '.[test]')")
    return found


def server_env(tc_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    env.update(tc_env)
    env["HPCBRIDGE_CONFIG"] = ""
    env["HPCBRIDGE_TOOLSETS"] = "all"  # the suites exercise every tool; the default set is tested apart
    env["HPCBRIDGE_STATE_DIR"] = os.environ["HPCBRIDGE_STATE_DIR"]  # tests/conftest.py: apart from the user's
    env.update(extra)
    return env


def slurm_and_openpbs_toml(tc: dict[str, str], op: dict[str, str], *, default: str = "", pbs_extra: str = "",
                           top: str = "") -> str:
    """A server file with two clusters, both as the test user with the test key: `slurm` (the Slurm test
    cluster) and `pbs` (its OpenPBS 23.06 complex, testcluster/openpbs.sh); `default` names the default one
    (else the first, slurm). `pbs_extra` goes into [clusters.pbs]
    (or after it: a [clusters.pbs.policy] table), `top` before the tables."""
    common = (f'key_path = "{tc["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc["SLURM_SSH_KNOWN_HOSTS"]}"\n'
              f'host = "{tc["SLURM_SSH_HOST"]}"\nuser = "{tc["SLURM_SSH_USER"]}"\n'
              f'user_root = "{tc["SLURM_USER_ROOT"]}"\n')
    slurm_default, pbs_default = ("default = true\n" if default == name else "" for name in ("slurm", "pbs"))
    return (f'{top}\n[clusters.slurm]\n{slurm_default}port = {tc["SLURM_SSH_PORT"]}\ndefault_partition = "cpu"\n'
            f'{common}\n[clusters.pbs]\nscheduler = "pbs"\n{pbs_default}port = {op["OPENPBS_SSH_PORT"]}\n{common}'
            f'{pbs_extra}')


@contextlib.asynccontextmanager
async def stdio_server(home: Path, config: str, toolsets: str = "all") -> AsyncIterator[Client]:
    """A real MCP client on `hpcbridge serve` (stdio) configured only by `config` (TOML) in `home`; the
    server process ends with the client."""
    (home / "config.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(home / "config.toml"), HPCBRIDGE_STATE_DIR=str(home / "state"),
               HPCBRIDGE_TOOLSETS=toolsets)
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False)
    async with Client(transport, timeout=200) as client:
        yield client


@pytest.fixture(scope="session")
def tc_env() -> dict[str, str]:
    return cluster_env()


@pytest.fixture(scope="session")
async def mcp(tc_env: dict[str, str]) -> AsyncIterator[Client]:
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=server_env(tc_env))
    async with Client(transport, timeout=120) as client:
        yield client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_LOGS: dict[int, Path] = {}


def stop_and_read_log(proc: subprocess.Popen[bytes], timeout: float = 20) -> str:
    """Stop a server from start_http_server; return what it wrote to stderr (its log and audit log)."""
    proc.terminate()
    proc.wait(timeout)
    return _LOGS.pop(proc.pid).read_text()


def start_http_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`hpcbridge serve --transport http` on a free loopback port; returns once it accepts connections."""
    port = _free_port()
    # stderr goes to a file: an unread pipe fills after ~64 KB of audit log and then blocks the server
    log = tempfile.NamedTemporaryFile(prefix="hpcbridge-http-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [hpcbridge_executable(), "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )
    log.close()
    _LOGS[proc.pid] = Path(log.name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"hpcbridge serve --transport http exited: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.2)
    proc.kill()
    pytest.fail("hpcbridge serve --transport http did not start within 30 s")


@pytest.fixture(scope="session")
def http_server(tc_env: dict[str, str]) -> Iterator[str]:
    # this server also enables run_shell_command with an allowlist, to test both sides of the switch
    proc, url = start_http_server(server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, SLURM_ALLOW_SHELL="true",
                                             SLURM_SHELL_ALLOWLIST="echo,hostname,squeue"))
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
async def mcp_http(http_server: str) -> AsyncIterator[Client]:
    async with Client(StreamableHttpTransport(http_server, auth=HTTP_TOKEN), timeout=120) as client:
        yield client


def post_status(url: str, headers: dict[str, str], method: str = "tools/list",
                params: dict[str, Any] | None = None) -> int:
    """The HTTP status of one raw JSON-RPC POST (for the front-door checks: tokens, Host, Origin)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Accept": "application/json, text/event-stream", "Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool; return its structured content (raises ToolError on a tool error)."""
    result = await client.call_tool(tool, arguments)
    assert result.content and result.content[0].text, f"{tool} returned no text rendering"
    return result.structured_content or {}


async def wait_final(client: Client, job_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        details = await call(client, "get_job_details", job_id=job_id)
        if details["job"]["state"] in {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY",
                                       "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}:
            return details
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {details['job']['state']} after {timeout}s")
        await asyncio.sleep(1)


def as_cluster_user(tc_env: dict[str, str], script: str, *args: str) -> str:
    """Prepare test data as the ordinary user over SSH (a fixed script; values are positional args)."""
    argv = ["ssh", "-p", tc_env["SLURM_SSH_PORT"], "-i", tc_env["SLURM_SSH_KEY_PATH"], "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={tc_env['SLURM_SSH_KNOWN_HOSTS']}",
            f"{tc_env['SLURM_SSH_USER']}@{tc_env['SLURM_SSH_HOST']}",
            shlex.join(["sh", "-c", script, "prepare", *args])]
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120).stdout


def openssh_env(tc_env: dict[str, str], home: Path, **extra: str) -> dict[str, str]:
    """The test cluster through its two-factor sshd (key + one-time code) over the openssh transport; the
    master's socket lands in HOME/.ssh (transport/openssh.py's default)."""
    ports = dict(line.split("=", 1) for line in (TC_DIR / "testcluster.env").read_text().split())
    return server_env(tc_env, SLURM_TRANSPORT="openssh", SLURM_SSH_PORT=ports.get("HPCB_TC_SSH_PORT_OTP", "2224"),
                      HOME=str(home), **extra)


def login_through_a_pty(env: dict[str, str], timeout: float = 30) -> tuple[int, str, int]:
    """`hpcbridge login` in a pseudo-terminal, answering the one-time code whenever ssh asks:
    (exit status, what the terminal showed, how many times a code was asked for)."""
    import pty
    import re
    import select

    code = (TC_DIR / "otp-code").read_text().strip()
    pid, fd = pty.fork()
    if pid == 0:  # the child: hpcbridge login, its terminal the pty
        os.execve(hpcbridge_executable(), [hpcbridge_executable(), "login"], env)
    shown, asked, status, since = b"", 0, None, 0
    deadline = time.monotonic() + timeout
    while status is None and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                shown += os.read(fd, 4096)
            except OSError:
                pass
            if re.search(rb"(?i)(password|code)[^\n]*:\s*$", shown[since:]):
                os.write(fd, code.encode() + b"\n")
                asked += 1
                since = len(shown)
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
    os.close(fd)
    if status is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        status = -1
    return status, shown.decode(errors="replace"), asked


@pytest.fixture(scope="session")
async def mcp_openssh(tc_env: dict[str, str]) -> AsyncIterator[Client]:
    """A stdio server whose cluster is reached through an OpenSSH master on the two-factor sshd, logged in
    once through a pty; the master is closed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="hpcb-"))  # short: a Unix socket path stays under 108 bytes
    env = openssh_env(tc_env, home)
    status, shown, asked = login_through_a_pty(env)
    assert status == 0 and asked == 1, shown
    try:
        async with Client(StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env), timeout=120) as client:
            yield client
    finally:
        await asyncio.to_thread(subprocess.run, ["ssh", "-S", str(home / ".ssh" / "hpcbridge-default.sock"), "-O",
                                "exit", "x"], capture_output=True, check=False, timeout=10)


@contextlib.asynccontextmanager
async def every_gpu_taken(client: Client) -> AsyncIterator[None]:
    """Both GPU nodes fully allocated (two 4-GPU jobs) while the block runs: GPU requests pend on Resources."""
    blockers = [await call(client, "submit_job", script_content="sleep 300", partition="gpu", gpus=4,
                           time_limit="10") for _ in range(2)]
    try:
        # running before the block starts: under multifactor priority a smaller job submitted a moment later
        # may be scheduled first, and then it is a blocker that pends
        for job in blockers:
            await call(client, "wait_for_job", job_id=job["job_id"], until="running", timeout=120)
        yield
    finally:
        for job in blockers:
            await call(client, "cancel_job", job_id=job["job_id"])
