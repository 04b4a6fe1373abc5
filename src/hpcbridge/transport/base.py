"""The transport contract shared by the local and SSH transports."""

from __future__ import annotations

from typing import Protocol

from ..models import CommandResult


class Transport(Protocol):
    """Runs argv lists on the cluster's login node and writes files there."""

    description: str

    async def run(
        self, argv: list[str], *, timeout: float, stdin: bytes | None = None, idempotent: bool = True
    ) -> CommandResult:
        """Run argv; never raises for a non-zero exit (that is in the result). Raises TransportError,
        CommandTimeout. A non-idempotent command is never re-sent after it may have started."""
        ...

    async def write_file(self, path: str, data: bytes, *, timeout: float) -> None:
        """Write data to path as the cluster user (the caller makes it atomic with a rename)."""
        ...

    async def reach(self, host: str, port: int) -> tuple[str, int]:
        """A local (address, port) that reaches host:port as the login node sees it: the same address when
        hpcbridge runs there, else a local port forwarded through the SSH connection (direct TCP/IP)."""
        ...

    async def close(self) -> None: ...


def decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


def raw(data: bytes | str | None) -> bytes:
    """stdout's bytes as written, kept beside the decoded text (CommandResult.stdout_bytes)."""
    return data if isinstance(data, bytes) else b""
