"""A queue watcher does not keep its cluster alive: watchers are kept per Cluster object in a weak mapping, and
one that held its cluster strongly kept every Cluster the config editor replaced (and its transport) for as
long as the server ran."""

from __future__ import annotations

import gc
import weakref

from hpcbridge.config import ClusterConfig, Settings
from hpcbridge.services.registry import Registry
from hpcbridge.services.waiting import running_watcher, watcher_for

CONFIG = ClusterConfig.model_validate({"name": "a", "transport": "local", "scheduler": "slurm"})


def test_a_replaced_cluster_and_its_watcher_are_freed() -> None:
    registry = Registry(Settings(clusters={"a": CONFIG}, default_cluster="a"))
    old = registry.get("a")
    watcher = weakref.ref(watcher_for(old))
    gone = weakref.ref(old)
    registry.settings.clusters["a"] = CONFIG.model_copy(update={"read_only": True})
    new = registry.get("a")  # rebuilt: the registry lets go of the old object
    del old
    gc.collect()
    assert gone() is None
    assert watcher() is None  # its entry went with it
    assert running_watcher(new) is None  # nobody has waited on the new one yet
