"""Files toolset: run_script, a script body with a chosen interpreter (services/script.py). Offered only
where a cluster sets allow_shell, as run_shell_command."""

from __future__ import annotations

from typing import Annotated, Literal

from fastmcp.tools.base import ToolResult
from pydantic import Field

from ..services.script import MAX_SCRIPT
from ..services.script import run_script as run_body
from ..services.shell import ShellResult
from . import render
from .params import ClusterArg
from .toolkit import ToolKit, reply


def register(kit: ToolKit) -> None:
    registry = kit.registry
    if not any(c.allow_shell for c in registry.settings.clusters.values()):
        return  # a tool that can only refuse is not offered (and costs no context)

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=ShellResult)
    async def run_script(
        script: Annotated[str, Field(description="The script body", max_length=MAX_SCRIPT)],
        interpreter: Annotated[Literal["bash", "sh", "python3"], Field(description="Interpreter")] = "bash",
        working_directory: Annotated[str | None, Field(description="Directory to run it in")] = None,
        timeout: Annotated[int | None, Field(description="Seconds before it is killed", ge=1, le=3600)] = None,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Run a script on the login node with bash, sh or python3 (fed on standard input). Same policy as
        run_shell_command: off unless allow_shell; with a shell_allowlist the interpreter must be on it."""
        c = registry.get(cluster)
        result = await run_body(c, interpreter, script, working_directory, float(timeout) if timeout else None)
        return reply(result, render.shell_result(result))
