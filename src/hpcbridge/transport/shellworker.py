"""A long-lived remote `sh` that runs one read-only command at a time, framed on stdout and stderr.

Opening an SSH channel makes sshd start the user's login shell (which reads ~/.bashrc) for every command;
on the test cluster that is 2.3 ms of the 5.9 ms a bare `squeue` costs. A worker pays it once. Each request
is one line written to the worker's stdin:

    <argv quoted by shell_join> </dev/null; printf '\\n\\036TOKEN %d\\n' "$?"; printf '\\n\\036TOKEN\\n' >&2

The command's stdout and stderr arrive on the channel's two streams, each ended by the marker with a random
per-request token (so output cannot end a frame early); the leading newline we add is stripped again. The
command reads /dev/null, never the request stream. Only commands without stdin that are safe to re-run use
a worker; anything else gets its own channel.
"""

from __future__ import annotations

import asyncio
import re
import secrets

import asyncssh

from ..models import EnvSpec
from ..quoting import shell_join


class ShellWorker:
    def __init__(self, conn: asyncssh.SSHClientConnection, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self.conn = conn
        self.process = process
        self.closed = False

    @classmethod
    async def start(cls, conn: asyncssh.SSHClientConnection, env: EnvSpec, timeout: float) -> ShellWorker:
        process = await conn.create_process("exec /bin/sh", encoding=None)
        worker = cls(conn, process)
        preamble = ""
        if env.unset:
            preamble += shell_join(["unset", *env.unset]) + "; "
        if env.assign:
            preamble += shell_join(["export", *(f"{k}={v}" for k, v in env.assign)]) + "; "
        token = secrets.token_hex(8)
        # Anything the login shell printed before sh started is read and dropped up to READY, on both streams
        # (rc files that write to stderr would otherwise open the first command's stderr).
        say = f"printf '\\036READY{token}\\n'"
        process.stdin.write(f"{preamble}{say}; {say} >&2\n".encode())
        ready = f"\x1eREADY{token}\n".encode()
        try:
            await asyncio.wait_for(asyncio.gather(process.stdout.readuntil(ready), process.stderr.readuntil(ready)),
                                   timeout)
        except BaseException:
            worker.close()
            raise
        return worker

    def usable(self, conn: asyncssh.SSHClientConnection) -> bool:
        return not self.closed and self.conn is conn and not conn.is_closed()

    async def run(self, argv: list[str]) -> tuple[bytes, bytes, int]:
        token = secrets.token_hex(8)
        line = (f"{shell_join(argv)} </dev/null; printf '\\n\\036{token} %d\\n' \"$?\"; "
                f"printf '\\n\\036{token}\\n' >&2\n")
        self.process.stdin.write(line.encode())
        out_end = re.compile(rb"\n\x1e" + token.encode() + rb" ([0-9]+)\n")
        err_end = b"\n\x1e" + token.encode() + b"\n"
        out, err = await asyncio.gather(
            self.process.stdout.readuntil(out_end, max_separator_len=48),
            self.process.stderr.readuntil(err_end),
        )
        match = out_end.search(out)
        assert match is not None  # readuntil returned because it matched
        return out[: match.start()], err[: -len(err_end)], int(match.group(1))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.process.close()
