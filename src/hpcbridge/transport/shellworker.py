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

CHUNK = 1 << 16
MARKER = 48  # the longest end marker: newline, RS, a 16-digit token, blank, an exit status, newline


class ShellWorker:
    def __init__(self, conn: asyncssh.SSHClientConnection, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self.conn = conn
        self.process = process
        self.closed = False
        self.out_of_step = False

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
        err_end = re.compile(rb"\n\x1e" + token.encode() + rb"\n")
        (out, status), (err, _) = await asyncio.gather(
            self._frame(self.process.stdout, out_end), self._frame(self.process.stderr, err_end))
        if self.out_of_step:
            self.close()  # this answer is whole; the next would not be
        return out, err, int(status.group(1))

    async def _frame(self, stream: asyncssh.SSHReader[bytes], end: re.Pattern[bytes]) -> tuple[bytes, re.Match[bytes]]:
        """What the command wrote to one stream, up to its end marker (which cannot be longer than MARKER).

        Not asyncssh's readuntil: that keeps the whole frame in the channel's buffer until the marker comes,
        copying it again at every packet, and gives up once the buffer holds a window (2 MiB): a 10,000-task
        squeue is 1.7 MiB. Here each chunk is taken as it comes and the frame joined once."""
        parts: list[bytes] = []
        tail = b""  # the last bytes before this chunk, where a marker split across reads begins
        while True:
            chunk = await stream.read(CHUNK)
            if not chunk:
                raise asyncio.IncompleteReadError(b"".join(parts), None)
            window = tail + chunk
            found = end.search(window)
            if found is None:
                parts.append(chunk)
                tail = window[-MARKER:]
                continue
            self.out_of_step |= found.end() != len(window)  # nothing follows a marker, unless out of step
            parts.append(chunk)
            data = b"".join(parts)
            return data[: len(data) - len(window) + found.start()], found

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.process.close()
