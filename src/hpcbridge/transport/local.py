"""Local transport: hpcbridge runs on the login node itself; argv goes to exec, never to a shell."""

from __future__ import annotations

import asyncio
import os
import time

from ..errors import CommandTimeout, TransportError
from ..models import NO_ENV, CommandResult, EnvSpec
from .base import decode, raw


class LocalTransport:
    description = "local"

    def __init__(self, env: EnvSpec = NO_ENV) -> None:
        self.env = env

    async def reach(self, host: str, port: int) -> tuple[str, int]:
        return host, port

    async def run(
        self, argv: list[str], *, timeout: float, stdin: bytes | None = None, idempotent: bool = True
    ) -> CommandResult:
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env=self.env.apply(os.environ),  # without hpcbridge's secrets: this becomes the job's environment
            )
        except FileNotFoundError as exc:
            return CommandResult(tuple(argv), "", f"{argv[0]}: command not found ({exc})", 127, 0.0)
        except OSError as exc:
            raise TransportError(f"could not start {argv[0]}: {exc}") from exc
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise CommandTimeout(f"'{argv[0]}' did not finish within {timeout:g}s and was killed") from exc
        return CommandResult(tuple(argv), decode(out), decode(err), proc.returncode or 0,
                             time.monotonic() - started, raw(out))

    async def write_file(self, path: str, data: bytes, *, timeout: float) -> None:
        def _write() -> None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)

        try:
            await asyncio.wait_for(asyncio.to_thread(_write), timeout)
        except OSError as exc:
            raise TransportError(f"could not write {path}: {exc.strerror}", transient=False) from exc

    async def close(self) -> None:
        return None
