"""Helpers for the attacks of the outside review, replayed live on the test cluster through a real MCP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from ..e2e.conftest import call, hpcbridge_executable, server_env  # noqa: F401 - shared with the tests


@pytest.fixture(scope="session")
def tc_env() -> dict[str, str]:
    from ..conftest import cluster_env

    return cluster_env()


@asynccontextmanager
async def client_with(tc_env: dict[str, str], toml: str | None = None, tmp: Path | None = None,
                      log_file: Path | None = None, **env: str) -> AsyncIterator[Client]:
    """A stdio server over the test cluster, with an optional TOML file, extra environment, and its stderr
    (logs, audit) written to log_file."""
    extra = dict(env)
    if toml is not None:
        assert tmp is not None
        path = tmp / "hpcbridge.toml"
        path.write_text(toml)
        extra["HPCBRIDGE_CONFIG"] = str(path)
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=server_env(tc_env, **extra),
                               log_file=log_file)
    async with Client(transport, timeout=120) as client:
        yield client
