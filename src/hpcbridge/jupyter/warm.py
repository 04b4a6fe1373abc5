"""Warm start (`jupyter_warm_start = true` per cluster): the Jupyter server job is submitted when hpcbridge
starts, in the background, so the first cell does not wait for the queue (jlab-mcp does the same).

The server is the one a `start_kernel_session` without resources would start (the interactive partition and
time limit, no GPU, the cluster's venv, modules, persist and idle settings), for the principal that will use
it: "local" on stdio, the HTTP server's `default` token otherwise (named tokens start their own on first use).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..services import profiles
from ..services.cluster import Cluster
from ..services.registry import Registry
from .kernels import launch_of
from .servers import JupyterServers, Launch


def start(servers: JupyterServers, registry: Registry, who: str) -> list[str]:
    """Begin the warm start of every cluster that asks for it; the clusters' names (nothing waits here)."""
    started = []
    for name in registry.names:
        if not registry.settings.cluster(name).jupyter_warm_start:
            continue
        c = registry.get(name)  # built lazily: the connection is made by the background task
        servers.warm(c, _default_launch(c), who)
        started.append(name)
    return started


def _default_launch(c: Cluster) -> Callable[[], Awaitable[Launch]]:
    async def want() -> Launch:
        spec = await profiles.allocation(c, None, None, 1, None, None, None, None, None, True)
        return launch_of(c, spec, persist=None, idle_minutes=None, start_timeout=None)

    return want
