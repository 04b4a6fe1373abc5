"""Error texts a newcomer meets first (issue 29): a connect that times out names host, port and seconds; a key
that is missing or unreadable is a configuration error naming key_path; `hpcbridge call` says an error once."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from hpcbridge.errors import ConfigError, TransportError
from hpcbridge.transport.ssh import SshOptions, SshTransport


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listening socket that accepts (the kernel completes the handshake) and never sends the SSH banner:
    what a firewall that swallows packets, or a wedged sshd, looks like to a client."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def test_a_connect_timeout_names_host_port_and_seconds(silent_port: int) -> None:
    transport = SshTransport(SshOptions(host="127.0.0.1", port=silent_port, connect_timeout=0.5))
    with pytest.raises(TransportError) as caught:
        asyncio.run(transport.connection())
    text = caught.value.message
    assert f"127.0.0.1:{silent_port}" in text and "within 0.5 s" in text and "connect_timeout" in text, text


def test_an_unreadable_key_is_a_configuration_error_naming_key_path(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("x")
    key.chmod(0)
    if os.geteuid() == 0:  # root reads every file: let the access check answer as it would for the user
        from hpcbridge.transport import ssh

        monkeypatch.setattr(ssh.os, "access", lambda path, mode: False)
    with pytest.raises(ConfigError, match=r"key_path .*id_ed25519.* cannot be read"):
        asyncio.run(SshTransport(SshOptions(host="unused.invalid", key_path=str(key))).connection())


def test_a_key_that_is_not_a_private_key_is_a_configuration_error_naming_key_path(tmp_path: Path,
                                                                                  silent_port: int) -> None:
    key = tmp_path / "id_ed25519.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB me@host\n")
    transport = SshTransport(SshOptions(host="127.0.0.1", port=silent_port, key_path=str(key), connect_timeout=0.5))
    with pytest.raises(ConfigError, match=r"key_path .*id_ed25519.pub.* is not a private key"):
        asyncio.run(transport.connection())


def test_hpcbridge_call_prints_an_error_once(tmp_path: Path, silent_port: int) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[clusters.silent]\nhost = "127.0.0.1"\nport = {silent_port}\nuser = "alice"\n'
                      "connect_timeout = 1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    env.update({"HPCBRIDGE_CONFIG": str(config), "HPCBRIDGE_STATE_DIR": str(tmp_path / "state")})
    hpcbridge = Path(sys.executable).parent / "hpcbridge"
    done = subprocess.run([str(hpcbridge), "call", "get_cluster_status"], env=env, capture_output=True, text=True,
                          check=False,
                          timeout=120)
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines  # fastmcp's own "Error calling tool ..." line is not there
    assert lines[0].startswith(f"error: no SSH answer from 127.0.0.1:{silent_port} within 1 s"), lines


@pytest.fixture
def closing_port() -> Iterator[int]:
    """A port whose peer accepts and at once closes, before any SSH banner: a proxy or a site's filter that
    takes the TCP connection and drops it, or a service that is not SSH."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def close_each() -> None:
        while True:
            try:
                peer, _ = server.accept()
            except OSError:
                return  # the fixture closed the listening socket
            peer.close()

    threading.Thread(target=close_each, daemon=True).start()
    yield int(server.getsockname()[1])
    server.close()


def test_a_peer_that_closes_before_ssh_is_named_with_host_and_port(closing_port: int) -> None:
    transport = SshTransport(SshOptions(host="127.0.0.1", port=closing_port, connect_timeout=5))
    with pytest.raises(TransportError) as caught:
        asyncio.run(transport.connection())
    text = caught.value.message
    assert f"127.0.0.1:{closing_port} closed the connection before the SSH login" in text, text
    assert "check host and port" in text, text


def run_call(tmp_path: Path, config_text: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    config.write_text(config_text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    env.update({"HPCBRIDGE_CONFIG": str(config), "HPCBRIDGE_STATE_DIR": str(tmp_path / "state")})
    hpcbridge = Path(sys.executable).parent / "hpcbridge"
    return subprocess.run([str(hpcbridge), "call", *arguments], env=env, capture_output=True, text=True,
                          check=False, timeout=120)


def test_hpcbridge_call_prints_a_fast_failure_once(tmp_path: Path, closing_port: int) -> None:
    """A cluster that fails at once fails the history recorder too (it polls the cluster the call asked): its
    warning said the same error a second time. Twice, as the recorder races the call's end."""
    config = f'[clusters.closes]\nhost = "127.0.0.1"\nport = {closing_port}\nuser = "alice"\n'
    for _ in range(2):
        done = run_call(tmp_path, config, "list_jobs")
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        assert done.returncode == 1 and len(lines) == 1, lines
        assert lines[0].startswith("error: cannot reach ssh alice@127.0.0.1:"), lines


def test_hpcbridge_call_of_an_unknown_tool_names_the_closest(tmp_path: Path) -> None:
    done = run_call(tmp_path, '[clusters.x]\nhost = "unused.invalid"\n', "list_job")
    assert done.returncode == 2
    assert done.stderr.strip() == ("unknown tool 'list_job': did you mean list_jobs or list_job_logs or "
                                   "submit_job? `HPCBRIDGE_TOOLSETS=all hpcbridge tools` lists every one")


def test_an_unknown_host_key_on_another_port_gives_the_keyscan_that_fetches_it(tmp_path: Path) -> None:
    """A real SSH server (asyncssh, in process) whose key is not in the (empty) known_hosts file."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")

    async def connect() -> str:
        server = await asyncssh.listen("127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")])
        port = server.sockets[0].getsockname()[1]
        try:
            options = SshOptions(host="127.0.0.1", port=port, user="alice", known_hosts=str(known_hosts))
            with pytest.raises(TransportError) as caught:
                await SshTransport(options).connection()
            return f"{port}|{caught.value.message}"
        finally:
            server.close()

    port, text = asyncio.run(connect()).split("|", 1)
    assert text.startswith(f"host key of 127.0.0.1:{port} is not in known_hosts ({known_hosts})"), text
    assert f"`ssh-keyscan -p {port} 127.0.0.1 >> {known_hosts}`" in text, text


def test_hpcbridge_call_of_a_bare_word_shows_the_form_and_where_the_parameters_are(tmp_path: Path) -> None:
    done = run_call(tmp_path, '[clusters.x]\nhost = "unused.invalid"\n', "list_jobs", "limit")
    assert done.returncode == 2
    assert done.stderr.strip() == ("argument 'limit' is not key=value (e.g. limit=10); `hpcbridge tools list_jobs` "
                                   "shows the parameters")
