"""SSH transport: one persistent asyncssh connection per cluster.

- Host keys are verified against known_hosts unless the config explicitly turns that off (logged).
- ~/.ssh/config is honoured (Host aliases, HostName, User, Port, IdentityFile, ProxyJump), and so is
  the SSH agent.
- Keepalives detect a dead peer; a lost connection is re-opened on the next command.
- A semaphore keeps concurrent channels below OpenSSH's default MaxSessions=10 (sshd_config(5)).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from .. import validate
from ..errors import CommandTimeout, ConfigError, TransportError
from ..models import NO_ENV, CommandResult, EnvSpec
from ..quoting import shell_join
from .base import decode, raw
from .shellworker import ShellWorker

log = logging.getLogger("hpcbridge.ssh")


@dataclass(frozen=True)
class SshOptions:
    host: str
    port: int | None = None
    user: str | None = None
    key_path: str | None = None
    password: str | None = None
    known_hosts: str | None = None
    verify_host_key: bool = True
    ssh_config: str | None = None
    connect_timeout: float = 15.0
    keepalive_interval: float = 15.0
    max_channels: int = 8
    shell_workers: int = 2


class SshTransport:
    def __init__(self, options: SshOptions, env: EnvSpec = NO_ENV) -> None:
        self.options = options
        self.env = env
        self._workers: set[ShellWorker] = set()
        self._idle: list[ShellWorker] = []
        self._starting = 0
        self.description = f"ssh {options.user + '@' if options.user else ''}{options.host}" + (
            f":{options.port}" if options.port else ""
        )
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._channels = asyncio.Semaphore(options.max_channels)
        self._sftp_ok: bool | None = None
        self._forwards: dict[tuple[str, int], tuple[asyncssh.SSHClientConnection, asyncssh.SSHListener]] = {}
        self.connects = 0

    def _connect_kwargs(self) -> dict[str, object]:
        o = self.options
        kwargs: dict[str, object] = {
            "connect_timeout": o.connect_timeout,
            "keepalive_interval": o.keepalive_interval,
            "keepalive_count_max": 3,
        }
        if o.port:
            kwargs["port"] = o.port
        if o.user:
            kwargs["username"] = o.user
        if o.ssh_config:
            kwargs["config"] = [str(Path(o.ssh_config).expanduser())]
        if o.key_path:
            kwargs["client_keys"] = [str(Path(o.key_path).expanduser())]
            if o.password:
                kwargs["passphrase"] = o.password
        elif o.password:
            kwargs["password"] = o.password
        if not o.verify_host_key:
            log.warning("host key verification is OFF for %s (verify_host_key = false in config)", o.host)
            kwargs["known_hosts"] = None
        elif o.known_hosts:
            kwargs["known_hosts"] = str(Path(o.known_hosts).expanduser())
        return kwargs

    async def connection(self) -> asyncssh.SSHClientConnection:
        conn = self._conn
        if conn is not None and not conn.is_closed():
            return conn
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            self._check_identity()
            try:
                self._conn = await asyncssh.connect(self.options.host, **self._connect_kwargs())
            except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
                raise ConfigError(f"key_path {self.options.key_path!r} is not a private key hpcbridge can "
                                  f"use ({exc}): point key_path at the private key (not the .pub), and set "
                                  "password to its passphrase if it has one") from exc
            except TimeoutError as exc:  # asyncssh's connect_timeout; it says nothing itself
                raise TransportError(
                    f"no SSH answer from {self._address()} within {self.options.connect_timeout:g} s "
                    "(connect_timeout): the host is down, a firewall drops the connection, or no SSH server "
                    "listens there; check host and port") from exc
            except asyncssh.HostKeyNotVerifiable as exc:
                raise TransportError(self._unknown_host_key(exc.reason), transient=False) from exc
            except asyncssh.PermissionDenied as exc:
                raise TransportError(
                    f"SSH login to {self.description} refused: {exc.reason}. Check user and key; a site that "
                    "asks for a one-time code or an approval at each login needs transport = \"openssh\" "
                    "(log in once with `hpcbridge login CLUSTER`).",
                    transient=False,
                ) from exc
            except (asyncssh.ConnectionLost, ConnectionResetError, BrokenPipeError) as exc:  # the peer closed before SSH:
                raise TransportError(  # "Connection lost", "reset by peer" or "broken pipe" (a race)
                    f"cannot reach {self.description}: {self._address()} closed the connection before the SSH "
                    f"login ({exc}): check host and port (is an SSH server listening "
                    "there?), and that the site accepts connections from this network (VPN, firewall)") from exc
            except (OSError, asyncssh.Error) as exc:
                raise TransportError(f"cannot reach {self.description}: {exc or type(exc).__name__}") from exc
            self.connects += 1
            self._sftp_ok = None
            log.info("connected to %s", self.description)
            return self._conn

    def _unknown_host_key(self, reason: str) -> str:
        """On a port other than 22, known_hosts holds the key as [host]:port and ssh-keyscan needs -p: the
        message gives the command that fetches the right line."""
        o = self.options
        where = o.known_hosts or "~/.ssh/known_hosts"
        name = f"{o.host}:{o.port}" if o.port and o.port != 22 else o.host
        keyscan = f"ssh-keyscan -p {o.port} {o.host}" if o.port and o.port != 22 else f"ssh-keyscan {o.host}"
        return (f"host key of {name} is not in known_hosts ({where}): {reason}. Log in once with ssh and accept "
                f"the key after checking its fingerprint, or add it with `{keyscan} >> {where}`; or set "
                "known_hosts to the right file.")

    def _address(self) -> str:
        o = self.options
        return f"{o.host}:{o.port}" if o.port else f"{o.host} (port from ~/.ssh/config, else 22)"

    def _check_identity(self) -> None:
        """Before connecting: a host or user that is not a plain name would land in ~/.ssh/config's
        ProxyCommand (%h, %r), which asyncssh runs; a key file that is not there is the configuration's fault,
        not the network's (asyncssh says only 'No such file', which reads as worth retrying)."""
        validate.ssh_host("host", self.options.host)
        if self.options.user:
            validate.ssh_user("user", self.options.user)
        key = self.options.key_path
        if key:
            path = Path(key).expanduser()
            if not path.is_file():
                what = "a directory" if path.exists() else "absent"
                raise ConfigError(f"key_path {key!r} is not a file ({what}): point key_path (SLURM_SSH_KEY_PATH) "
                                  "at the private key, or leave it out to use the SSH agent and ~/.ssh/id_*")
            if not os.access(path, os.R_OK):
                raise ConfigError(f"key_path {key!r} cannot be read by this user: check its owner and mode "
                                  "(0600)")

    def _drop(self, conn: asyncssh.SSHClientConnection) -> None:
        if self._conn is conn:
            self._conn = None
        conn.close()

    async def run(
        self, argv: list[str], *, timeout: float, stdin: bytes | None = None, idempotent: bool = True
    ) -> CommandResult:
        deadline = time.monotonic() + timeout
        if stdin is None and idempotent and self.options.shell_workers:
            result = await self._run_in_worker(argv, timeout)
            if result is not None:
                return result
        remaining = deadline - time.monotonic()  # a worker that could not start spent part of the time
        if remaining <= 0:
            raise CommandTimeout(f"'{argv[0]}' did not finish within {timeout:g}s on {self.description}")
        return await self._run_in_channel(argv, timeout=remaining, stdin=stdin, idempotent=idempotent)

    async def _run_in_worker(self, argv: list[str], timeout: float) -> CommandResult | None:
        """Run on an idle worker shell; None means 'use a channel' (none free, or the worker broke)."""
        worker = await self._take_worker(timeout)
        if worker is None:
            return None
        started = time.monotonic()
        healthy = False
        try:
            out, err, status = await asyncio.wait_for(worker.run(argv), timeout)
            healthy = True
        except TimeoutError as exc:
            raise CommandTimeout(f"'{argv[0]}' did not finish within {timeout:g}s on {self.description}") from exc
        except (asyncssh.Error, OSError, asyncio.IncompleteReadError):
            return None  # read-only and not yet answered: safe to send again on a fresh channel
        finally:
            # A worker interrupted mid-frame (timeout, error, cancellation) cannot be trusted again.
            if healthy:
                self._idle.append(worker)
            else:
                self._discard(worker)
        return CommandResult(tuple(argv), decode(out), decode(err), status, time.monotonic() - started,
                             raw(out))

    async def _take_worker(self, timeout: float) -> ShellWorker | None:
        conn = await self.connection()
        while self._idle:
            worker = self._idle.pop()
            if worker.usable(conn):
                return worker
            self._discard(worker)
        # Workers hold their channel slot for as long as they live; at least one slot stays for channels.
        limit = min(self.options.shell_workers, self.options.max_channels - 1)
        if len(self._workers) + self._starting >= limit or self._channels.locked():
            return None
        self._starting += 1
        await self._channels.acquire()
        try:
            worker = await asyncio.wait_for(ShellWorker.start(conn, self.env, min(timeout, 15.0)), min(timeout, 15.0))
        except (TimeoutError, asyncssh.Error, OSError, asyncio.IncompleteReadError) as exc:
            self._channels.release()
            log.info("no worker shell on %s (%s); using a channel per command", self.description, exc)
            return None
        finally:
            self._starting -= 1
        self._workers.add(worker)
        return worker

    def _discard(self, worker: ShellWorker) -> None:
        worker.close()
        if worker in self._workers:
            self._workers.remove(worker)
            self._channels.release()

    async def _run_in_channel(
        self, argv: list[str], *, timeout: float, stdin: bytes | None, idempotent: bool
    ) -> CommandResult:
        command = shell_join(self.env.argv_prefix() + argv)
        deadline = time.monotonic() + timeout
        for attempt in range(1, 6):
            conn = await self.connection()
            started = time.monotonic()
            async with self._channels:
                try:
                    # a peer that stopped answering (sshd stopped, network gone) must not hold the call past
                    # its timeout: opening the channel counts against it too
                    process = await asyncio.wait_for(conn.create_process(command, encoding=None),
                                                     max(0.1, deadline - time.monotonic()))
                except TimeoutError as exc:
                    raise CommandTimeout(f"'{argv[0]}': {self.description} did not open a channel within "
                                         f"{timeout:g}s") from exc
                except (asyncssh.ChannelOpenError, asyncssh.ConnectionLost, OSError) as exc:
                    # Nothing started on the far side, so sending again is safe. A refused channel on a
                    # live connection (sshd's MaxSessions) only needs a moment; a dead one a reconnect.
                    if conn.is_closed() or not isinstance(exc, asyncssh.ChannelOpenError):
                        self._drop(conn)
                    if attempt == 5:
                        raise TransportError(f"cannot open a channel to {self.description}: {exc}") from exc
                    await asyncio.sleep(0.05 * attempt)
                    continue
                try:
                    out, err = await asyncio.wait_for(process.communicate(stdin),
                                                      max(0.1, deadline - time.monotonic()))
                except TimeoutError as exc:
                    if idempotent:
                        _kill(process)  # a read (find, du, squeue) can simply die
                    else:
                        process.close()  # srun/sbatch must not be SIGKILLed: the caller cleans up by name
                    raise CommandTimeout(
                        f"'{argv[0]}' did not finish within {timeout:g}s on {self.description}"
                    ) from exc
                except (asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError, BrokenPipeError) as exc:
                    self._drop(conn)
                    if attempt >= 2 or not idempotent:
                        raise TransportError(
                            f"connection to {self.description} broke while '{argv[0]}' ran; "
                            "it may or may not have taken effect",
                        ) from exc
                    continue
                # Release the slot only once sshd has closed the session, so we never exceed MaxSessions.
                process.close()
                await process.wait_closed()
            # exit_status is None when the remote command was killed by a signal
            status = process.exit_status if process.exit_status is not None else 255
            return CommandResult(tuple(argv), decode(out), decode(err), status, time.monotonic() - started,
                             raw(out))
        raise TransportError(f"cannot run commands on {self.description}")

    async def write_file(self, path: str, data: bytes, *, timeout: float) -> None:
        """SFTP when the server offers it; otherwise `dd of=PATH` fed on stdin (no shell involved)."""
        conn = await self.connection()
        if self._sftp_ok is not False:
            try:
                async with self._channels, conn.start_sftp_client() as sftp, sftp.open(path, "wb") as fh:
                    await asyncio.wait_for(fh.write(data), timeout)
                self._sftp_ok = True
                return
            except asyncssh.SFTPError as exc:
                raise TransportError(f"could not write {path}: {exc.reason}", transient=False) from exc
            except (asyncssh.ChannelOpenError, asyncssh.ProcessError) as exc:
                log.info("SFTP unavailable on %s (%s); using dd", self.description, exc)
                self._sftp_ok = False
        result = await self._run_in_channel(["dd", f"of={path}", "status=none"], timeout=timeout, stdin=data,
                                            idempotent=True)
        if not result.ok:
            raise TransportError(f"could not write {path}: {result.stderr.strip()}", transient=False)

    async def reach(self, host: str, port: int) -> tuple[str, int]:
        """A listener on 127.0.0.1 (an OS-chosen port) whose connections the login node's sshd opens to
        host:port; kept while the connection lives, re-made after a reconnect."""
        conn = await self.connection()
        known = self._forwards.get((host, port))
        if known and known[0] is conn:
            return "127.0.0.1", known[1].get_port()
        try:
            listener = await conn.forward_local_port("127.0.0.1", 0, host, port)
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(f"cannot forward a local port to {host}:{port} through {self.description}: "
                                 f"{exc}") from exc
        if known:
            known[1].close()
        self._forwards[(host, port)] = (conn, listener)
        log.info("forwarding 127.0.0.1:%d to %s:%d through %s", listener.get_port(), host, port, self.description)
        return "127.0.0.1", listener.get_port()

    async def close(self) -> None:
        for _, listener in self._forwards.values():
            listener.close()
        self._forwards.clear()
        for worker in list(self._workers):
            self._discard(worker)
        self._idle.clear()
        if self._conn is not None:
            self._conn.close()
            try:
                await asyncio.wait_for(self._conn.wait_closed(), 5)
            except (TimeoutError, OSError):
                pass
            self._conn = None


def _kill(process: asyncssh.SSHClientProcess[bytes]) -> None:
    """Ask sshd to SIGKILL the command (OpenSSH >= 7.9 honours signal requests), then close the channel:
    closing alone leaves a command without a terminal running on the cluster."""
    try:
        process.send_signal("KILL")
    except (asyncssh.Error, OSError):
        pass
    process.close()
