"""File tools of the Slurm plan (33-35, 37): read, write, inspect and delete inside the sandbox."""

from __future__ import annotations

from typing import Annotated

from fastmcp import Context
from fastmcp.tools.base import ToolResult
from pydantic import Field

from ..services import files
from ..services.files import DEFAULT_MAX_BYTES, FileContent, FileInfo
from . import confirm as confirming
from . import render, render_files
from .outputs import FileWritten, PathDeleted
from .params import ClusterArg, DirType
from .toolkit import ToolKit, reply

PathArg = Annotated[str, Field(description="File path (absolute, or relative to directory_type)")]


def register(kit: ToolKit) -> None:
    registry = kit.registry

    @kit.tool(read_only=True, output=FileContent)
    async def read_file(
        path: PathArg,
        directory_type: DirType = None,
        tail_lines: Annotated[int | None, Field(description="Only the last N lines", ge=1)] = None,
        head_lines: Annotated[int | None, Field(description="Only the first N lines", ge=1)] = None,
        encoding: Annotated[str, Field(description="Text encoding")] = "utf-8",
        max_bytes: Annotated[int, Field(description="Read at most this many bytes", ge=1,
                                        le=1024 * 1024)] = DEFAULT_MAX_BYTES,
        allow_binary: Annotated[bool, Field(description="Read a binary file anyway")] = False,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Read a text file inside the configured directories, capped; says when it was cut and refuses
        binary files unless asked."""
        c = registry.get(cluster)
        content = await files.read_file(c, path, directory_type, tail_lines=tail_lines, head_lines=head_lines,
                                        max_bytes=max_bytes, encoding=encoding, allow_binary=allow_binary)
        return reply(content, render.file_content(content))

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=FileWritten)
    async def write_file(
        path: PathArg,
        content: Annotated[str, Field(description="Text to write")],
        directory_type: DirType = None,
        append: Annotated[bool, Field(description="Append instead of replacing")] = False,
        make_dirs: Annotated[bool, Field(description="Create missing parent directories")] = True,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Write a text file inside the configured directories: replaced atomically (a reader never sees
        half a file), or appended."""
        c = registry.get(cluster)
        data = content.encode()
        target = await files.write_file(c, path, data, directory_type, append=append, make_dirs=make_dirs)
        verb = "appended" if append else "wrote"
        return ToolResult(content=f"{verb} {len(data)} bytes to {target}",
                          structured_content={"path": target, "bytes": len(data), "appended": append})

    @kit.tool(read_only=True, output=FileInfo)
    async def get_file_info(path: PathArg, directory_type: DirType = None, cluster: ClusterArg = None) -> ToolResult:
        """Type, size, modification time, permissions and owner of a file or directory."""
        c = registry.get(cluster)
        info = await files.file_info(c, path, directory_type)
        return reply(info, render_files.file_info(info))

    @kit.tool(read_only=False, destructive=True, idempotent=True, output=PathDeleted)
    async def delete_file(
        ctx: Context,
        path: PathArg,
        directory_type: DirType = None,
        recursive: Annotated[bool, Field(description="Delete a directory and everything in it")] = False,
        confirm: Annotated[bool, Field(description="true: delete without asking (needed when the client "
                                                   "cannot ask the user); deletion cannot be undone")] = False,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Delete a file (or, with recursive, a directory) inside the configured directories. The user is
        asked first where the client can ask, else it needs confirm=true; never deletes a configured directory."""
        c = registry.get(cluster)
        asking = await confirming.ask(
            ctx, confirm, f"Delete {path}{' and everything in it' if recursive else ''} on {c.name}? "
            "This cannot be undone.", f"deleting {path}",
            f"delete_file needs confirm=true to delete {path} (deletion cannot be undone)")
        if asking is not None:
            return asking
        real = await files.delete_path(c, path, directory_type, recursive=recursive)
        return ToolResult(content=f"deleted {real}", structured_content={"path": real, "deleted": True})
