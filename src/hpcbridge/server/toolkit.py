"""What tool modules need: the registration helper (annotations, the error boundary, who calls) and
`reply`. Tool modules import this, never app.py, so server/ has no import cycle."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from fastmcp.tools.base import ToolResult
from fastmcp.tools.function_tool import FunctionTool
from fastmcp.utilities.tasks import TaskConfig
from mcp.types import ToolAnnotations
from pydantic import TypeAdapter

from .. import principal
from ..errors import HpcBridgeError
from ..services.registry import Registry
from .schemas import inline_defs

log = logging.getLogger("hpcbridge.server")


def take_docstring(fn: Callable[..., Any]) -> str | None:
    """The function's docstring as its description, taken off the function so that fastmcp does not parse it:
    it would run griffe (Google, NumPy and Sphinx in turn) over every tool's and prompt's docstring looking for
    parameter sections ours do not have, about 60 ms of each start. Parameters are described with
    Field(description=...)."""
    description = inspect.getdoc(fn)
    fn.__doc__ = None
    return description


@dataclass
class ToolKit:
    """What tool modules need: the app, the clusters, and the registration helper."""

    mcp: FastMCP
    registry: Registry
    tools: dict[str, FunctionTool] = field(default_factory=dict)
    tasks: bool = False  # the tasks extension is registered (settings.mcp_tasks): task=True tools offer tasks
    on_call: list[Callable[[], None]] = field(default_factory=list)  # told of every tool call (the recorder)
    # recorded median queue wait in minutes per partition of a cluster (the history; {} without one)
    queue_waits: Callable[[str], dict[str, float]] = field(default=lambda cluster: {})
    # told where each submitted job came from (services/provenance.py; the history records it)
    on_provenance: list[Callable[[str, str, Any], None]] = field(default_factory=list)

    def tool(
        self, *, read_only: bool, destructive: bool = False, idempotent: bool = True,
        output: Any = None, title: str | None = None, task: bool = False,
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
            # a read-only cluster refuses changes in the cluster object (services.cluster.refuse_if_read_only),
            # so the dashboard, the CLI and every other door get the same rule as the tools
            wrapped = self._noticed(boundary(fn))
            description = take_docstring(wrapped)
            # task: with `mcp_tasks = true`, the client may run the call as an MCP task (answered at once with a
            # task id it polls); "optional", so a plain call still waits and answers as before
            tool = FunctionTool.from_function(wrapped, description=description, annotations=annotations,
                                              output_schema=schema,
                                              task=TaskConfig(mode="optional") if task and self.tasks else None)
            tool = tool.model_copy(update={"parameters": inline_defs(tool.parameters),
                                           "output_schema": inline_defs(tool.output_schema)})
            self.tools[tool.name] = tool
            self.mcp.add_tool(tool)
            return wrapped

        return decorate

    def prompt(self, fn: Callable[..., str]) -> Callable[..., str]:
        """Register a prompt; its docstring is its description, as written (see take_docstring)."""
        self.mcp.prompt(description=take_docstring(fn))(fn)
        return fn

    def _noticed(self, fn: Callable[..., Awaitable[ToolResult]]) -> Callable[..., Awaitable[ToolResult]]:
        @functools.wraps(fn)
        async def run(*args: Any, **kwargs: Any) -> ToolResult:
            for notice in self.on_call:
                notice()
            return await fn(*args, **kwargs)

        return run


def caller() -> str:
    """The principal of this MCP request: its HTTP token's name, or "local" (stdio, the CLI)."""
    token = get_access_token()
    return token.client_id if token and token.client_id else principal.LOCAL


def boundary(fn: Callable[..., Awaitable[ToolResult]]) -> Callable[..., Awaitable[ToolResult]]:
    """The only place HpcBridgeError becomes ToolError; anything unexpected is logged, not leaked."""

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> ToolResult:
        try:
            with principal.acting_as(caller()):
                return await fn(*args, **kwargs)
        except ToolError:
            raise
        except HpcBridgeError as exc:
            hint = " (temporary: retrying may help)" if exc.transient else ""
            # the server log says what was refused; fastmcp's own line ("ERROR ... Error calling tool 'x'", no
            # reason) read as a server fault in an MCP client's log, for what is an answer to the caller
            log.info("%s: %s", fn.__name__, exc.message)
            raise ToolError(f"{exc.message}{hint}", log_level=logging.DEBUG) from exc
        except Exception as exc:
            log.exception("tool %s failed", fn.__name__)
            raise ToolError(f"internal error in {fn.__name__}: {type(exc).__name__}: {exc}") from exc

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
