"""The history as the server holds it: one database, a recorder per cluster, the polling rule, backups."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .. import private
from ..config import HistoryConfig, Settings
from ..errors import HpcBridgeError, NotFound
from ..services.registry import Registry
from .activity import Activity, remember_submission

# SQLAlchemy and the recorder cost a third of a second at import: a server whose history nobody looks at
# never loads them, so `tools/list` answers sooner (bench/bench_cold_start.py).
if TYPE_CHECKING:
    from ..services.provenance import Provenance
    from .board_marks import BoardMarks
    from .db import Database
    from .logbook import Logbook
    from .queries import HistoryReader
    from .recorder import Recorder
    from .store import HistoryWriter

log = logging.getLogger("hpcbridge.history")

FOLLOW_SECONDS = 60.0  # how often the configured clusters are compared with the recorded ones


def open_database(config: HistoryConfig, state_dir: Path) -> Database:
    """The configured database_url, else SQLite in the state directory."""
    from .db import Database, default_url

    return Database(config.database_url.get_secret_value() if config.database_url else default_url(state_dir))


class History:
    def __init__(self, settings: Settings, registry: Registry, state_dir: Path | None = None) -> None:
        config = settings.history
        self.config = config
        self.registry = registry
        self.state_dir = state_dir or private.state_dir()
        self.activity = Activity(config.active_minutes * 60)
        self.scripts: dict[tuple[str, str], str] = {}
        self.recorders: dict[str, Recorder] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @functools.cached_property
    def db(self) -> Database:
        """Opened on first use (a look at the history, or the recorder's first poll)."""
        return open_database(self.config, self.state_dir)

    @functools.cached_property
    def writer(self) -> HistoryWriter:
        from .store import HistoryWriter

        return HistoryWriter(self.db, self.config.project_separator)

    @functools.cached_property
    def reader(self) -> HistoryReader:
        from .queries import HistoryReader

        return HistoryReader(self.db)

    @functools.cached_property
    def logbook(self) -> Logbook:
        from .logbook import Logbook

        return Logbook(self.db)

    @functools.cached_property
    def marks(self) -> BoardMarks:
        from .board_marks import BoardMarks

        return BoardMarks(self.db)

    def start(self) -> None:
        """A recorder per cluster (each in its own task: one that does not answer blocks no other), and the
        upkeep (downsampling, backups). Nothing polls until someone looks, so the recorders (and the database)
        are made at the first look, not at start."""
        if not self.config.enabled:
            return
        remember = remember_submission(self.scripts)
        self.registry.each_cluster(lambda cluster: cluster.submitted.append(remember))
        self._tasks.append(asyncio.create_task(self._begin(), name="history-begin"))

    async def _begin(self) -> None:
        while not self.activity.active():
            await self.activity.until_active(3600)
        self._tasks.append(asyncio.create_task(self._upkeep(), name="history-upkeep"))
        while True:  # clusters the config editor adds are recorded too, within a minute
            self._record_new_clusters()
            await asyncio.sleep(FOLLOW_SECONDS)

    def _record_new_clusters(self) -> None:
        from .recorder import Recorder

        for name in self.registry.names:
            if name in self.recorders:
                continue
            recorder = self.recorders[name] = Recorder(name, self.registry.get, self.writer, self.config,
                                                       self.activity, self.scripts)
            task = asyncio.create_task(self._record(recorder), name=f"history-{name}")
            self._tasks.append(task)

    async def _record(self, recorder: Recorder) -> None:
        try:
            await recorder.run()
        except NotFound:  # removed from the configuration: a cluster added again under that name starts anew
            log.info("history: %s is no longer configured; its recorder stops", recorder.name)
        finally:
            self.recorders.pop(recorder.name, None)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # a recorder in a database thread or an SSH command must not hold the exit up
            await asyncio.wait(self._tasks, timeout=3)
        self._tasks.clear()
        if "db" in self.__dict__:  # opened
            self.db.close()

    def queue_waits(self, cluster: str) -> dict[str, float]:
        """Median recorded minutes from submit to start per partition; {} when unknown or unreadable (the
        history informs a recommendation, it never fails one)."""
        try:
            return self.reader.queue_waits(cluster)
        except HpcBridgeError as exc:
            log.warning("history: queue waits of %s: %s", cluster, exc.message)
            return {}

    def record_provenance(self, cluster: str, job_id: str, provenance: Provenance) -> None:
        """Kept with the job (get_history_job, the job page); a store that fails loses only this note."""
        if not self.config.enabled:
            return
        from . import provenance_store

        try:
            provenance_store.record(self.db, cluster, job_id, provenance)
        except Exception as exc:  # noqa: BLE001 - the job is submitted: its provenance is a note, not a reason to fail
            log.warning("provenance of %s on %s not recorded: %s", job_id, cluster, exc)

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
