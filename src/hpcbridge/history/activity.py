"""Whether someone is looking, and the submissions to remember: what the server needs of the history at
start, without the database (SQLAlchemy and the recorder load on the first look; see History.start)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..services.cluster import SubmitResult


class Activity:
    """Whether someone is looking: an MCP call within the window, or a held view (a dashboard page)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.last = 0.0
        self.views = 0
        self._changed = asyncio.Event()

    def touch(self) -> None:
        self.last = time.monotonic()
        self._changed.set()

    def hold(self) -> None:
        self.views += 1
        self._changed.set()

    def release(self) -> None:
        self.views = max(0, self.views - 1)

    def active(self) -> bool:
        return self.views > 0 or (self.last > 0 and time.monotonic() - self.last < self.window_s)

    async def until_active(self, timeout: float) -> None:
        self._changed.clear()
        if not self.active():
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                pass


def remember_submission(scripts: dict[tuple[str, str], str]) -> Callable[[SubmitResult], None]:
    def listener(result: SubmitResult) -> None:
        if result.job_id and not result.test_only:
            scripts[(result.cluster, result.job_id)] = result.script
    return listener
