"""OpenSSH transport: every command rides the user's own ControlMaster (`ssh -S <path> HOST -- COMMAND`), so
sites that ask for a one-time code or a push approval at each login work after one interactive login
(`hpcbridge login CLUSTER`). The user's ssh binary and ~/.ssh/config apply (aliases, ProxyJump, certificates,
GSSAPI, agents, hardware keys); host keys are checked by OpenSSH as configured, never turned off here.

- It never opens a master itself: without a live master a command fails at once with the command to run.
- `-o ControlMaster=no -o BatchMode=yes`: a command can neither start a master nor stop at a prompt.
- Timeouts kill the local ssh; the remote command runs under coreutils `timeout`, so it dies too
  (an OpenSSH client cannot signal a remote command the way asyncssh's signal request does).
- A semaphore keeps concurrent sessions below the master's MaxSessions (sshd_config(5), default 10).
- Without a configured control_path, the ControlPath the user's own ssh config gives the host (`ssh -G`) is
  ridden: someone who already works with ControlMaster needs no second login (no `hpcbridge login`).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from .. import validate
from ..errors import CommandTimeout, TransportError
from ..models import NO_ENV, CommandResult, EnvSpec
from ..quoting import shell_join
from .base import decode, raw
from .pipeshell import PipeShell

# what ssh prints when the control socket is there but its master is gone, or the login needs a person
_NO_MASTER = re.compile(r"Control socket connect|No such file or directory|Connection refused|"
                        r"Permission denied|Host key verification failed|Connection closed by", re.IGNORECASE)


@dataclass(frozen=True)
class OpenSshOptions:
    host: str  # a host name or a Host alias of ~/.ssh/config
    cluster: str
    control_path: str  # the master's socket
    control_persist: str = "8h"
    port: int | None = None
    user: str | None = None
    key_path: str | None = None
    ssh_config: str | None = None
    known_hosts: str | None = None
    connect_timeout: float = 15.0
    max_channels: int = 8
    ssh_binary: str = "ssh"
    users_master: str = ""  # the ssh config's ControlMaster when control_path is the user's own, else ""
    # ask the user's ssh config (`ssh -G`) for its ControlPath before the first use; control_path is
    # hpcbridge's own socket until then, and stays so when the config gives none (see resolve)
    ask_ssh_config: bool = False
    shell_workers: int = 2  # long-lived remote shells for read-only commands (pipeshell.py); 0: none


def control_path(cluster: str, configured: str | None) -> str:
    """~/.ssh/hpcbridge-<cluster>.sock unless configured; a Unix socket path must stay short (108 bytes)."""
    return str(Path(configured or f"~/.ssh/hpcbridge-{cluster}.sock").expanduser())


def parse_ssh_g(text: str) -> tuple[str | None, str]:
    """(controlpath, controlmaster) from `ssh -G` output (lower-case `key value` lines). The path is None
    when the config sets none, says `none`, or still holds a %-token (an ssh too old to expand it in -G)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key in ("controlpath", "controlmaster") and key not in found:
            found[key] = value.strip()
    path = found.get("controlpath", "")
    usable = path and path.lower() != "none" and "%" not in path
    return (path if usable else None), found.get("controlmaster", "false")


def ssh_g_argv(host: str, *, port: int | None = None, user: str | None = None, ssh_config: str | None = None,
               ssh_binary: str = "ssh") -> list[str]:
    """`ssh -G` for the destination as the transport will address it (-p and -l change %p and %r)."""
    argv = [ssh_binary, "-G"]
    if ssh_config:
        argv += ["-F", str(Path(ssh_config).expanduser())]
    if port:
        argv += ["-p", str(port)]
    if user:
        argv += ["-l", validate.ssh_user("user", user)]
    return [*argv, validate.ssh_host("host", host)]


async def users_control_path(argv: list[str], environ: Mapping[str, str]) -> tuple[str | None, str]:
    """What the user's ssh config says for the host ((None, ...) if ssh is missing or fails: the caller then
    uses hpcbridge's own socket). A local `ssh -G` reads files only; it connects nowhere. Awaited, never run
    blocking: it is asked on the event loop that serves every tool (a slow ProxyCommand-free config still
    means a fork and file reads, and a Match exec line in the config runs a program)."""
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL, env=dict(environ))
    except OSError:
        return None, "false"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    except TimeoutError:
        return None, "false"
    finally:  # also when the caller is cancelled: the child is not left behind
        if proc.returncode is None:
            proc.kill()
            await asyncio.shield(proc.wait())
    return parse_ssh_g(decode(out)) if proc.returncode == 0 else (None, "false")


class OpenSshTransport:
    def __init__(self, options: OpenSshOptions, env: EnvSpec = NO_ENV) -> None:
        self.options = options
        self.env = env
        self.description = f"openssh {options.host} (master {options.control_path})"
        self._resolving: asyncio.Lock | None = None
        self._sessions = asyncio.Semaphore(options.max_channels)
        self._forwards: dict[tuple[str, int], int] = {}
        self._idle: list[PipeShell] = []
        self._shells = 0  # started and not discarded (each holds one of the master's sessions)

    async def resolve(self) -> None:
        """Once, before the first use: the ControlPath the user's own ssh config gives the host, if it gives
        one. Here and not where the transport is built: that is Registry.get(), which every tool calls on the
        event loop, so a blocking `ssh -G` there held up every other request. Concurrent first callers wait
        for one answer."""
        if not self.options.ask_ssh_config:
            return
        self._resolving = self._resolving or asyncio.Lock()
        async with self._resolving:
            o = self.options
            if not o.ask_ssh_config:
                return  # a caller before this one asked already
            argv = ssh_g_argv(o.host, port=o.port, user=o.user, ssh_config=o.ssh_config, ssh_binary=o.ssh_binary)
            users, master = await users_control_path(argv, self.child_environ())
            self.options = replace(o, control_path=users or o.control_path, users_master=master if users else "",
                                   ask_ssh_config=False)
            self.description = f"openssh {o.host} (master {self.options.control_path})"

    # --- argv -----------------------------------------------------------------------------------------
    def _common_argv(self) -> list[str]:
        o = self.options
        argv = [o.ssh_binary, "-S", o.control_path, "-o", f"ConnectTimeout={int(o.connect_timeout)}"]
        if o.ssh_config:
            argv += ["-F", str(Path(o.ssh_config).expanduser())]
        if o.known_hosts:
            argv += ["-o", f"UserKnownHostsFile={Path(o.known_hosts).expanduser()}"]
        if o.port:
            argv += ["-p", str(o.port)]
        if o.user:
            argv += ["-l", validate.ssh_user("user", o.user)]
        if o.key_path:
            argv += ["-i", str(Path(o.key_path).expanduser()), "-o", "IdentitiesOnly=yes"]
        return argv

    def _destination(self) -> str:
        """The host, last before the command: one that starts with - would be read by ssh as an option
        (-oProxyCommand=...). The config refuses such a host already; this holds for any other caller too."""
        return validate.ssh_host("host", self.options.host)

    def base_argv(self) -> list[str]:
        return [*self._common_argv(), "-o", "ControlMaster=no", "-o", "BatchMode=yes"]

    def login_argv(self) -> list[str]:
        """What `hpcbridge login` runs in the user's terminal: a master that asks its questions there, goes to
        the background once logged in (-f), and stays ControlPersist after the last command."""
        return [*self._common_argv(), "-o", "ControlMaster=yes",
                "-o", f"ControlPersist={self.options.control_persist}", "-f", "-N", self._destination()]

    def child_environ(self) -> dict[str, str]:
        """The local ssh's environment: the user's (SSH_AUTH_SOCK, a ProxyCommand's needs), without hpcbridge's
        secrets, which a ProxyCommand or SendEnv would otherwise carry on."""
        return self.env.inherited(os.environ)

    def check_argv(self) -> list[str]:
        return [*self.base_argv(), "-O", "check", self._destination()]

    def _remote(self, argv: list[str], timeout: float) -> str:
        # the remote command dies with its deadline even though the local ssh cannot signal it
        limit = ["timeout", "-s", "KILL", f"{max(1, int(timeout) + 1)}"]
        return shell_join([*limit, *self.env.argv_prefix(), *argv])

    # --- the contract ---------------------------------------------------------------------------------
    def _no_master(self) -> TransportError:
        o = self.options
        if o.users_master:
            own = (f"log in with `ssh {o.host}` (your ssh config's ControlMaster {o.users_master} makes it the "
                   "master) or " if o.users_master in ("auto", "autoask", "yes", "ask", "true") else "")
            return TransportError(
                f"no SSH master for {o.cluster} at the ControlPath your ssh config gives {o.host} "
                f"({o.control_path}): {own}log in once in a terminal with `hpcbridge login {o.cluster}`",
                transient=False)
        return TransportError(
            f"no SSH master for {self.options.cluster} ({self.options.control_path}): log in once in a terminal "
            f"with `hpcbridge login {self.options.cluster}`; the login lasts while it is in use and "
            f"{self.options.control_persist} after the last command", transient=False)

    async def master_alive(self) -> tuple[bool, str]:
        """`ssh -O check`: (alive, what ssh said, e.g. 'Master running (pid=1234)')."""
        await self.resolve()
        if not os.path.exists(self.options.control_path):
            return False, "no control socket"
        proc = await asyncio.create_subprocess_exec(*self.check_argv(), stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                    env=self.child_environ())
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 10)
        except TimeoutError:
            proc.kill()
            return False, "the master did not answer -O check within 10 s"
        said = (decode(err) + decode(out)).strip()
        return proc.returncode == 0, said

    async def run(self, argv: list[str], *, timeout: float, stdin: bytes | None = None,
                  idempotent: bool = True) -> CommandResult:
        await self.resolve()
        if not os.path.exists(self.options.control_path):
            raise self._no_master()
        if stdin is None and idempotent and self.options.shell_workers:
            result = await self._run_in_shell(argv, timeout)
            if result is not None:
                return result
        started = time.monotonic()
        command = [*self.base_argv(), self._destination(), "--", self._remote(argv, timeout)]
        async with self._sessions:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *command, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
                    env=self.child_environ())
            except OSError as exc:
                raise TransportError(f"cannot run {self.options.ssh_binary}: {exc}", transient=False) from exc
            try:
                out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
            except TimeoutError as exc:
                proc.kill()
                await proc.wait()
                raise CommandTimeout(f"'{argv[0]}' did not finish within {timeout:g}s on {self.description}; "
                                     "the local ssh was killed and the remote command ends with its deadline") from exc
        status = proc.returncode if proc.returncode is not None else 255
        if status == 255 and _NO_MASTER.search(decode(err)) and not (await self.master_alive())[0]:
            raise self._no_master()  # 255 is ssh's own failure, not the command's exit status
        return CommandResult(tuple(argv), decode(out), decode(err), status, time.monotonic() - started,
                             raw(out))

    async def _take_shell(self, timeout: float) -> PipeShell | None:
        while self._idle:
            shell = self._idle.pop()
            if shell.usable():
                return shell
            self._discard(shell)
        if self._shells >= min(self.options.shell_workers, self.options.max_channels - 1) or self._sessions.locked():
            return None
        self._shells += 1
        await self._sessions.acquire()  # held while the shell lives: the master's MaxSessions counts it
        try:
            argv = [*self.base_argv(), self._destination(), "--", "exec /bin/sh"]
            return await PipeShell.start(argv, self.child_environ(), min(timeout, 15.0))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            self._shells -= 1
            self._sessions.release()
            return None

    def _discard(self, shell: PipeShell) -> None:
        shell.close()
        self._shells -= 1
        self._sessions.release()

    async def _run_in_shell(self, argv: list[str], timeout: float) -> CommandResult | None:
        """A read-only command on an idle long-lived shell; None: use a process of its own (no shell free,
        or the shell broke before answering: safe to send again)."""
        shell = await self._take_shell(timeout)
        if shell is None:
            return None
        started = time.monotonic()
        healthy = False
        try:
            out, err, status = await asyncio.wait_for(shell.run(self._remote(argv, timeout)), timeout)
            healthy = True
        except TimeoutError as exc:
            raise CommandTimeout(f"'{argv[0]}' did not finish within {timeout:g}s on {self.description}; "
                                 "the remote command ends with its deadline") from exc
        except (OSError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return None
        finally:
            # a shell interrupted mid-frame (timeout, error, cancellation) cannot be trusted again
            if healthy:
                self._idle.append(shell)
            else:
                self._discard(shell)
        return CommandResult(tuple(argv), decode(out), decode(err), status, time.monotonic() - started, raw(out))

    async def write_file(self, path: str, data: bytes, *, timeout: float) -> None:
        """Through the master: `dd of=PATH` fed on stdin (no shell involved in the path)."""
        result = await self.run(["dd", f"of={path}", "status=none"], timeout=timeout, stdin=data)
        if not result.ok:
            raise TransportError(f"could not write {path}: {result.stderr.strip()}", transient=False)

    async def reach(self, host: str, port: int) -> tuple[str, int]:
        """A local port the master forwards to host:port (`ssh -O forward -L`), kept until close()."""
        if (host, port) in self._forwards:
            return "127.0.0.1", self._forwards[(host, port)]
        with socket.socket() as s:  # a free port now; -O forward says so if it was taken meanwhile
            s.bind(("127.0.0.1", 0))
            local = int(s.getsockname()[1])
        spec = f"127.0.0.1:{local}:{host}:{port}"
        result = await self._control("forward", "-L", spec)
        if result[0] != 0:
            raise TransportError(f"the master of {self.options.cluster} did not forward {spec}: {result[1]}")
        self._forwards[(host, port)] = local
        return "127.0.0.1", local

    async def _control(self, command: str, *extra: str) -> tuple[int, str]:
        await self.resolve()
        if not os.path.exists(self.options.control_path):
            raise self._no_master()
        proc = await asyncio.create_subprocess_exec(
            *self.base_argv(), "-O", command, *extra, self._destination(), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=self.child_environ())
        out, err = await asyncio.wait_for(proc.communicate(), 10)
        return proc.returncode or 0, (decode(err) + decode(out)).strip()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for shell in idle:
            self._discard(shell)
        await asyncio.gather(*(shell.aclose() for shell in idle))
        for (host, port), local in list(self._forwards.items()):
            try:
                await self._control("cancel", "-L", f"127.0.0.1:{local}:{host}:{port}")
            except (TransportError, TimeoutError, OSError):
                pass  # the master is gone, and its forwards with it
        self._forwards.clear()
