"""The FastMCP application: builds the registry of clusters and registers every tool group."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.auth import AuthProvider
from fastmcp.server.dependencies import get_access_token
from fastmcp.tools.base import ToolResult
from fastmcp.tools.function_tool import FunctionTool
from mcp.types import ToolAnnotations
from pydantic import TypeAdapter

from .. import __version__, principal
from ..config import Settings
from ..errors import HpcBridgeError, PolicyError
from ..services.interactive import Sessions
from ..services.registry import Registry
from ..store import Store

log = logging.getLogger("hpcbridge.server")

INSTRUCTIONS = """hpcbridge operates HPC clusters (Slurm and PBS; a PBS queue is a partition) for you. Every tool takes an optional `cluster`.
Start with get_cluster_status or get_gpu_availability; submit with submit_job (impossible requests are
refused with what is available); follow jobs with list_jobs (paged: use offset/limit), get_job_details,
get_job_history and read_job_output. Job ids are strings like "1234" or "1234_7" (Slurm array task) or
"1234.server" (PBS)."""


@dataclass
class ToolKit:
    """What tool modules need: the app, the clusters, and the registration helper."""

    mcp: FastMCP
    registry: Registry
    tools: dict[str, FunctionTool] = field(default_factory=dict)

    def tool(
        self, *, read_only: bool, destructive: bool = False, idempotent: bool = True,
        output: Any = None, title: str | None = None,
    ) -> Callable[[Callable[..., Awaitable[ToolResult]]], Callable[..., Awaitable[ToolResult]]]:
        annotations = ToolAnnotations(
            title=title,
            read_only_hint=read_only,
            destructive_hint=destructive,
            idempotent_hint=idempotent,
            open_world_hint=True,
        )
        schema = TypeAdapter(output).json_schema() if output is not None else None

        def decorate(fn: Callable[..., Awaitable[ToolResult]]) -> Callable[..., Awaitable[ToolResult]]:
            if not read_only and all(c.read_only for c in self.registry.settings.clusters.values()):
                return fn  # every cluster is read-only: a tool that changes things is not offered at all
            wrapped = boundary(fn if read_only else self._refusing_read_only(fn))
            tool = FunctionTool.from_function(wrapped, annotations=annotations, output_schema=schema)
            self.tools[tool.name] = tool
            self.mcp.add_tool(tool)
            return wrapped

        return decorate


    def _refusing_read_only(self, fn: Callable[..., Awaitable[ToolResult]]) -> Callable[..., Awaitable[ToolResult]]:
        settings = self.registry.settings

        @functools.wraps(fn)
        async def run(*args: Any, **kwargs: Any) -> ToolResult:
            if "cluster" in kwargs or "cluster" in inspect.signature(fn).parameters:
                config = settings.cluster(kwargs.get("cluster"))
                if config.read_only:
                    raise PolicyError(f"cluster '{config.name}' is read-only (read_only = true): {fn.__name__} "
                                      "changes things and is refused there; the looking tools all work")
            return await fn(*args, **kwargs)

        return run


def boundary(fn: Callable[..., Awaitable[ToolResult]]) -> Callable[..., Awaitable[ToolResult]]:
    """The only place HpcBridgeError becomes ToolError; anything unexpected is logged, not leaked."""

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> ToolResult:
        token = get_access_token()
        owner = principal.current.set(token.client_id if token and token.client_id else principal.LOCAL)
        try:
            return await fn(*args, **kwargs)
        except ToolError:
            raise
        except HpcBridgeError as exc:
            hint = " (temporary: retrying may help)" if exc.transient else ""
            raise ToolError(f"{exc.message}{hint}") from exc
        except Exception as exc:
            log.exception("tool %s failed", fn.__name__)
            raise ToolError(f"internal error in {fn.__name__}: {type(exc).__name__}: {exc}") from exc
        finally:
            principal.current.reset(owner)

    return run


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(kind: type) -> TypeAdapter[Any]:
    """Building a TypeAdapter costs about 1 ms, so each result type gets one, once."""
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


def reply(data: Any, text: str) -> ToolResult:
    """Structured content for programs, a compact text rendering for the model's context."""
    structured = _adapter(type(data)).dump_python(data, mode="json")
    return ToolResult(content=text, structured_content=structured)


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


def create_app(settings: Settings, auth: AuthProvider | None = None, instance: str | None = None,
               store: Store | None = None) -> FastMCP:
    """The server. `instance` tags the allocations it makes; on exit it cancels them, and on start it
    cancels those left by instances that died (see services/interactive.py)."""
    registry = Registry(settings)
    store = store or Store()
    instance = instance or new_instance_tag()
    sessions = Sessions(registry, store, instance)

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
        idle = asyncio.create_task(_end_idle_sessions(sessions, settings))
        try:
            yield {"registry": registry, "sessions": sessions}
        finally:
            idle.cancel()
            try:
                await sessions.cancel_all()
            finally:
                await registry.close()

    mcp = FastMCP("hpcbridge", instructions=INSTRUCTIONS, version=__version__, lifespan=lifespan, auth=auth)
    kit = ToolKit(mcp, registry)
    from . import tools_interactive

    tools_interactive.register(kit, sessions)
    from . import (
        prompts,
        resources,
        tools_agent,
        tools_cluster,
        tools_containers,
        tools_dirs,
        tools_fileops,
        tools_files,
        tools_jobs,
    )

    for group in (tools_cluster, tools_jobs, tools_agent, tools_files, tools_containers, tools_dirs, tools_fileops,
                  prompts, resources):
        group.register(kit)
    if "pbs" in settings.tool_aliases:
        from . import tool_aliases

        tool_aliases.register(kit)
    return mcp
