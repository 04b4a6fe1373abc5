"""openssh transport without a configured control_path: the ControlPath of the user's own ssh config (asked
with a real local `ssh -G`, which reads files and connects nowhere), else hpcbridge's own socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hpcbridge.config import ClusterConfig
from hpcbridge.errors import InvalidParameter, TransportError
from hpcbridge.services.registry import make_transport
from hpcbridge.transport.openssh import OpenSshTransport, parse_ssh_g, ssh_g_argv

# what OpenSSH 9.2's `ssh -G` prints (abridged): keys lower-case, tokens already expanded
SSH_G = """user alice
hostname login.example.org
port 22
controlmaster auto
controlpath /home/alice/.ssh/cm-alice@login.example.org:22
controlpersist 600
"""


def test_parse_reads_controlpath_and_controlmaster() -> None:
    assert parse_ssh_g(SSH_G) == ("/home/alice/.ssh/cm-alice@login.example.org:22", "auto")
    assert parse_ssh_g("user alice\ncontrolmaster false\ncontrolpersist no\n") == (None, "false")
    assert parse_ssh_g("controlpath none\ncontrolmaster auto\n") == (None, "auto")
    # an ssh too old to expand tokens in -G: the path is not one we can open
    assert parse_ssh_g("controlpath ~/.ssh/cm-%r@%h:%p\n")[0] is None
    assert parse_ssh_g("") == (None, "false")


def test_argv_addresses_the_host_as_the_transport_does_and_refuses_option_hosts() -> None:
    assert ssh_g_argv("tc", port=2224, user="alice", ssh_config="/c") == [
        "ssh", "-G", "-F", "/c", "-p", "2224", "-l", "alice", "tc"]
    with pytest.raises(InvalidParameter, match="host"):
        ssh_g_argv("-oProxyCommand=touch /tmp/x")


def _cluster(tmp_path: Path, ssh_config: str, **extra: object) -> OpenSshTransport:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(ssh_config)
    config = ClusterConfig(name="site", transport="openssh", host="tc", port=2224, user="alice",
                           ssh_config=str(cfg), **extra)  # type: ignore[arg-type]
    transport = make_transport(config)
    assert isinstance(transport, OpenSshTransport)
    return transport


def test_the_users_controlpath_is_ridden(tmp_path: Path) -> None:
    t = _cluster(tmp_path, f"Host tc\n  HostName 127.0.0.1\n  ControlMaster auto\n"
                           f"  ControlPath {tmp_path}/cm-%r@%h:%p\n")
    assert t.options.control_path == f"{tmp_path}/cm-alice@127.0.0.1:2224"
    assert t.options.users_master == "auto"
    assert t.base_argv()[:3] == ["ssh", "-S", f"{tmp_path}/cm-alice@127.0.0.1:2224"]
    with pytest.raises(TransportError, match=r"ControlPath your ssh config gives tc .*`ssh tc`.*hpcbridge login"):
        asyncio.run(t.run(["squeue"], timeout=5))


def test_without_one_hpcbridge_keeps_its_own_socket_and_login(tmp_path: Path) -> None:
    t = _cluster(tmp_path, "Host tc\n  HostName 127.0.0.1\n")
    assert t.options.control_path.endswith("/.ssh/hpcbridge-site.sock") and t.options.users_master == ""
    with pytest.raises(TransportError, match=r"no SSH master for site .*`hpcbridge login site`"):
        asyncio.run(t.run(["squeue"], timeout=5))


def test_a_configured_control_path_wins(tmp_path: Path) -> None:
    t = _cluster(tmp_path, f"Host tc\n  ControlPath {tmp_path}/cm-%h\n", control_path=str(tmp_path / "mine.sock"))
    assert t.options.control_path == str(tmp_path / "mine.sock") and t.options.users_master == ""
