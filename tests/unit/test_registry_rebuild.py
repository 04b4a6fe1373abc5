"""A cluster whose configuration the config editor changed is never served from its old object: not while the
old transport closes (a get() in that gap, as the board makes every 2 s, once rebuilt the cluster from the old
configuration and kept it), and not when the settings changed without the editor's apply."""

from __future__ import annotations

import asyncio

from hpcbridge.config import ClusterConfig, Settings
from hpcbridge.services.config_editor import apply
from hpcbridge.services.registry import Registry

OLD = ClusterConfig.model_validate({"name": "a", "transport": "local", "scheduler": "slurm"})


async def test_a_get_while_the_old_transport_closes_builds_from_the_new_configuration() -> None:
    registry = Registry(Settings(clusters={"a": OLD}, default_cluster="a"))
    built = registry.get("a")
    release = asyncio.Event()

    async def slow_close() -> None:  # an SSH transport's close waits for its connection and shells
        await release.wait()

    built.transport.close = slow_close  # type: ignore[method-assign]
    new = OLD.model_copy(update={"read_only": True})
    applying = asyncio.create_task(apply(registry, Settings(clusters={"a": new}, default_cluster="a")))
    await asyncio.sleep(0)  # apply runs up to its first await: the old transport's close
    during = registry.get("a")
    release.set()
    await applying
    assert during.config.read_only and registry.get("a") is during
    assert built is not during


async def test_a_changed_configuration_is_rebuilt_and_the_old_transport_closed() -> None:
    registry = Registry(Settings(clusters={"a": OLD}, default_cluster="a"))
    built = registry.get("a")
    closed = asyncio.Event()

    async def close() -> None:
        closed.set()

    built.transport.close = close  # type: ignore[method-assign]
    registry.settings.clusters["a"] = OLD.model_copy(update={"read_only": True})
    again = registry.get("a")
    assert again is not built and again.config.read_only
    await asyncio.wait_for(closed.wait(), 5)
    assert registry.get("a") is again  # unchanged: the same object


def test_the_board_drops_what_it_cached_for_a_rebuilt_cluster() -> None:
    """Progress looks and start estimates are per Cluster object: the same name on another host (job ids that
    mean other jobs there) starts without them."""
    from hpcbridge.dashboard.board import Board

    registry = Registry(Settings(clusters={"a": OLD}, default_cluster="a"))
    board = Board(lambda: [registry.get(n) for n in registry.names], reader=None)  # type: ignore[arg-type]
    board._follow()
    board._looks["a"] = ({}, 1.0, frozenset({"7"}))
    board._estimates[("a", "7")] = ("2026-12-01T10:00", 1.0)
    board._follow()  # the same object: kept
    assert "a" in board._looks and ("a", "7") in board._estimates
    registry.settings.clusters["a"] = OLD.model_copy(update={"host": "other.example.org", "transport": "ssh"})
    board._follow()
    assert "a" not in board._looks and ("a", "7") not in board._estimates
