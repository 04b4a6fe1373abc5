"""A small TTL cache with single-flight: concurrent callers asking for the same key share one query.

Many agents polling the same cluster then cost the controller one squeue per TTL, not one per agent.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any


class SingleFlightCache:
    def __init__(self) -> None:
        self._values: dict[str, tuple[float, Any]] = {}
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self.misses = 0

    async def get(self, key: str, ttl: float, load: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._values.get(key)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
        pending = self._inflight.get(key)
        if pending is None:
            # the query runs in a task of its own: when the caller that started it is cancelled (a page reloaded
            # mid-build), the others waiting on the same key still get its answer, not that caller's
            # CancelledError (which reached them once, and a dashboard page answered 500)
            self.misses += 1
            pending = self._inflight[key] = asyncio.ensure_future(load())
            pending.add_done_callback(functools.partial(self._settle, key))
        return await asyncio.shield(pending)

    def _settle(self, key: str, done: asyncio.Future[Any]) -> None:
        if self._inflight.get(key) is done:
            del self._inflight[key]
        if done.cancelled():
            return
        if done.exception() is None:  # reading it also marks a failure retrieved: no "never retrieved" warning
            self._values[key] = (time.monotonic(), done.result())

    def invalidate(self, prefix: str = "") -> None:
        for key in [k for k in self._values if k.startswith(prefix)]:
            del self._values[key]
