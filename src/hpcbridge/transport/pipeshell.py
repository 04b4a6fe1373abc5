"""A long-lived remote `sh` through the OpenSSH master (`ssh -S PATH HOST -- exec /bin/sh`), the openssh
transport's counterpart of shellworker.py: a new local `ssh` process per command costs a fork, an exec and a
mux round trip to the master (1.7-2.1x asyncssh's list_jobs, bench/bench_openssh.py); a worker pays that
once. Same framing as shellworker.py: one request line on stdin,

    <command> </dev/null; printf '\\n\\036TOKEN %d\\n' "$?"; printf '\\n\\036TOKEN\\n' >&2

and each stream read up to its marker (a random token per request, so output cannot end a frame early).
The command line is the transport's (`OpenSshTransport._remote`: coreutils timeout + env + argv, quoted by
shell_join there), so a command still dies at its deadline on the cluster."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

LIMIT = 256 * 1024 * 1024  # StreamReader buffer: a 10,000-task squeue is ~2 MB; past this the worker is dropped


class PipeShell:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.closed = False

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str], timeout: float) -> PipeShell:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True, env=env, limit=LIMIT)
        shell = cls(process)
        token = secrets.token_hex(8)
        try:
            # anything the remote rc files printed before sh started (a banner, a module system's warnings) is
            # read and dropped up to READY, on both streams: left on stderr it would open the first command's
            ready = f"\x1eREADY{token}\n".encode()
            say = f"printf '\\036READY{token}\\n'"
            await asyncio.wait_for(shell._send(f"{say}; {say} >&2\n"), timeout)
            await asyncio.wait_for(asyncio.gather(shell._out.readuntil(ready), shell._err.readuntil(ready)), timeout)
        except BaseException:
            shell.close()
            raise
        return shell

    @property
    def _out(self) -> asyncio.StreamReader:
        assert self.process.stdout is not None
        return self.process.stdout

    @property
    def _err(self) -> asyncio.StreamReader:
        assert self.process.stderr is not None
        return self.process.stderr

    async def _send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode())
        await self.process.stdin.drain()

    def usable(self) -> bool:
        return not self.closed and self.process.returncode is None

    async def run(self, command: str) -> tuple[bytes, bytes, int]:
        """`command` is a complete shell command line (already quoted); (stdout, stderr, exit status)."""
        token = secrets.token_hex(8)
        await self._send(f"{command} </dev/null; printf '\\n\\036{token} %d\\n' \"$?\"; "
                         f"printf '\\n\\036{token}\\n' >&2\n")
        out_end = b"\n\x1e" + token.encode() + b" "
        err_end = b"\n\x1e" + token.encode() + b"\n"
        out, err = await asyncio.gather(self._out.readuntil(out_end), self._err.readuntil(err_end))
        status = (await self._out.readline()).strip()
        return out[: -len(out_end)], err[: -len(err_end)], int(status)

    async def aclose(self) -> None:
        """Close and reap, before the event loop ends (a pipe left to the garbage collector then complains)."""
        self.close()
        with contextlib.suppress(TimeoutError, ProcessLookupError):
            await asyncio.wait_for(self.process.wait(), 5)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            with contextlib.suppress(RuntimeError):  # reap it (no loop left at interpreter exit: nothing to do)
                asyncio.get_running_loop().create_task(self.process.wait())
