"""A site where people already use ControlMaster: with transport = "openssh" and no control_path, hpcbridge
rides the master the user's own ssh config defines (its ControlPath, read with `ssh -G`), so there is no
second login and no `hpcbridge login`. Against the test cluster's two-factor sshd (key + one-time code),
which the server itself could not pass (BatchMode): only the user's master gets it through."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

from ..conftest import TC_DIR
from .conftest import call, hpcbridge_executable, openssh_env

pytestmark = pytest.mark.cluster


def _users_setup(tc_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    home = Path(tempfile.mkdtemp(prefix="hpcb-"))  # a Unix socket path stays under 108 bytes
    port = openssh_env(tc_env, home)["SLURM_SSH_PORT"]
    ssh_config = home / "ssh_config"
    ssh_config.write_text(
        f"Host tc\n  HostName {tc_env['SLURM_SSH_HOST']}\n  Port {port}\n  User {tc_env['SLURM_SSH_USER']}\n"
        f"  IdentityFile {tc_env['SLURM_SSH_KEY_PATH']}\n  UserKnownHostsFile {tc_env['SLURM_SSH_KNOWN_HOSTS']}\n"
        f"  ControlMaster auto\n  ControlPath {home}/cm-%r@%h:%p\n")
    (home / "server.toml").write_text(f'[clusters.default]\ntransport = "openssh"\nhost = "tc"\n'
                                      f'ssh_config = "{ssh_config}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    env.update(HOME=str(home), HPCBRIDGE_CONFIG=str(home / "server.toml"),
               HPCBRIDGE_STATE_DIR=os.environ["HPCBRIDGE_STATE_DIR"], HPCBRIDGE_LOG_LEVEL="WARNING")
    return home, env


def _users_own_login(home: Path, env: dict[str, str]) -> None:
    """What the user does every morning: a plain `ssh tc` (here -f -N), the code answered once; their
    config's ControlMaster auto makes it the master."""
    askpass = home / "askpass"
    askpass.write_text(f"#!/bin/sh\ncat {TC_DIR / 'otp-code'}\n")
    askpass.chmod(0o700)
    subprocess.run(["ssh", "-F", str(home / "ssh_config"), "-f", "-N", "tc"], check=True, timeout=30,
                   stdin=subprocess.DEVNULL,
                   env={**env, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"})


def _users_logout(home: Path) -> None:
    subprocess.run(["ssh", "-F", str(home / "ssh_config"), "-O", "exit", "tc"], capture_output=True, check=False,
                   timeout=10)


async def test_the_users_own_master_is_ridden_without_a_second_login(tc_env: dict[str, str]) -> None:
    home, env = _users_setup(tc_env)
    users_socket = home / f"cm-{tc_env['SLURM_SSH_USER']}@{tc_env['SLURM_SSH_HOST']}:" \
                          f"{openssh_env(tc_env, home)['SLURM_SSH_PORT']}"
    server = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False)
    async with Client(server, timeout=120) as client:
        # before the user logged in: the error names their own ControlPath and their own way in
        with pytest.raises(ToolError, match=rf"ControlPath your ssh config gives tc \({users_socket}\).*`ssh tc`"):
            await call(client, "list_jobs", user="me")
        _users_own_login(home, env)
        try:
            assert users_socket.is_socket()
            page = await call(client, "list_jobs", user="me")
            assert page["total"] == len(page["items"]) or page["next_offset"] is not None
            status = await call(client, "get_cluster_status")
            assert status  # a second command, the same master: no prompt in between
            # hpcbridge made no master of its own
            assert not (home / ".ssh" / "hpcbridge-default.sock").exists()
        finally:
            _users_logout(home)
        # their master gone: refused again (another partition: not the cached answer above)
        with pytest.raises(ToolError, match="ControlPath your ssh config gives tc"):
            await call(client, "list_jobs", user="me", partition="gpu")


async def test_read_only_commands_share_a_long_lived_shell_over_the_master(tc_env: dict[str, str]) -> None:
    """transport/pipeshell.py: commands without stdin ride one remote sh (no new local ssh each); the output is
    byte-exact, the exit status the command's; a command past its deadline costs that shell, not the next."""
    from hpcbridge.config import ClusterConfig
    from hpcbridge.errors import CommandTimeout
    from hpcbridge.services.registry import make_transport
    from hpcbridge.transport.openssh import OpenSshTransport

    home, env = _users_setup(tc_env)
    _users_own_login(home, env)
    transport = make_transport(ClusterConfig(name="default", transport="openssh", host="tc",
                                             ssh_config=str(home / "ssh_config")))
    assert isinstance(transport, OpenSshTransport)
    try:
        tricky = "a b\n\x1e'$(x)\nno newline"
        first = await transport.run(["printf", "%s", tricky], timeout=30)
        assert (first.stdout, first.exit_status) == (tricky, 0) and transport._shells == 1
        failed = await transport.run(["sh", "-c", "echo err >&2; exit 3"], timeout=30)
        assert (failed.stderr, failed.exit_status) == ("err\n", 3)
        whoami = await transport.run(["id", "-un"], timeout=30)
        assert whoami.stdout.strip() == tc_env["SLURM_SSH_USER"] and transport._shells == 1  # the same shell
        with pytest.raises(CommandTimeout):
            await transport.run(["sleep", "30"], timeout=1)
        assert transport._shells == 0  # that shell is gone; the next command gets a fresh one
        assert (await transport.run(["echo", "ok"], timeout=30)).stdout == "ok\n" and transport._shells == 1
        # with stdin: a process of its own, as before
        fed = await transport.run(["cat"], timeout=30, stdin=b"fed")
        assert fed.stdout == "fed" and transport._shells == 1
    finally:
        await transport.close()
        _users_logout(home)
    assert transport._shells == 0
