"""History toolset, the board's tidying: `clear_finished` dismisses finished (or only failed) jobs from the
dashboard's board, as its "Dismiss all" button does (history/board_marks.py: pinned jobs stay). The history
keeps every record; only the board stops showing them. Asked first like other bulk changes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastmcp import Context
from fastmcp.tools.base import ToolResult
from pydantic import Field

from ..history.service import History
from . import confirm as confirming
from .toolkit import ToolKit, reply


@dataclass(frozen=True)
class Cleared:
    dismissed: list[str]  # cluster/job_id, the first SHOWN of them
    only_failed: bool
    done: bool  # false: nothing was dismissed (nothing to do)
    count: int = 0  # how many were dismissed in all


SHOWN = 50  # ids in the answer: a long history may dismiss thousands at once


def register(kit: ToolKit, history: History) -> None:
    registry = kit.registry

    @kit.tool(read_only=False, destructive=True, idempotent=True, output=Cleared)
    async def clear_finished(
        ctx: Context,
        cluster: Annotated[str | None, Field(description="One cluster, or omit for every configured cluster")] = None,
        only_failed: Annotated[bool, Field(description="true: only failed, timed out, cancelled ... jobs; "
                                                       "false: every finished job")] = False,
        confirm: Annotated[bool, Field(description="true: dismiss without asking (needed when the client "
                                                   "cannot ask the user)")] = False,
    ) -> ToolResult:
        """Dismiss finished jobs from the dashboard's board (pinned ones stay; the history keeps every record).
        The user is asked first where the client can ask, else it needs confirm=true."""
        names = (registry.get(cluster).name,) if cluster else tuple(registry.names)
        what = "failed" if only_failed else "finished"
        would = await asyncio.to_thread(history.marks.clear_finished, names, only_failed, True)
        if not would:
            return reply(Cleared([], only_failed, False), f"no {what} job to dismiss on {', '.join(names)}")
        listed = f"{', '.join(would[:10])}{' ...' if len(would) > 10 else ''}"
        asking = await confirming.ask(
            ctx, confirm, f"Dismiss {len(would)} {what} job(s) from the board ({listed})?",
            f"dismissing {len(would)} {what} job(s)",
            f"clear_finished would dismiss {len(would)} {what} job(s) ({listed}); call again with confirm=true")
        if asking is not None:
            return asking
        gone = await asyncio.to_thread(history.marks.clear_finished, names, only_failed)
        return reply(Cleared(gone[:SHOWN], only_failed, True, len(gone)),
                     f"dismissed {len(gone)} {what} job(s) from the board: {', '.join(gone[:20])}"
                     f"{' ...' if len(gone) > 20 else ''} (pinned ones stay; the history keeps them)")
