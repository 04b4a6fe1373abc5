"""Error texts a newcomer meets first (issue 29): a connect that times out names host, port and seconds; a key
that is missing or unreadable is a configuration error naming key_path; `hpcbridge call` says an error once."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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
