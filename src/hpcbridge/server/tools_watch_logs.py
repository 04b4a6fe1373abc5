"""Logs an agent can page, search and follow (issue 27): read_log, search_log, read_log_records,
list_log_files, in the `watch` toolset."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastmcp.tools.base import ToolResult
from pydantic import Field

from ..services import logs
from ..watch.logpage import DEFAULT_PAGE, MAX_PAGE, LogPage, Records, SearchResult
from .params import ClusterArg
from .toolkit import ToolKit, reply

PathArg = Annotated[str | None, Field(description="Log file on the cluster")]
JobArg = Annotated[str | int | None, Field(description="Or: the job whose stdout/stderr to use")]
Stream = Annotated[Literal["stdout", "stderr"], Field(description="With job_id: which stream")]
MaxBytes = Annotated[int, Field(description="Cap on bytes returned", ge=1, le=MAX_PAGE)]


def _page_text(p: LogPage) -> str:
    head = f"{p.path} bytes {p.offset}..{p.next_offset} of {p.size}" + (" (end)" if p.eof else "")
    return "\n".join(x for x in (head, p.note, "---", p.text) if x)


def _search_text(r: SearchResult) -> str:
    rows = [f"{h.line}{':' if h.match else '-'} {h.text}" for h in r.hits]
    return "\n".join([f"{r.path}: {r.note}", *rows])


def _records_text(r: Records) -> str:
    rows = [json.dumps(rec, separators=(",", ":"), default=str)[:500] for rec in r.records]
    bad = [f"line {b.line}: not JSON ({b.error})" for b in r.bad]
    return "\n".join([f"{r.path}: {len(r.records)} records from index {r.start}; {r.note}", *rows, *bad])


def register(kit: ToolKit) -> None:
    """Adds this part's tools to the `watch` toolset."""
    registry = kit.registry

    @kit.tool(read_only=True, output=LogPage)
    async def read_log(
        path: PathArg = None, job_id: JobArg = None, stream: Stream = "stdout",
        offset: Annotated[int | None, Field(description="Byte offset to start at (next_offset of the last page; "
                                                        "negative counts from the end). Seeks: fast on any size")]
        = None,
        line: Annotated[int | None, Field(description="Or: 1-based line to start at (scans the file from its "
                                                      "start: slow on huge logs)", ge=1)] = None,
        follow: Annotated[bool, Field(description="Only complete lines: an unfinished last line is held back")]
        = False,
        wait: Annotated[int, Field(description="Seconds to wait for the file to grow past offset", ge=0,
                                   le=logs.MAX_WAIT)] = 0,
        max_bytes: MaxBytes = DEFAULT_PAGE,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """A page of a (huge) log: text, offset, next_offset, size, eof; pages end at a line end. Follow a
        growing log by passing the last next_offset with follow=true and wait=N."""
        c = registry.get(cluster)
        real = await logs.resolve(c, path, job_id, stream)
        page = await logs.read_log(c, real, offset=offset, line=line, max_bytes=max_bytes, wait=wait,
                                   follow=follow)
        return reply(page, _page_text(page))

    @kit.tool(read_only=True, output=SearchResult)
    async def search_log(
        pattern: Annotated[str, Field(description="Extended regex (grep -E), or a fixed string with fixed=true")],
        path: PathArg = None, job_id: JobArg = None, stream: Stream = "stdout",
        fixed: Annotated[bool, Field(description="Pattern is a fixed string")] = False,
        ignore_case: bool = False,
        context: Annotated[int, Field(description="Lines of context around each match", ge=0, le=20)] = 0,
        max_matches: Annotated[int, Field(description="Stop after this many matching lines", ge=1, le=1000)] = 100,
        offset: Annotated[int, Field(description="Search from this byte offset", ge=0)] = 0,
        timeout: Annotated[int, Field(description="Seconds before grep is stopped", ge=1, le=600)] = 30,
        max_bytes: MaxBytes = DEFAULT_PAGE,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """grep on the cluster: matching lines with line numbers and byte offsets (for read_log), context
        lines; capped in matches, bytes and time, and says when cut."""
        c = registry.get(cluster)
        real = await logs.resolve(c, path, job_id, stream)
        found = await logs.search_log(c, real, pattern, fixed=fixed, ignore_case=ignore_case, context=context,
                                      max_matches=max_matches, offset=offset, timeout=timeout, max_bytes=max_bytes)
        return reply(found, _search_text(found))

    @kit.tool(read_only=True, output=Records)
    async def read_log_records(
        path: PathArg = None, job_id: JobArg = None, stream: Stream = "stdout",
        start: Annotated[int, Field(description="0-based index of the first line", ge=0)] = 0,
        count: Annotated[int, Field(description="Records to return", ge=1, le=logs.MAX_RECORDS)] = 100,
        fields: Annotated[list[str] | None, Field(description="Dotted paths to keep, e.g. ['step', "
                                                              "'metrics.loss']")] = None,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """JSON Lines records by index with selected fields; lines that are not JSON are listed by line number."""
        c = registry.get(cluster)
        real = await logs.resolve(c, path, job_id, stream)
        records = await logs.read_records(c, real, start=start, count=count, fields=fields)
        return reply(records, _records_text(records))

    @kit.tool(read_only=True, output=logs.LogFiles)
    async def list_log_files(
        job_id: JobArg = None,
        directory: Annotated[str | None, Field(description="Or: a run's directory to look in")] = None,
        limit: Annotated[int, Field(description="At most this many files", ge=1, le=1000)] = 50,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """A job's stdout/stderr and the log-like files (*.log *.out *.err *.txt *.jsonl *.csv, TensorBoard
        events) under its work dir or a directory, newest first, with sizes and times."""
        c = registry.get(cluster)
        found = await logs.list_logs(c, job_id=job_id, directory=directory, limit=limit)
        rows = [f"{f.modified} {f.size_bytes:>12} {f.source:8} {f.path}" for f in found.files]
        return reply(found, "\n".join([f"{len(found.files)} log files; {found.note}", *rows]))
