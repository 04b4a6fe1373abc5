"""A small TTL cache with single-flight: concurrent callers asking for the same key share one query.

Many agents polling the same cluster then cost the controller one squeue per TTL, not one per agent.
"""

from __future__ import annotations

import asyncio
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
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        self.misses += 1
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved so an unobserved failure does not warn
            raise
        else:
            self._values[key] = (time.monotonic(), value)
            future.set_result(value)
            return value
        finally:
            self._inflight.pop(key, None)

    def invalidate(self, prefix: str = "") -> None:
        for key in [k for k in self._values if k.startswith(prefix)]:
            del self._values[key]
