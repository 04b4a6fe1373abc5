"""The one configuration editor behind the CLI, the config tools and the dashboard's Settings page.

Each change: who may (`[config] editors`; the CLI is the file's owner), read the file (tomlkit, comments kept),
edit, check the whole document, write a temp file that `load_settings` reads exactly as the server does, replace
the file, apply it to the running server where it can (the registry of clusters: a changed or removed cluster's
transport is closed and rebuilt on next use) and say what needs a restart. Every change goes to the audit log
with the principal; values of secrets never do (they cannot be set here).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config_edit, principal, settings_edit
from ..config import Settings, config_file_path, load_settings
from ..errors import ConfigError, NotFound, PolicyError
from .registry import Registry

audit = logging.getLogger("hpcbridge.audit")
_LOCKS: dict[Path, asyncio.Lock] = {}


@dataclass(frozen=True)
class ClusterView:
    name: str
    default: bool
    source: str  # "file" or "environment" (SLURM_*/PBS_* variables: not editable here)
    keys: dict[str, Any]


@dataclass(frozen=True)
class Change:
    action: str
    target: str
    file: str
    applied_now: list[str] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)
    note: str = ""


class ConfigEditor:
    """`registry` is the running server's (None for the CLI, which has no server to tell); `owner`: the caller
    is the file's owner at a shell (the CLI), who may always edit it."""

    def __init__(self, registry: Registry | None = None, path: Path | None = None, owner: bool = False) -> None:
        self.registry = registry
        self.owner = owner
        self.path = path or config_file_path()
        # one lock per file for every door in this process (the tools and the Settings page): read, edit, write
        self._lock = _LOCKS.setdefault(self.path.resolve(), asyncio.Lock())

    # -- reading ---------------------------------------------------------------------------------------------
    def settings(self) -> Settings:
        return self.registry.settings if self.registry is not None else load_settings()

    def clusters(self) -> list[ClusterView]:
        return [self.cluster(name) for name in self.settings().clusters]

    def cluster(self, name: str) -> ClusterView:
        settings = self.settings()
        if name not in settings.clusters:
            raise NotFound(f"cluster '{name}' is not configured; clusters: {', '.join(settings.clusters)}")
        in_file = name in (config_edit.read_document(self.path).unwrap().get("clusters") or {})
        return ClusterView(name, name == settings.default_cluster, "file" if in_file else "environment",
                           settings_edit.cluster_view(settings.clusters[name]))

    def list_settings(self) -> list[settings_edit.SettingLine]:
        return settings_edit.list_settings(config_edit.read_document(self.path))

    def get_setting(self, key: str) -> settings_edit.SettingLine:
        return settings_edit.get_setting(config_edit.read_document(self.path), key)

    def may_edit(self) -> bool:
        return self.owner or principal.name() in self.settings().config.editors

    # -- changing --------------------------------------------------------------------------------------------
    async def add_cluster(self, name: str, values: dict[str, Any], replace: bool = False) -> Change:
        async with self._lock:
            self._allowed(f"add cluster '{name}'")
            doc = config_edit.read_document(self.path)
            previous = config_edit.add_cluster(doc, name, values, replace)
            note = f"it is now the default instead of '{previous}'" if previous else ""
            return await self._commit(doc, "replace cluster" if replace else "add cluster", name, note)

    async def update_cluster(self, name: str, values: dict[str, Any], unset: list[str] | None = None) -> Change:
        async with self._lock:
            self._allowed(f"change cluster '{name}'")
            doc = config_edit.read_document(self.path)
            previous = config_edit.update_cluster(doc, name, values, unset or [])
            note = f"it is now the default instead of '{previous}'" if previous else ""
            keys = sorted([*_flat(values), *(unset or [])])
            return await self._commit(doc, "change cluster", name, note, detail=", ".join(keys))

    async def remove_cluster(self, name: str) -> Change:
        async with self._lock:
            self._allowed(f"remove cluster '{name}'")
            doc = config_edit.read_document(self.path)
            config_edit.remove_cluster(doc, name)
            return await self._commit(doc, "remove cluster", name, "its recorded history is kept")

    async def set_setting(self, key: str, value: Any) -> Change:
        async with self._lock:
            self._allowed(f"set {key}")
            doc = config_edit.read_document(self.path)
            settings_edit.set_setting(doc, key, value)
            return await self._commit(doc, "set" if value is not None else "unset", key, setting=key)

    def _allowed(self, what: str) -> None:
        who = principal.name()
        if not self.may_edit():
            audit.info("config principal=%s refused: %s", who, what)
            raise PolicyError(f"'{who}' may not change the configuration ({what}): add it to [config] editors "
                              "in the configuration file")

    async def _commit(self, doc: Any, action: str, target: str, note: str = "", detail: str = "",
                      setting: str = "") -> Change:
        settings_edit.check_document(doc)
        loaded: list[Settings] = []

        def verify(tmp: Path) -> None:
            # exactly as the server reads the file: the environment's clusters and overrides included
            loaded.append(load_settings({**os.environ, "HPCBRIDGE_CONFIG": str(tmp)}))

        config_edit.write_document(self.path, doc, verify)
        audit.info("config principal=%s %s %s%s file=%s", principal.name(), action, target,
                   f" keys={detail}" if detail else "", self.path)
        now: list[str] = []
        restart: list[str] = []
        if setting:
            (now if setting in settings_edit.LIVE else restart).append(setting)
        else:
            now.append(f"clusters: {target}")
        if self.registry is not None and loaded:
            await apply(self.registry, loaded[0])
        elif self.registry is None:
            now, restart = [], []  # the CLI: a running server reads the file when it starts
            note = (note + "; " if note else "") + "a running server takes it when restarted"
        return Change(action, target, str(self.path), now, restart, note)


def _flat(values: dict[str, Any]) -> list[str]:
    return [f"policy.{k}" for k in values.get("policy", {})] + [k for k in values if k != "policy"]


async def apply(registry: Registry, new: Settings) -> None:
    """The running server's settings take the new clusters in place (every holder of the Settings object sees
    them); a changed or removed cluster's built object is closed and rebuilt on next use."""
    current = registry.settings
    if not new.clusters:
        raise ConfigError("the change leaves no cluster")
    stale = [n for n, c in current.clusters.items() if n not in new.clusters or new.clusters[n] != c]
    # the settings change and the stale objects leave before anything is awaited: a get() while the old
    # transports close (the board asks every 2 s) must build from the new configuration, never the old one
    current.clusters.clear()
    current.clusters.update(new.clusters)
    current.default_cluster = new.default_cluster
    current.config = new.config
    old = [c for c in map(registry.detach, stale) if c is not None]
    await asyncio.gather(*(c.close() for c in old), return_exceptions=True)
