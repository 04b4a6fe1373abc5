"""History toolset, housekeeping and reading at scale: several logbook entries in one call, and cleaning old
records out of the history (a dry run first, then confirm=true; audited)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastmcp.tools.base import ToolResult
from pydantic import Field

from .. import principal
from ..history.housekeeping import MAX_DAYS, Cleanup, cleanup
from ..history.logbook import MAX_BULK, EntryBatch, Logbook
from ..history.service import History
from . import render_history as render
from .toolkit import ToolKit, reply


def register(kit: ToolKit, history: History, book: Logbook) -> None:
    @kit.tool(read_only=True, output=EntryBatch)
    async def bulk_read_logbooks(
        entry_ids: Annotated[list[int], Field(description=f"Entry ids (#id), 1 to {MAX_BULK}",
                                              min_length=1, max_length=MAX_BULK)],
    ) -> ToolResult:
        """Several logbook entries in one call, references resolved; ids that do not exist are listed."""
        batch = await asyncio.to_thread(book.read_many, entry_ids)
        text = "\n\n---\n\n".join(render.entry(e) for e in batch.entries)
        if batch.missing:
            text += f"\n\nno such entries: {', '.join(f'#{i}' for i in batch.missing)}"
        return reply(batch, text.strip())

    @kit.tool(read_only=False, destructive=True, idempotent=True, output=Cleanup)
    async def cleanup_history(
        older_than_days: Annotated[float, Field(description="Finished jobs last seen more than this many days "
                                                            "ago go, with their state changes, emptied runs "
                                                            "and older GPU samples", ge=1, le=MAX_DAYS)],
        confirm: Annotated[bool, Field(description="false (default): only say what would go; true: delete "
                                                   "it (cannot be undone)")] = False,
    ) -> ToolResult:
        """Delete old history records; call first without confirm to see what would go. Logbook entries and
        unfinished jobs are never deleted."""
        result = await asyncio.to_thread(cleanup, history.db, older_than_days, confirm, principal.name())
        head = "would delete" if result.dry_run else "deleted"
        text = (f"{head} {result.jobs} job(s), {result.transitions} state change(s), {result.runs} run(s), "
                f"{result.gpu_samples} GPU sample(s) older than {older_than_days:g} days")
        if result.examples:
            text += "\n" + "\n".join(result.examples[:20]) + (" ..." if result.jobs > 20 else "")
        if result.dry_run and result.jobs + result.runs + result.gpu_samples:
            text += "\ncall again with confirm=true to delete them"
        return reply(result, text)
