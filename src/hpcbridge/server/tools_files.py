"""Job output, uploads and the (off by default) shell tool."""

from __future__ import annotations

from typing import Annotated, Literal

from fastmcp.tools.base import ToolResult
from pydantic import Field

from ..errors import InvalidParameter, NotFound
from ..services import files
from ..services.files import DEFAULT_MAX_BYTES, FileContent
from ..services.shell import ShellResult
from ..services.shell import run_shell_command as run_shell
from . import render
from .outputs import FileWritten
from .params import ClusterArg
from .toolkit import ToolKit, reply


def register(kit: ToolKit) -> None:
    registry = kit.registry

    @kit.tool(read_only=True, output=FileContent)
    async def read_job_output(
        file_path: Annotated[str | None, Field(description="Output file on the cluster")] = None,
        job_id: Annotated[str | int | None, Field(description="Or: the job whose output to read")] = None,
        stream: Annotated[Literal["stdout", "stderr"], Field(description="With job_id: which stream")] = "stdout",
        tail_lines: Annotated[int | None, Field(description="Only the last N lines", ge=1)] = None,
        head_lines: Annotated[int | None, Field(description="Only the first N lines", ge=1)] = None,
        max_bytes: Annotated[int, Field(description="Read at most this many bytes", ge=1,
                                        le=1024 * 1024)] = DEFAULT_MAX_BYTES,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Read a job's stdout/stderr (by path or job id), capped; the answer says when it was cut."""
        c = registry.get(cluster)
        if not file_path and not job_id:
            raise InvalidParameter("file_path", "neither file_path nor job_id given", "one of them")
        path = file_path
        if not path:
            details = await c.job_details(c.job_id(job_id or ""))
            path = details.stdout_path if stream == "stdout" else details.stderr_path
            if not path:
                raise NotFound(f"job {job_id}: the scheduler no longer knows its {stream} path; "
                               f"pass file_path (it ran in {details.work_dir or 'an unknown directory'})")
        content = await files.read_file(c, path, tail_lines=tail_lines, head_lines=head_lines, max_bytes=max_bytes)
        return reply(content, render.file_content(content))

    @kit.tool(read_only=False, destructive=True, idempotent=True, output=FileWritten)
    async def upload_file(
        content: Annotated[str, Field(description="File content (text)")],
        remote_path: Annotated[str, Field(description="Destination path on the cluster")],
        make_dirs: Annotated[bool, Field(description="Create missing parent directories")] = False,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Write a text file on the cluster atomically (temporary file, then rename), inside the configured
        directories."""
        c = registry.get(cluster)
        target = await files.write_file(c, remote_path, content.encode(), make_dirs=make_dirs)
        size = len(content.encode())
        return ToolResult(content=f"wrote {size} bytes to {target}",
                          structured_content={"path": target, "bytes": size})

    if not any(c.allow_shell for c in registry.settings.clusters.values()):
        return  # a tool that can only refuse is not offered (and costs no context)

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=ShellResult)
    async def run_shell_command(
        command: Annotated[str, Field(description="Command line to run on the login node")],
        working_directory: Annotated[str | None, Field(description="Directory to run it in")] = None,
        timeout: Annotated[int | None, Field(description="Seconds before it is killed", ge=1, le=3600)] = None,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Run a command on the login node. Off unless the cluster's config sets allow_shell; with a
        shell_allowlist only those programs run, and the line is split into arguments without a shell."""
        c = registry.get(cluster)
        shell = await run_shell(c, command, working_directory, float(timeout) if timeout else None)
        return reply(shell, render.shell_result(shell))

