"""The openssh transport's ssh command lines (transport/openssh.py): never a master of its own, never a prompt,
never host key checking turned off, the remote command bounded by its deadline."""

from __future__ import annotations

import asyncio

import pytest

from hpcbridge.errors import TransportError
from hpcbridge.models import EnvSpec
from hpcbridge.transport.openssh import OpenSshOptions, OpenSshTransport, control_path


def _transport(**extra: object) -> OpenSshTransport:
    options = OpenSshOptions(host="login", cluster="site", control_path="/tmp/nonexistent-hpcb.sock", **extra)  # type: ignore[arg-type]
    return OpenSshTransport(options, EnvSpec(assign=(("LC_ALL", "C"),)))


def test_commands_ride_the_master_and_never_prompt() -> None:
    t = _transport(port=2224, user="alice", key_path="/k", known_hosts="/kh")
    argv = t.base_argv()
    assert argv[:3] == ["ssh", "-S", "/tmp/nonexistent-hpcb.sock"]
    assert "ControlMaster=no" in argv and "BatchMode=yes" in argv and "UserKnownHostsFile=/kh" in argv
    assert ["-p", "2224"] == argv[argv.index("-p"):argv.index("-p") + 2] and "-l" in argv
    login = t.login_argv()
    assert "ControlMaster=yes" in login and "BatchMode=yes" not in login and login[-3:] == ["-f", "-N", "login"]
    assert not any("StrictHostKeyChecking" in a for a in [*argv, *login])
    assert t._remote(["squeue", "--name", "a b"], 30) == "timeout -s KILL 31 env LC_ALL=C squeue --name 'a b'"


def test_no_master_fails_at_once_with_the_command_to_run() -> None:
    with pytest.raises(TransportError, match=r"no SSH master for site .*`hpcbridge login site`.*8h after"):
        asyncio.run(_transport().run(["squeue"], timeout=5))
    assert control_path("site", None).endswith("/.ssh/hpcbridge-site.sock")
