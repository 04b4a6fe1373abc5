"""The cluster directory tools of the Slurm plan (27-32, 36, 38): layout, listings, search, disk usage."""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass
from typing import Annotated

from fastmcp.tools.base import ToolResult
from pydantic import Field

from .. import validate
from ..directories import directory_type as checked_type
from ..directories import mount_string
from ..errors import HpcBridgeError
from ..services import listing
from ..services.cluster import Cluster
from ..services.listing import DiskUsage, Entry, Listing
from ..services.sandbox import Sandbox
from . import render_files as render
from .outputs import ClusterDirectories, DirectoryState
from .params import ClusterArg, DirType, Offset, PageLimit, Pattern
from .toolkit import ToolKit, reply


@dataclass(frozen=True)
class DiskUsageReport:
    cluster: str
    usage: list[DiskUsage]


def _mentions_job(name: str, job_id: str) -> bool:
    return re.search(rf"(^|[^0-9]){re.escape(job_id)}([^0-9]|$)", name) is not None


def register(kit: ToolKit) -> None:
    registry = kit.registry

    @kit.tool(read_only=True, output=ClusterDirectories)
    async def get_cluster_directories(cluster: ClusterArg = None) -> ToolResult:
        """The configured directories (datasets, results, models, logs, ...) with their container mount
        points, and the default --container-mounts string generated from them."""
        c = registry.get(cluster)
        roots = await Sandbox(c).roots()
        dirs = [r for r in roots if r.kind not in ("user_root", "images")]
        exists = await listing.dirs_exist(c, [r.path for r in dirs])
        result = ClusterDirectories(
            c.name, roots[0].path, [DirectoryState(r.kind, r.path, r.mount, e) for r, e in zip(dirs, exists)],
            [r.path for r in roots if r.kind == "images"], mount_string(roots))
        return reply(result, render.directories(result))

    @kit.tool(read_only=True, output=Listing)
    async def list_directory(
        path: Annotated[str, Field(description="Directory (absolute, or relative to directory_type)")] = ".",
        directory_type: DirType = None,
        pattern: Pattern = None,
        recursive: Annotated[bool, Field(description="Descend into sub-directories")] = False,
        max_depth: Annotated[int | None, Field(description="Depth limit when recursive", ge=1, le=50)] = None,
        limit: PageLimit = 100,
        offset: Offset = 0,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """List a directory inside the configured directories (paged, with counts and total size)."""
        c = registry.get(cluster)
        result = await listing.list_directory(c, path, directory_type, pattern=pattern, recursive=recursive,
                                              max_depth=max_depth, offset=offset, limit=limit)
        return reply(result, render.listing(result))

    async def _top_level(cluster: str | None, kind: str, sub: str | None, pattern: str | None,
                         limit: int, offset: int, depth: int = 1) -> ToolResult:
        c = registry.get(cluster)
        path = validate.directive_text("name", sub) if sub else "."
        result = await listing.list_directory(c, path, kind, pattern=pattern, recursive=depth > 1,
                                              max_depth=depth, offset=offset, limit=limit, measure=True)
        return reply(result, render.listing(result, f"{kind}: {result.path}"))

    @kit.tool(read_only=True, output=Listing)
    async def list_datasets(pattern: Pattern = None, limit: PageLimit = 100, offset: Offset = 0,
                            cluster: ClusterArg = None) -> ToolResult:
        """Datasets in the datasets directory, with total sizes."""
        return await _top_level(cluster, "datasets", None, pattern, limit, offset)

    @kit.tool(read_only=True, output=Listing)
    async def list_model_checkpoints(
        model_name: Annotated[str | None, Field(description="A model's sub-directory, e.g. llama")] = None,
        pattern: Pattern = None, limit: PageLimit = 100, offset: Offset = 0, cluster: ClusterArg = None,
    ) -> ToolResult:
        """Checkpoints in the models directory (or one model's directory), with total sizes."""
        return await _top_level(cluster, "models", model_name, pattern, limit, offset,
                                depth=1 if model_name else 2)

    @kit.tool(read_only=True, output=Listing)
    async def list_results(
        experiment_name: Annotated[str | None, Field(description="An experiment's sub-directory")] = None,
        pattern: Pattern = None, limit: PageLimit = 100, offset: Offset = 0, cluster: ClusterArg = None,
    ) -> ToolResult:
        """Experiment results in the results directory, with total sizes."""
        return await _top_level(cluster, "results", experiment_name, pattern, limit, offset)

    @kit.tool(read_only=True, output=Listing)
    async def list_job_logs(
        job_id: Annotated[str | int | None, Field(description="Logs of this job (its id in the file name, and the "
                                                        "job's own stdout/stderr paths)")] = None,
        job_name: Annotated[str | None, Field(description="File name pattern, e.g. 'train*'")] = None,
        recent: Annotated[int | None, Field(description="Only the N newest", ge=1, le=1000)] = None,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Job log files in the logs directory (newest first), plus the job's own output files."""
        c = registry.get(cluster)
        jid = c.job_id(job_id) if job_id else None
        found = await listing.list_directory(c, ".", "logs", recursive=True, max_depth=3, limit=listing.MAX_ENTRIES)
        files = [e for e in found.entries if e.type == "file"]
        if jid:
            files = [e for e in files if _mentions_job(e.name, jid)]
            files = await _job_outputs(c, jid, files)
        if job_name:
            files = [e for e in files if fnmatch.fnmatch(e.name, job_name) or fnmatch.fnmatch(e.name, f"*{job_name}*")]
        files.sort(key=lambda e: e.modified, reverse=True)
        result = listing.page(found.path, files[:recent] if recent else files, 0, recent or 100)
        return reply(result, render.listing(result, "job logs"))

    @kit.tool(read_only=True, output=Listing)
    async def find_files(
        pattern: Annotated[str, Field(description="Name pattern (glob), e.g. 'checkpoint-*' or '*.log'")],
        directory_type: DirType = None,
        path: Annotated[str | None, Field(description="Search under this path instead")] = None,
        file_type: Annotated[str | None, Field(description="'file', 'dir' or 'link'")] = None,
        min_size: Annotated[str | None, Field(description="At least this big (directories: whole tree), "
                                                          "e.g. 100M, 1G")] = None,
        max_age: Annotated[str | None, Field(description="Modified within, e.g. 24h, 7d")] = None,
        min_age: Annotated[str | None, Field(description="Modified longer ago than, e.g. 30d (for clean-up)")] = None,
        limit: PageLimit = 100,
        offset: Offset = 0,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Search the configured directories by name, type, size and age; biggest first."""
        c = registry.get(cluster)
        result = await listing.find_files(c, pattern, directory_type, path=path, file_type=file_type,
                                          min_size=min_size, max_age=max_age, min_age=min_age,
                                          offset=offset, limit=limit)
        return reply(result, render.listing(result, f"matches for {pattern!r} under {result.path}"))

    @kit.tool(read_only=True, output=DiskUsageReport)
    async def get_disk_usage(directory_type: DirType = None,
                             path: Annotated[str | None, Field(description="One path instead")] = None,
                             cluster: ClusterArg = None) -> ToolResult:
        """Space used per configured directory (du), free space of their file systems (df), and the user's
        quota where `lfs quota` or `quota` exist."""
        c = registry.get(cluster)
        rows = await listing.disk_report(c, path, checked_type(directory_type))
        report = DiskUsageReport(c.name, rows)
        return reply(report, render.disk_usage(rows))


async def _job_outputs(c: Cluster, job_id: str, files: list[Entry]) -> list[Entry]:
    """Add the job's own StdOut/StdErr (wherever the sandbox allows) to the files found by name."""
    try:
        details = await c.job_details(job_id)
    except HpcBridgeError:
        return files
    known = {e.path for e in files}
    for path in dict.fromkeys(p for p in (details.stdout_path, details.stderr_path) if p):
        try:
            real, _ = await Sandbox(c).resolve(path)
        except HpcBridgeError:
            continue
        if real not in known:
            result = await listing.run_find(c, posixpath.dirname(real), ["-name", posixpath.basename(real)], 1)
            files.extend(result[0])
    return files
