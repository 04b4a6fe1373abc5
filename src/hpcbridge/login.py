"""`hpcbridge login CLUSTER`: open the OpenSSH master of an `openssh` cluster in this terminal, where the
site's prompts (a one-time code, a push approval) can be answered, and return once it is up."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from .config import Settings
from .errors import ConfigError, TransportError
from .services.registry import Registry
from .transport.openssh import OpenSshTransport


def _transport(settings: Settings, cluster: str | None) -> OpenSshTransport:
    name = cluster or settings.default_cluster
    config = settings.cluster(name)
    if config.transport != "openssh":
        raise ConfigError(f"cluster '{name}' uses transport '{config.transport}': `hpcbridge login` is for "
                          "transport = \"openssh\" (a site that asks for a code at each login)")
    transport = Registry(settings).get(name).transport
    assert isinstance(transport, OpenSshTransport)
    return transport


def login(settings: Settings, cluster: str | None) -> int:
    transport = _transport(settings, cluster)
    alive, said = asyncio.run(transport.master_alive())
    if alive:
        print(f"already logged in: {said} ({transport.options.control_path})")  # noqa: hook - CLI output
        return 0
    Path(transport.options.control_path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # stdin, stdout and stderr stay the terminal's: ssh asks its questions there, then backgrounds itself (-f)
    status = subprocess.run(transport.login_argv(), check=False, env=transport.child_environ()).returncode
    alive, said = asyncio.run(_settled(transport)) if status == 0 else (False, "ssh failed")
    if status != 0 or not alive:
        raise TransportError(f"the login did not leave a master running (ssh exit {status}; {said})",
                             transient=False)
    print(f"logged in: {said}; it stays {transport.options.control_persist} after the last command "  # noqa: hook - CLI output
          f"({transport.options.control_path})")
    sys.stdout.flush()
    return 0


async def _settled(transport: OpenSshTransport, seconds: float = 10) -> tuple[bool, str]:
    """ssh -f returns once logged in; its master may take a moment to answer on the socket."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        alive, said = await transport.master_alive()
        if alive or asyncio.get_running_loop().time() > deadline:
            return alive, said
        await asyncio.sleep(0.2)
