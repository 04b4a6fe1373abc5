"""The README's quick start, run as written, with the test cluster standing in for "your cluster".

The commands and client configs are parsed from the README's "Quick start" section, so this test breaks when
the README changes. A stranger's machine is a fresh HOME: `login.example.org` is a Host alias in its
~/.ssh/config for the test cluster's sshd, its key is ~/.ssh/id_ed25519 and its known_hosts has the host key;
the README's user `me` becomes the test cluster's user. The install lines (uvx/pipx/pip from the repository
URL) are not run here: the repository host is not reachable from this machine; the wheel install is
tests/e2e/test_packaging_install.py."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from ..conftest import ROOT
from .conftest import hpcbridge_executable

README = (ROOT / "README.md").read_text()
QUICK = README[README.index("## Quick start"):README.index("\n## ", README.index("## Quick start") + 5)]
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", QUICK, re.DOTALL)


def _commands(prefix: str) -> list[list[str]]:
    """Every command line in the quick start's bash blocks that starts with prefix (comments dropped)."""
    out = []
    for lang, body in BLOCKS:
        if lang == "bash":
            out += [shlex.split(line, comments=True) for line in body.splitlines() if line.startswith(prefix)]
    return out


@pytest.fixture
def stranger(tc_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The environment of a new user whose cluster is the test cluster."""
    home = tmp_path / "home"
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    key = ssh / "id_ed25519"
    key.write_bytes(Path(tc_env["SLURM_SSH_KEY_PATH"]).read_bytes())
    key.chmod(0o600)
    (ssh / "config").write_text(f"Host login.example.org\n  HostName {tc_env['SLURM_SSH_HOST']}\n"
                                f"  Port {tc_env['SLURM_SSH_PORT']}\n")
    known = Path(tc_env["SLURM_SSH_KNOWN_HOSTS"]).read_text()
    hostport = f"[{tc_env['SLURM_SSH_HOST']}]:{tc_env['SLURM_SSH_PORT']}"
    lines = [line for line in known.splitlines() if line.startswith(hostport + " ")]
    (ssh / "known_hosts").write_text("\n".join(lines + [line.replace(hostport, "[login.example.org]:"
                                                                     + tc_env["SLURM_SSH_PORT"]) for line in lines]) + "\n")
    keep = ("LANG", "TMPDIR", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["HOME"] = str(home)
    env["PATH"] = f"{Path(hpcbridge_executable()).parent}:/usr/local/bin:/usr/bin:/bin"
    return env


def _as_stranger(argv: list[str], tc_env: dict[str, str], home: str) -> list[str]:
    """The README's placeholders for the test cluster's: user `me`, paths under ~."""
    swap = {"me": tc_env["SLURM_SSH_USER"]}
    return [swap.get(a, a).replace("~/", home + "/") for a in argv]


def _mcp_configs() -> list[tuple[str, list[str]]]:
    """(command, args) of every JSON client config in the quick start (mcpServers or VS Code's servers)."""
    found = []
    for lang, body in BLOCKS:
        if lang == "json":
            doc = json.loads(body)
            (server,) = (doc.get("mcpServers") or doc["servers"]).values()
            found.append((server["command"], server["args"]))
    return found


async def _list_jobs(transport: StdioTransport | StreamableHttpTransport) -> dict:
    async with Client(transport, timeout=120) as client:
        result = await client.call_tool("list_jobs", {})
    assert isinstance(result.structured_content, dict) and isinstance(result.structured_content["total"], int)
    return result.structured_content


async def test_quick_start_commands_and_client_configs(stranger: dict[str, str], tc_env: dict[str, str]) -> None:
    home = stranger["HOME"]
    # step 2: cluster add, check, call, exactly as written
    steps = [c for c in _commands("hpcbridge ") if c[1] != "serve"]
    assert [c[1] for c in steps][:2] == ["cluster", "check"], steps
    for argv in steps:
        _run_ok(_as_stranger(argv, tc_env, home), stranger)
    config = Path(home, ".config", "hpcbridge", "config.toml").read_text()
    assert "[clusters.mycluster]" in config and 'host = "login.example.org"' in config

    # step 3: Claude Code's line starts `hpcbridge serve` over stdio; the JSON configs give its absolute path
    (claude,) = [c for c in _commands("claude mcp add hpcbridge --") if "--transport" not in c]
    server = claude[claude.index("--") + 1:]
    configs = [(server[0], server[1:]), *_mcp_configs()]
    assert len(configs) >= 3, "Claude Code, Cursor/Claude Desktop and VS Code"
    for command, args in configs:
        # a GUI client's absolute path: the README's example path is where pipx puts it; here, the venv's
        exe = hpcbridge_executable() if command.endswith("/hpcbridge") or command == "hpcbridge" else command
        env = dict(stranger)
        page = await _list_jobs(StdioTransport(command=exe, args=args, env=env, keep_alive=False))
        assert "items" in page

    # an HTTP client: the server line as written (another port if 8765 is taken), the token from where it says
    (serve,) = _commands("hpcbridge serve --transport http")
    port = _free_port()
    serve = [str(port) if a == "8765" else a for a in serve]
    (http_add,) = [c for c in _commands("claude mcp add --transport http")]
    url = next(a for a in http_add if a.startswith("http://")).replace("8765", str(port))
    token_path = re.search(r"\$\(cat (\S+)\)", QUICK)
    assert token_path, "the README says where the token is"
    proc = _start(serve, stranger, port)
    try:
        token = Path(token_path.group(1).replace("~/", home + "/")).read_text().strip()
        page = await _list_jobs(StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"}))
        assert "items" in page
    finally:
        proc.terminate()
        proc.wait(30)


def _run_ok(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    assert "[FAIL]" not in done.stdout, done.stdout


def _start(argv: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_port(port, proc)
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the HTTP server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail("the HTTP server did not start")
