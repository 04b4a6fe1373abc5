"""The history toolset: every job hpcbridge saw on every cluster, runs, projects, GPU usage, the logbook."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from fastmcp import Context
from fastmcp.tools.base import ToolResult
from pydantic import Field

from .. import principal
from ..errors import HpcBridgeError, InvalidParameter, ReadOnlyCluster
from ..history.logbook import Entry, EntryLine, Logbook
from ..history.queries import (
    ClusterSummary,
    Filters,
    HistoryJob,
    HistoryReader,
    JobFacts,
    Project,
    RunView,
    UsagePoint,
)
from ..history.service import History
from ..models import JobState, Page
from ..timewords import absolute_time
from . import confirm as confirming
from . import render_history as render
from . import tools_housekeeping
from .outputs import BackedUp, EntryDeleted
from .params import Limit, Offset
from .toolkit import ToolKit, reply

AnyCluster = Annotated[str | None, Field(description="One cluster, or omit for every configured cluster")]
EntryId = Annotated[int, Field(description="Logbook entry id (#id)", ge=1)]


@dataclass(frozen=True)
class GpuUsage:
    cluster: str
    days: float
    points: list[UsagePoint]


@dataclass(frozen=True)
class Summary:
    clusters: list[ClusterSummary]


@dataclass(frozen=True)
class Cancelled:
    cancelled: list[str]
    failed: dict[str, str]


class _Deferred:
    """Stands for history.reader / history.logbook and opens the database at the first tool call, not at
    registration: listing the tools (`hpcbridge tools --sizes`, a client's tools/list) needs no database."""

    def __init__(self, get: Callable[[], object]) -> None:
        self._get = get

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def register(kit: ToolKit, history: History) -> None:
    registry = kit.registry
    reader = cast(HistoryReader, _Deferred(lambda: history.reader))
    book = cast(Logbook, _Deferred(lambda: history.logbook))

    def names(cluster: str | None) -> tuple[str, ...]:
        return (registry.get(cluster).name,) if cluster else ()

    async def db(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(fn, *args, **kwargs)

    @kit.tool(read_only=True, output=Page[HistoryJob])
    async def search_history(
        text: Annotated[str, Field(description="Words in the job name, batch script or failure diagnosis "
                                               "(all must match; stemmed)", max_length=500)] = "",
        state: Annotated[list[str] | None, Field(description="States, e.g. ['FAILED', 'TIMEOUT']")] = None,
        user: Annotated[str | None, Field(description="Job owner")] = None,
        partition: Annotated[str | None, Field(description="Partition (PBS: queue)")] = None,
        project: Annotated[str | None, Field(description="Project (job name prefix)")] = None,
        since: Annotated[str | None, Field(description="Submitted at or after: ISO date or now-7days")] = None,
        until: Annotated[str | None, Field(description="Submitted at or before")] = None,
        cluster: AnyCluster = None, offset: Offset = 0, limit: Limit = 30,
    ) -> ToolResult:
        """Every job recorded on any cluster, also long after the scheduler forgot it: newest first, with
        state, exit code and failure cause. Recording happens while hpcbridge is in use; after a pause it
        catches up from accounting."""
        filters = Filters.checked(text, names(cluster), state, user, partition, project, since, until)
        page = await db(reader.search, filters, offset, limit)
        return reply(page, render.jobs(page))

    @kit.tool(read_only=True, output=JobFacts)
    async def get_history_job(job_id: Annotated[str | int, Field(description="Job id")],
                              cluster: Annotated[str | None, Field(description="Cluster (default: the "
                                                                               "default cluster)")] = None
                              ) -> ToolResult:
        """One recorded job: everything known, its state changes with times, and its batch script."""
        c = registry.get(cluster)
        facts = await db(reader.job, c.name, c.job_id(job_id))
        return reply(facts, render.facts(facts))

    @kit.tool(read_only=True, output=RunView)
    async def get_run(name: Annotated[str, Field(description="Run name (the job name) or run id")],
                      cluster: AnyCluster = None, offset: Offset = 0, limit: Limit = 100) -> ToolResult:
        """A run: the jobs of one name and the dependency chains they start, in dependency order."""
        view = await db(reader.run, name, registry.get(cluster).name if cluster else None, offset, limit)
        return reply(view, render.run(view))

    @kit.tool(read_only=True, output=Page[Project])
    async def list_projects(offset: Offset = 0, limit: Limit = 50) -> ToolResult:
        """Projects (job-name prefixes) with their job and run counts; search_history(project=...) lists
        a project's jobs."""
        page = await db(reader.projects, offset, limit)
        return reply(page, render.projects(page))

    @kit.tool(read_only=True, output=GpuUsage)
    async def get_gpu_usage_history(
        cluster: Annotated[str | None, Field(description="Cluster (default: the default cluster)")] = None,
        days: Annotated[float, Field(description="How far back", gt=0, le=400)] = 7,
        partition: Annotated[str, Field(description="Partition, or * for all")] = "*",
        gpu_type: Annotated[str, Field(description="GPU type, or * for all")] = "*",
    ) -> ToolResult:
        """GPUs total, allocated, yours and your accounts' over time (up to 48 averaged points)."""
        name = registry.get(cluster).name
        points = await db(reader.gpu_usage, name, days, partition, gpu_type)
        return reply(GpuUsage(name, days, points), render.usage(points))

    @kit.tool(read_only=True, output=Summary)
    async def get_history_summary(
        since: Annotated[str, Field(description="Jobs submitted since (ISO date or now-1days)")] = "now-1days",
    ) -> ToolResult:
        """Per cluster: recorded jobs by state since a time, when each cluster last answered, and which do not."""
        summary = await db(reader.summary, registry.names, absolute_time("since", since, "the summary") or "")
        return reply(Summary(summary), render.summary(summary))

    @kit.tool(read_only=False, destructive=True, idempotent=True, output=Cancelled)
    async def cancel_jobs(
        ctx: Context,
        job_ids: Annotated[list[str] | None, Field(description="Job ids to cancel")] = None,
        run: Annotated[str | None, Field(description="Cancel every unfinished job of this run")] = None,
        confirm: Annotated[bool, Field(description="true: cancel without asking (needed when the client cannot "
                                                   "ask the user); cancelling cannot be undone")] = False,
        cluster: Annotated[str | None, Field(description="Cluster (default: the default cluster)")] = None,
    ) -> ToolResult:
        """Cancel many jobs at once, by ids or by run (its unfinished jobs). The user is asked first where
        the client can ask, else it needs confirm=true."""
        c = registry.get(cluster)
        if bool(job_ids) == bool(run):
            raise InvalidParameter("job_ids", "give job_ids or run, not both and not neither",
                                   "job_ids=['12', '13'] or run='name'")
        if run:
            view = await db(reader.run, run, c.name, 0, 10_000)
            ids = [j.job_id for j in view.jobs.items if j.state not in _FINAL]
        else:
            ids = [c.job_id(j, "job_ids") for j in job_ids or []]
        if len(ids) > 1000:
            raise InvalidParameter("job_ids", f"{len(ids)} jobs", "at most 1000 per call")
        listed = f"{', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}"
        asking = await confirming.ask(
            ctx, confirm, f"Cancel {len(ids)} job(s) on {c.name} ({listed})? This cannot be undone.",
            f"cancelling {len(ids)} job(s)",
            f"cancel_jobs would cancel {len(ids)} job(s) on {c.name} ({listed}); call again with confirm=true")
        if asking is not None:
            return asking
        result = Cancelled([], {})
        for job_id in ids:
            try:
                await c.cancel(job_id)
                result.cancelled.append(job_id)
            except ReadOnlyCluster:
                raise  # the cluster refuses them all: said once, nothing was sent
            except HpcBridgeError as exc:  # one refusal must not stop the rest; each is reported
                result.failed[job_id] = exc.message
        return reply(result, render.cancelled(result))

    from . import tools_board  # issue 30: clear_finished (the board's "Dismiss all")

    tools_board.register(kit, history)

    @kit.tool(read_only=False, idempotent=False, output=Entry)
    async def create_logbook_entry(
        project: Annotated[str, Field(description="Project name")],
        title: Annotated[str, Field(description="One line")],
        body: Annotated[str, Field(description="Markdown; @run-name links a run, #12 entry 12")] = "",
        kind: Annotated[Literal["note", "plan"], Field(description="note or plan")] = "note",
    ) -> ToolResult:
        """Write a logbook entry (experiment notes, findings, plans) for a project."""
        entry = await db(book.create, project, kind, title, body)
        return reply(entry, render.entry(entry))

    @kit.tool(read_only=True, output=Entry)
    async def read_logbook_entry(entry_id: EntryId) -> ToolResult:
        """One logbook entry with its references resolved (runs that exist, titles of #entries)."""
        entry = await db(book.read, entry_id)
        return reply(entry, render.entry(entry))

    @kit.tool(read_only=False, idempotent=True, output=Entry)
    async def update_logbook_entry(
        entry_id: EntryId,
        title: Annotated[str | None, Field(description="New title")] = None,
        body: Annotated[str | None, Field(description="New markdown body (replaces the old)")] = None,
        kind: Annotated[Literal["note", "plan"] | None, Field(description="note or plan")] = None,
    ) -> ToolResult:
        """Change a logbook entry's title, body or kind."""
        entry = await db(book.update, entry_id, title, body, kind)
        return reply(entry, render.entry(entry))

    @kit.tool(read_only=False, destructive=True, idempotent=True, output=EntryDeleted)
    async def delete_logbook_entry(
        ctx: Context, entry_id: EntryId,
        confirm: Annotated[bool, Field(description="true: delete without asking the user")] = False,
    ) -> ToolResult:
        """Delete a logbook entry. The user is asked first where the client can ask, else it needs confirm=true."""
        asking = await confirming.ask(ctx, confirm, f"Delete logbook entry #{entry_id}? This cannot be undone.",
                                      f"deleting entry #{entry_id}",
                                      f"deleting entry #{entry_id} cannot be undone; call again with confirm=true")
        if asking is not None:
            return asking
        await db(book.delete, entry_id)
        return ToolResult(content=f"entry #{entry_id} deleted", structured_content={"deleted": entry_id})

    @kit.tool(read_only=True, output=Page[EntryLine])
    async def search_logbook(
        text: Annotated[str, Field(description="Words in title or body (stemmed; all must match)")] = "",
        project: Annotated[str | None, Field(description="Only this project")] = None,
        kind: Annotated[Literal["note", "plan"] | None, Field(description="note or plan")] = None,
        offset: Offset = 0, limit: Limit = 20,
    ) -> ToolResult:
        """Find logbook entries, newest first; read_logbook_entry shows one."""
        page = await db(book.search, text, project or "", kind or "", offset, limit)
        return reply(page, render.entries(page))

    tools_housekeeping.register(kit, history, book)

    @kit.tool(read_only=False, idempotent=False, output=BackedUp)
    async def backup_history() -> ToolResult:
        """An online copy of the history database now (also made on a schedule); says where. Keeps your newest
        backups (backup_keep); other principals' and scheduled ones are never replaced by yours."""
        path = await db(history.backup, principal.name())
        return ToolResult(content=f"history backed up to {path}", structured_content={"path": str(path)})



_FINAL = {s.value for s in JobState if s.final}
