"""The single-flight cache shares one query between callers; the caller that started it being cancelled (a
dashboard page reloaded while the board was building) must not cancel the others: they once got its
CancelledError, and the page answered 500 with a traceback in the server log."""

from __future__ import annotations

import asyncio

import pytest

from hpcbridge.services.cache import SingleFlightCache


async def test_a_cancelled_first_caller_does_not_cancel_the_others() -> None:
    cache = SingleFlightCache()
    release = asyncio.Event()
    calls = 0

    async def whoami() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "alice"

    first = asyncio.create_task(cache.get("user", 60, whoami))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get("user", 60, whoami))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await second == "alice"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert calls == 1
    assert await cache.get("user", 60, whoami) == "alice" and calls == 1  # cached


async def test_a_failure_reaches_every_waiter_and_is_not_cached() -> None:
    cache = SingleFlightCache()

    async def broken() -> str:
        await asyncio.sleep(0.01)
        raise RuntimeError("no answer")

    results = await asyncio.gather(*(cache.get("k", 60, broken) for _ in range(3)), return_exceptions=True)
    assert [str(r) for r in results] == ["no answer"] * 3
    assert cache.misses == 1

    async def fine() -> str:
        return "ok"

    assert await cache.get("k", 60, fine) == "ok" and cache.misses == 2
