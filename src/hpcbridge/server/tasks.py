"""MCP tasks (the io.modelcontextprotocol/tasks extension, SEP-2663), when `mcp_tasks = true`: which calls of a
task-capable tool become tasks. fastmcp-tasks is the `tasks` extra, imported only here, only then."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from fastmcp.server.extensions import ServerExtension


def tasks_extension() -> ServerExtension:
    """fastmcp-tasks, in memory, in this process: a task runs the same tool body against this process's
    connections and sessions, so a separate worker (Redis) could not run it, and a laptop's stdio server
    needs no daemon."""
    try:
        from fastmcp_tasks import TasksExtension
    except ImportError as exc:
        raise ConfigError("mcp_tasks = true needs the tasks extra: pip install 'hpcbridge[tasks]'") from exc

    import mcp_types
    from fastmcp import Context
    from fastmcp.server.extensions import ToolCallContinuation, ToolCallOutcome

    class Tasks(TasksExtension):  # type: ignore[misc]
        async def intercept_tool_call(self, params: mcp_types.CallToolRequestParams, context: Context,
                                      call_next: ToolCallContinuation) -> ToolCallOutcome:
            # The server decides per call whether to answer with a task (SEP-2663). A call that asked for
            # progress notifications is one its client holds open to watch: a task would turn those into status
            # messages it never polls for, so that call runs inline, as before.
            rc = context.request_context
            if rc is not None and rc.meta and rc.meta.get("progressToken") is not None:  # raw _meta, wire names
                return await call_next()
            return await super().intercept_tool_call(params, context, call_next)

    return Tasks(url="memory://")
