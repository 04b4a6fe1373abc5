"""The FastMCP application: builds the registry of clusters and registers every tool group."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastmcp import FastMCP
from fastmcp.server.auth import AuthProvider, TokenVerifier

from .. import __version__, principal
from ..config import TOOLSETS, Settings
from ..errors import HpcBridgeError
from ..history.service import History
from ..services.cluster import Cluster
from ..services.interactive import Sessions
from ..services.registry import Registry
from ..store import Store
from .arguments import ArgumentErrors
from .tasks import tasks_extension
from .toolkit import ToolKit

if TYPE_CHECKING:
    from ..jupyter.kernels import Kernels

log = logging.getLogger("hpcbridge.server")

INSTRUCTIONS = """hpcbridge operates HPC clusters (Slurm and PBS; a PBS queue is a partition) for you. Every tool takes an optional `cluster`.
Start with get_cluster_status or get_gpu_availability; submit with submit_job (impossible requests are
refused with what is available); follow jobs with list_jobs (paged: use offset/limit), get_job_details,
get_job_history and read_job_output. Job ids are strings like "1234" or "1234_7" (Slurm array task) or
"1234.server" (PBS)."""


def new_instance_tag() -> str:
    return secrets.token_hex(3)


async def _end_idle_sessions(sessions: Sessions, settings: Settings) -> None:
    # check a few times per idle timeout, at most every 30 s
    shortest = min(c.interactive_session_timeout for c in settings.clusters.values())
    every = max(1.0, min(30.0, shortest / 3))
    while True:
        await asyncio.sleep(every)
        try:
            ended = await sessions.end_idle()
            if ended:
                log.info("ended idle sessions: %s", ", ".join(ended))
        except HpcBridgeError as exc:
            log.warning("idle-session check failed: %s", exc)


# toolsets that need a capability some backend lacks: offered only when a configured cluster has it
_NEEDS = {"interactive": "interactive", "containers": "containers"}  # jupyter: a batch job, every scheduler


def _supported(toolset: str, registry: Registry) -> bool:
    """A cluster kind only offers the tools its backend supports (backends are built without connecting)."""
    if toolset == "tensorpool":
        return bool(registry.settings.providers)
    needed = _NEEDS.get(toolset)
    return not needed or any(getattr(registry.get(n).capabilities, needed) for n in registry.names)


def _kernels(registry: Registry, instance: str) -> Kernels:
    """Jupyter's modules (nbformat, an HTTP client) load only for a server that offers the jupyter toolset."""
    from ..jupyter.kernels import Kernels
    from ..jupyter.servers import JupyterServers

    return Kernels(JupyterServers(registry, instance))


def create_app(settings: Settings, auth: AuthProvider | None = None, instance: str | None = None,
               store: Store | None = None, dashboard: bool = False) -> FastMCP:
    """The server. `instance` tags the allocations it makes; on exit it cancels them, and on start it
    cancels those left by instances that died (see services/interactive.py)."""
    registry = Registry(settings)
    store = store or Store()
    instance = instance or new_instance_tag()
    sessions = Sessions(registry, store, instance)
    history = History(settings, registry, store.path.parent)
    offered = [name for name in settings.toolsets if _supported(name, registry)]
    kernels = _kernels(registry, instance) if "jupyter" in offered else None

    @asynccontextmanager
    async def lifespan(_: FastMCP) -> AsyncIterator[dict[str, Any]]:
        store.register_instance(instance)
        if any(c.reap_orphans for c in settings.clusters.values()):
            try:
                reaped = await sessions.reap_dead()
                if reaped:
                    log.warning("cancelled %d allocation(s) left by a dead hpcbridge", reaped)
            except HpcBridgeError as exc:
                log.warning("could not reap allocations of dead instances: %s", exc)
        # jupyter_warm_start: submitted in the background, never holding up startup or tools/list
        if kernels is not None:
            from ..jupyter import warm as jupyter_warm

            jupyter_warm.start(kernels.servers, registry, "default" if auth is not None else principal.LOCAL)
        idle = asyncio.create_task(_end_idle_sessions(sessions, settings))
        history.start()
        try:
            yield {"registry": registry, "sessions": sessions}
        finally:
            idle.cancel()
            try:
                if kernels is not None:
                    await kernels.close()  # first: a GPU left idle costs most
                await history.stop()
                await sessions.cancel_all()
            finally:
                await registry.close()

    # dereference_schemas off: the toolkit registers schemas already inlined (server/schemas.py), once
    mcp = FastMCP("hpcbridge", instructions=INSTRUCTIONS, version=__version__, lifespan=lifespan, auth=auth,
                  dereference_schemas=False)
    if settings.mcp_tasks:
        mcp.add_extension(tasks_extension())  # MCP tasks for the tools declared with task=True (the long waits)
    kit = ToolKit(mcp, registry, tasks=settings.mcp_tasks)
    mcp.add_middleware(ArgumentErrors(kit.tools))  # a bad argument: one sentence naming it, not pydantic's report
    kit.on_call.append(history.activity.touch)  # the recorder polls while someone is looking
    kit.queue_waits = history.queue_waits
    kit.on_provenance.append(history.record_provenance)  # issue 30: provenance on submission
    from . import (
        completions,
        prompts,
        resources,
        tools_account_clusters,
        tools_account_limits,
        tools_account_standing,
        tools_account_usage,
        tools_agent,
        tools_cluster,
        tools_config,
        tools_containers,
        tools_dirs,
        tools_fileops,
        tools_files,
        tools_interactive,
        tools_jobs,
        tools_script,
        tools_watch_logs,
        tools_watch_metrics,
        tools_watch_stats,
    )

    # Every client sends every tool's schema to the model on each turn: only the configured toolsets are offered.
    modules = {"cluster": [tools_cluster], "jobs": [tools_jobs, tools_files], "agent": [tools_agent],
               "watch": [tools_watch_stats, tools_watch_logs, tools_watch_metrics],
               "account": [tools_account_standing, tools_account_limits, tools_account_usage,
                           tools_account_clusters],
               "files": [tools_dirs, tools_fileops, tools_script], "containers": [tools_containers], "interactive": [], "history": [], "jupyter": [], "tensorpool": [],
               "config": [tools_config]}
    assert set(modules) == set(TOOLSETS)
    if "interactive" in offered:
        tools_interactive.register(kit, sessions)
    if "history" in offered:
        from . import tools_history  # SQLAlchemy: only for a server that offers the history

        tools_history.register(kit, history)
    if kernels is not None:
        from . import tools_jupyter

        tools_jupyter.register(kit, sessions, kernels)
    if "tensorpool" in offered:
        from ..tensorpool.service import TensorPool
        from . import tools_tensorpool

        tools_tensorpool.register(kit, TensorPool(settings.providers))
    for name in offered:
        for module in modules[name]:
            module.register(kit)
    prompts.register(kit)
    resources.register(kit)
    resources.register_history(kit, history)

    async def open_notebooks(c: Cluster) -> list[str]:
        assert kernels is not None
        return [view.notebook for view in (await kernels.listing(c))[1]]

    completions.register(kit, store, open_notebooks if kernels is not None else None)
    if dashboard:
        from ..dashboard import pages

        pages.register(mcp, registry, history, auth if isinstance(auth, TokenVerifier) else None)
    if "pbs" in settings.tool_aliases:
        from . import tool_aliases

        tool_aliases.register(kit)
    return mcp
