"""openssh transport without a configured control_path: the ControlPath of the user's own ssh config (asked
with a real local `ssh -G`, which reads files and connects nowhere), else hpcbridge's own socket. It is asked
once, awaited, before the transport's first use, never while the cluster is built (Registry.get() runs on the
event loop for every tool)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from hpcbridge.config import ClusterConfig, Settings
from hpcbridge.errors import InvalidParameter, TransportError
from hpcbridge.services.registry import Registry, make_transport
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


def _config(tmp_path: Path, ssh_config: str, **extra: object) -> ClusterConfig:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(ssh_config)
    return ClusterConfig(name="site", transport="openssh", host="tc", port=2224, user="alice",
                         ssh_config=str(cfg), **extra)  # type: ignore[arg-type]


def _cluster(tmp_path: Path, ssh_config: str, **extra: object) -> OpenSshTransport:
    transport = make_transport(_config(tmp_path, ssh_config, **extra))
    assert isinstance(transport, OpenSshTransport)
    asyncio.run(transport.resolve())
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


def _ssh_shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `ssh` first on PATH that notes each call and, for -G, waits for a `go` file (at most 30 s, then fails)
    before it runs the real ssh. Why a shim: the question is when and how hpcbridge starts ssh, which only a
    program in ssh's place can tell; the answer itself is still the real `ssh -G`'s."""
    real = shutil.which("ssh")
    assert real, "these tests need OpenSSH's client"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "ssh"
    shim.write_text(f"""#!/bin/sh
echo "$*" >> {tmp_path}/calls
if [ "$1" = -G ]; then
  n=0
  while [ ! -e {tmp_path}/go ]; do n=$((n+1)); [ $n -gt 600 ] && exit 1; sleep 0.05; done
fi
exec {real} "$@"
""")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "calls"


async def test_building_the_cluster_runs_no_ssh_and_asking_holds_no_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registry.get() starts no process; the first use asks `ssh -G` as a child the loop awaits: while that
    ssh waits, this coroutine runs (and is what lets it go on), and the user's ControlPath is then ridden."""
    calls = _ssh_shim(tmp_path, monkeypatch)
    config = _config(tmp_path, f"Host tc\n  HostName 127.0.0.1\n  ControlMaster auto\n"
                               f"  ControlPath {tmp_path}/cm-%r@%h:%p\n")
    registry = Registry(Settings(clusters={"site": config}, default_cluster="site"))
    transport = registry.get("site").transport
    assert isinstance(transport, OpenSshTransport)
    assert not calls.exists(), calls.read_text()  # building the cluster ran no ssh
    asking = asyncio.gather(transport.resolve(), transport.resolve())  # two first callers: one ssh -G
    for _ in range(600):
        await asyncio.sleep(0.05)  # a blocking ssh -G would hold the loop here until it gave up (no `go`)
        if calls.exists():
            break
    assert calls.read_text().startswith("-G "), calls.read_text()
    assert not asking.done()  # ssh -G is still waiting for `go`, and the loop runs
    (tmp_path / "go").touch()
    await asking
    assert transport.options.control_path == f"{tmp_path}/cm-alice@127.0.0.1:2224"
    assert transport.options.users_master == "auto" and f"{tmp_path}/cm-alice" in transport.description
    assert calls.read_text().count("-G ") == 1, calls.read_text()
