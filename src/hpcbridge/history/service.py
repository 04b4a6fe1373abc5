"""The history as the server holds it: one database, a recorder per cluster, the polling rule, backups."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from .. import private
from ..config import HistoryConfig, Settings
from ..errors import HpcBridgeError
from ..services.registry import Registry
from .db import Database, default_url
from .logbook import Logbook
from .queries import HistoryReader
from .recorder import Activity, Recorder, remember_submission
from .store import HistoryWriter

log = logging.getLogger("hpcbridge.history")


def open_database(config: HistoryConfig, state_dir: Path) -> Database:
    """The configured database_url, else SQLite in the state directory."""
    return Database(config.database_url.get_secret_value() if config.database_url else default_url(state_dir))


class History:
    def __init__(self, settings: Settings, registry: Registry, state_dir: Path | None = None) -> None:
        config = settings.history
        self.config = config
        self.registry = registry
        self.state_dir = state_dir or private.state_dir()
        self.db = open_database(config, self.state_dir)
        self.writer = HistoryWriter(self.db, config.project_separator)
        self.reader = HistoryReader(self.db)
        self.logbook = Logbook(self.db)
        self.activity = Activity(config.active_minutes * 60)
        self.scripts: dict[tuple[str, str], str] = {}
        self.recorders: dict[str, Recorder] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """A recorder per cluster (each in its own task: one that does not answer blocks no other), and the
        upkeep (downsampling, backups). Nothing polls until someone looks."""
        if not self.config.enabled:
            return
        for name in self.registry.names:
            cluster = self.registry.get(name)
            cluster.submitted.append(remember_submission(self.scripts))
            self.recorders[name] = Recorder(cluster, self.writer, self.config, self.activity, self.scripts)
            self._tasks.append(asyncio.create_task(self.recorders[name].run(), name=f"history-{name}"))
        self._tasks.append(asyncio.create_task(self._upkeep(), name="history-upkeep"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # a recorder in a database thread or an SSH command must not hold the exit up
            await asyncio.wait(self._tasks, timeout=3)
        self._tasks.clear()
        self.db.close()

    def queue_waits(self, cluster: str) -> dict[str, float]:
        """Median recorded minutes from submit to start per partition; {} when unknown or unreadable (the
        history informs a recommendation, it never fails one)."""
        try:
            return self.reader.queue_waits(cluster)
        except HpcBridgeError as exc:
            log.warning("history: queue waits of %s: %s", cluster, exc.message)
            return {}

    def backup(self, owner: str = "") -> Path:
        """A backup now; `owner` (the principal that asked, "" when scheduled) names it and prunes only its own."""
        return self.db.backup(self.state_dir / "backups", self.config.backup_keep, owner)

    async def _upkeep(self) -> None:
        last_backup = time.time()
        while True:
            await asyncio.sleep(600)
            try:
                await asyncio.to_thread(self.writer.downsample, time.time() - self.config.fine_days * 86400)
                hours = self.config.backup_hours
                if hours and self.db.dialect == "sqlite" and time.time() - last_backup >= hours * 3600:
                    await asyncio.to_thread(self.backup)
                    last_backup = time.time()
            except HpcBridgeError as exc:
                log.warning("history upkeep: %s", exc.message)
