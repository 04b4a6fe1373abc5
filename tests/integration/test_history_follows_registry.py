"""The history's recorders follow the registry: a cluster the config editor rebuilds (another host,
read_only) is recorded through its new object, one it adds is recorded, one it removes stops being polled.
They once held the Cluster object they started with: a changed host went on being recorded from the old one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hpcbridge.config import load_settings
from hpcbridge.history import service
from hpcbridge.history.service import History
from hpcbridge.services.registry import Registry
from hpcbridge.services.waiting import watcher_for

pytestmark = pytest.mark.cluster


async def until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.2)


async def test_recorders_follow_rebuilt_added_and_removed_clusters(
        tc_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "FOLLOW_SECONDS", 0.2)
    settings = load_settings({**tc_env, "HPCBRIDGE_CONFIG": ""})
    registry = Registry(settings)  # its own: this test rebuilds and removes clusters
    history = History(settings, registry, state_dir=tmp_path)
    name = settings.default_cluster
    history.activity.touch()
    history.start()
    try:
        first = registry.get(name)
        await until("the first object recorded",
                    lambda: watcher_for(first).waiters == 1 and name in history.recorders
                    and history.recorders[name].polls >= 1)
        polls = history.recorders[name].polls

        registry.settings.clusters[name] = first.config.model_copy(update={"read_only": True})
        second = registry.get(name)  # rebuilt from the changed configuration
        assert second is not first
        await until("the rebuilt object recorded instead",
                    lambda: watcher_for(second).waiters == 1 and watcher_for(first).waiters == 0
                    and history.recorders[name].polls > polls + 1)

        registry.settings.clusters["added"] = first.config.model_copy(update={"name": "added"})
        await until("an added cluster recorded",
                    lambda: "added" in history.recorders and history.recorders["added"].polls >= 1)
        added = registry.get("added")

        del registry.settings.clusters["added"]
        await until("a removed cluster no longer recorded", lambda: "added" not in history.recorders)
        assert watcher_for(added).waiters == 0
        assert name in history.recorders  # the other one goes on
    finally:
        await history.stop()
        await registry.close()
