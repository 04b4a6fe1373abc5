"""Issue 23, items 1, 15 and 16, replayed live: a host or user that is not a plain name never reaches a cluster's
config (engine answer, `hpcbridge cluster add`, TOML file, SLURM_* variables), the OpenSSH transport refuses a
host ssh would read as an option, and connect failures say what an agent can act on."""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

from hpcbridge.errors import HpcBridgeError
from hpcbridge.transport.openssh import OpenSshOptions, OpenSshTransport

from ..e2e.conftest import hpcbridge_executable, server_env
from ..tensorpool_engine import Engine, TpCluster
from .conftest import client_with

pytestmark = pytest.mark.cluster
KEY = "tpkey-" + os.urandom(16).hex()


def _hostile_host(marker: Path) -> str:
    """The review's host: with `ProxyCommand ssh -W %h:%p ...` in ~/.ssh/config it becomes ssh options."""
    return f'x:1 -oProxyCommand="touch {marker}" -oHostKeyAlias=a'


def _home_with_proxy_config(tmp_path: Path) -> Path:
    """A HOME whose ~/.ssh/config has the common jump-host stanza (the test cluster itself is left out)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host * !127.0.0.1\n    ProxyCommand ssh -W %h:%p jump.invalid\n")
    return home


@pytest.fixture
def hostile_engine(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    marker = tmp_path / "P"
    command = "ssh -p 22 " + shlex.quote(f"alice@{_hostile_host(marker)}")
    engine = Engine(KEY, ssh_command=command)
    engine.start()
    engine.clusters["c-1"] = TpCluster("c-1", "1xH100", 1, "demo", [], status="RUNNING", instance_id="i-1")
    yield engine, marker
    engine.stop()


# --- 1. every door: engine answer, CLI, TOML file, environment --------------------------------------------
async def test_engine_ssh_answer_with_options_in_the_host_is_refused(
        hostile_engine: tuple[Engine, Path], tc_env: dict[str, str], tmp_path: Path) -> None:
    engine, marker = hostile_engine
    config = tmp_path / "config.toml"
    config.write_text(f'[clusters.tp]\nprovider = "tensorpool"\ntensorpool_engine = "{engine.url}"\n'
                      'command_timeout = 5\n')
    before = config.read_text()
    env = server_env(tc_env, HPCBRIDGE_CONFIG=str(config), HPCBRIDGE_STATE_DIR=str(tmp_path / "state"),
                     TENSORPOOL_API_KEY=KEY, HOME=str(_home_with_proxy_config(tmp_path)))
    refused = ""
    async with Client(StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env), timeout=60) as client:
        try:
            await client.call_tool("tensorpool_add_ssh_cluster", {"instance_id": "i-1", "cluster_name": "evil"})
        except ToolError as exc:
            refused = str(exc)
        with pytest.raises(ToolError):  # the next connection is where the review's command ran
            await client.call_tool("get_cluster_status", {"cluster": "evil"})
    assert not marker.exists(), "the engine's host ran a command here"
    assert config.read_text() == before
    assert "host" in refused and "is not a host name or IP address" in refused, refused


def _cli(tc_env: dict[str, str], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([hpcbridge_executable(), *args], env=server_env(tc_env, **env), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)


@pytest.mark.parametrize(("flag", "value", "key"), [
    ("--host", 'x:1 -oProxyCommand="touch /tmp/P" -oHostKeyAlias=a', "host"),
    ("--host", "-oProxyCommand=id", "host"),
    ("--host", "login%h", "host"),
    ("--user", "-oProxyCommand=id", "user"),
    ("--user", "a b", "user"),
    ("--user", "'alice'", "user"),
])
def test_cluster_add_refuses_a_hostile_host_or_user(tc_env: dict[str, str], tmp_path: Path, flag: str,
                                                    value: str, key: str) -> None:
    config = tmp_path / "config.toml"
    extra = ["--host", "login"] if flag == "--user" else []
    result = _cli(tc_env, "cluster", "add", "evil", *extra, f"{flag}={value}", HPCBRIDGE_CONFIG=str(config))
    assert result.returncode == 2, result.stderr
    assert f"{key}: {value!r} is not a" in result.stderr, result.stderr
    assert not config.exists()


def test_cluster_add_still_takes_names_addresses_and_aliases(tc_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    for name, host, user in (("a", "login-1.hpc.example.org", "first.last"), ("b", "::1", "a-b"),
                             ("c", "10.0.0.7", "svc_user"), ("d", "my_alias", "u1")):
        result = _cli(tc_env, "cluster", "add", name, "--host", host, "--user", user, HPCBRIDGE_CONFIG=str(config))
        assert result.returncode == 0, result.stderr
    assert 'host = "::1"' in config.read_text()


def test_toml_file_with_a_hostile_host_is_refused_by_check_and_serve(tc_env: dict[str, str],
                                                                      tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[clusters.evil]\nhost = "-oProxyCommand=touch /tmp/P"\nuser = "alice"\n')
    for command in (["check"], ["serve"]):
        result = _cli(tc_env, *command, HPCBRIDGE_CONFIG=str(config))
        assert result.returncode == 2, result.stderr
        assert "cluster 'evil'" in result.stderr and "host: '-oProxyCommand=touch /tmp/P' is not a host name" \
            in result.stderr, result.stderr


@pytest.mark.parametrize(("variable", "value"), [
    ("SLURM_SSH_HOST", 'x:1 -oProxyCommand="touch /tmp/P"'),
    ("SLURM_SSH_USER", "%u"),
    ("SLURM_SSH_USER", "-oProxyCommand=id"),
])
def test_environment_with_a_hostile_host_or_user_is_refused(tc_env: dict[str, str], variable: str,
                                                            value: str) -> None:
    result = _cli(tc_env, "check", **{variable: value})
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr and f"{value!r} is not a" in result.stderr, result.stderr


# --- 16. error texts an agent can act on -------------------------------------------------------------------
@pytest.fixture
def mute_port() -> Iterator[int]:
    """A loopback port that completes the TCP handshake (the listen backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


async def test_connect_timeout_names_host_port_and_seconds(tc_env: dict[str, str], tmp_path: Path,
                                                            mute_port: int) -> None:
    toml = (f'[clusters.mute]\nhost = "127.0.0.1"\nport = {mute_port}\nuser = "alice"\nconnect_timeout = 1\n'
            f'known_hosts = "{tc_env["SLURM_SSH_KNOWN_HOSTS"]}"\n')
    async with client_with(tc_env, toml, tmp_path) as client:
        with pytest.raises(ToolError) as caught:
            await client.call_tool("get_cluster_status", {"cluster": "mute"})
    assert f"no SSH answer from 127.0.0.1:{mute_port} within 1 s" in str(caught.value), str(caught.value)


@pytest.mark.parametrize("what", ["missing", "not a key"])
async def test_an_unusable_key_file_is_a_configuration_error_naming_key_path(tc_env: dict[str, str],
                                                                             tmp_path: Path, what: str) -> None:
    key = tmp_path / "id_absent"
    if what == "not a key":
        key.write_text("this is not a private key\n")
    toml = (f'[clusters.nokey]\nhost = "{tc_env["SLURM_SSH_HOST"]}"\nport = {tc_env["SLURM_SSH_PORT"]}\n'
            f'user = "alice"\nkey_path = "{key}"\nknown_hosts = "{tc_env["SLURM_SSH_KNOWN_HOSTS"]}"\n')
    async with client_with(tc_env, toml, tmp_path) as client:
        with pytest.raises(ToolError) as caught:
            await client.call_tool("get_cluster_status", {"cluster": "nokey"})
    message = str(caught.value)
    assert "key_path" in message and str(key) in message and "temporary" not in message, message


# --- 15. the OpenSSH transport itself -----------------------------------------------------------------------
def test_openssh_transport_refuses_a_host_ssh_would_read_as_an_option(tmp_path: Path) -> None:
    """Below the config (which refuses it first): the transport built directly, as a future door might. The
    control socket is a plain file, so without the check ssh falls back to connecting and runs the option's
    ProxyCommand."""
    marker = tmp_path / "ran"
    control = tmp_path / "master.sock"
    control.write_text("")
    transport = OpenSshTransport(OpenSshOptions(host=f"-oProxyCommand=touch {marker}", cluster="site",
                                                control_path=str(control), connect_timeout=3))
    with pytest.raises(HpcBridgeError, match=r"invalid host: '-oProxyCommand=touch .* is not a host name"):
        asyncio.run(transport.run(["true"], timeout=10))
    for build in (transport.login_argv, transport.check_argv):
        with pytest.raises(HpcBridgeError, match="is not a host name"):
            build()
    assert not marker.exists()
