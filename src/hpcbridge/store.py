"""SQLite (WAL) in the user's data directory: interactive sessions, their commands, saved profiles (each per
principal), and the hpcbridge instances that made allocations (so a restarted server can reap what a dead one left)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import private

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (tag TEXT PRIMARY KEY, host TEXT, pid INTEGER, started REAL, ended REAL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, cluster TEXT, instance TEXT, name TEXT, job_id TEXT, status TEXT, spec TEXT,
    created REAL, last_used REAL, ended REAL, note TEXT, principal TEXT NOT NULL DEFAULT 'local');
CREATE TABLE IF NOT EXISTS commands (
    session_id TEXT, at REAL, command TEXT, exit_status INTEGER, seconds REAL);
CREATE TABLE IF NOT EXISTS principal_profiles (
    principal TEXT, name TEXT, spec TEXT, saved REAL, PRIMARY KEY (principal, name));
"""


def _migrate(db: sqlite3.Connection) -> None:
    """Stores written before principals existed: their sessions and profiles belong to 'local'."""
    columns = [row[1] for row in db.execute("PRAGMA table_info(sessions)")]
    if "principal" not in columns:
        db.execute("ALTER TABLE sessions ADD COLUMN principal TEXT NOT NULL DEFAULT 'local'")
    if db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='profiles'").fetchone():
        db.execute("INSERT OR IGNORE INTO principal_profiles SELECT 'local', name, spec, saved FROM profiles")
        db.execute("DROP TABLE profiles")


@dataclass(frozen=True)
class SessionRow:
    id: str
    cluster: str
    instance: str
    name: str
    job_id: str
    status: str  # starting | pending | active | ended
    spec: dict[str, Any]
    created: float
    last_used: float
    ended: float | None
    note: str
    principal: str = "local"


def default_path() -> Path:
    return private.state_dir_path() / "hpcbridge.sqlite3"


class Store:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or private.state_dir() / "hpcbridge.sqlite3"
        private.make_dir(self.path.parent)
        private.create_file(self.path)  # 0600 before SQLite makes it 0644; its -wal and -shm follow its mode
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        _migrate(self._db)

    def close(self) -> None:
        self._db.close()

    # --- instances --------------------------------------------------------------------------------
    def register_instance(self, tag: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?, NULL)",
                         (tag, socket.gethostname(), os.getpid(), time.time()))

    def end_instance(self, tag: str) -> None:
        self._db.execute("UPDATE instances SET ended = ? WHERE tag = ?", (time.time(), tag))

    def dead_instances(self) -> list[str]:
        """Instances of this host whose process is gone without saying goodbye (killed, crashed)."""
        rows = self._db.execute("SELECT tag, pid FROM instances WHERE host = ? AND ended IS NULL",
                                (socket.gethostname(),)).fetchall()
        return [tag for tag, pid in rows if not _alive(pid)]

    # --- sessions ---------------------------------------------------------------------------------
    def add_session(self, row: SessionRow, *, max_live: int | None = None) -> bool:
        """Insert the session unless its instance already holds max_live live sessions or one of that name:
        the check and the insert are one statement, so parallel starts cannot all pass the check."""
        values = (row.id, row.cluster, row.instance, row.name, row.job_id, row.status, json.dumps(row.spec),
                  row.created, row.last_used, row.ended, row.note, row.principal)
        if max_live is None:
            self._db.execute(f"INSERT INTO sessions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", values)
            return True
        cursor = self._db.execute(
            f"INSERT INTO sessions ({_COLUMNS}) SELECT ?,?,?,?,?,?,?,?,?,?,?,? WHERE "
            "(SELECT COUNT(*) FROM sessions WHERE instance = ? AND status != 'ended') < ? AND NOT EXISTS "
            "(SELECT 1 FROM sessions WHERE instance = ? AND status != 'ended' AND name = ?)",
            (*values, row.instance, max_live, row.instance, row.name))
        return cursor.rowcount == 1

    def update_session(self, session_id: str, **fields: Any) -> None:
        if "spec" in fields:
            fields["spec"] = json.dumps(fields["spec"])
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._db.execute(f"UPDATE sessions SET {sets} WHERE id = ?", (*fields.values(), session_id))

    def sessions(self, *, cluster: str | None = None, instance: str | None = None,
                 live_only: bool = False, principal: str | None = None) -> list[SessionRow]:
        query = f"SELECT {_COLUMNS} FROM sessions WHERE 1=1"
        args: list[str] = []
        if principal:
            query, args = query + " AND principal = ?", [*args, principal]
        if cluster:
            query, args = query + " AND cluster = ?", [*args, cluster]
        if instance:
            query, args = query + " AND instance = ?", [*args, instance]
        if live_only:
            query += " AND status != 'ended'"
        return [_session(r) for r in self._db.execute(query + " ORDER BY created", args).fetchall()]

    def session(self, session_id: str) -> SessionRow | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id = ? OR name = ? ORDER BY created DESC",
                               (session_id, session_id)).fetchone()
        return _session(row) if row else None

    def add_command(self, session_id: str, command: str, exit_status: int, seconds: float) -> None:
        self._db.execute("INSERT INTO commands VALUES (?, ?, ?, ?, ?)",
                         (session_id, time.time(), command[:2000], exit_status, seconds))

    def recent_commands(self, session_id: str, limit: int = 10) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT at, command, exit_status, seconds FROM commands WHERE session_id = ? "
                                "ORDER BY at DESC LIMIT ?", (session_id, limit)).fetchall()
        return [{"at": _iso(at), "command": c, "exit_status": e, "seconds": round(s, 2)} for at, c, e, s in rows]

    # --- profiles ---------------------------------------------------------------------------------
    def save_profile(self, principal: str, name: str, spec: dict[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO principal_profiles VALUES (?, ?, ?, ?)",
                         (principal, name, json.dumps(spec), time.time()))

    def profiles(self, principal: str) -> dict[str, dict[str, Any]]:
        rows = self._db.execute("SELECT name, spec FROM principal_profiles WHERE principal = ? ORDER BY name",
                                (principal,))
        return {n: json.loads(s) for n, s in rows}

    def delete_profile(self, principal: str, name: str) -> bool:
        return self._db.execute("DELETE FROM principal_profiles WHERE principal = ? AND name = ?",
                                (principal, name)).rowcount > 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


_COLUMNS = "id, cluster, instance, name, job_id, status, spec, created, last_used, ended, note, principal"


def _session(r: tuple[Any, ...]) -> SessionRow:
    return SessionRow(r[0], r[1], r[2], r[3], r[4] or "", r[5], json.loads(r[6] or "{}"), r[7], r[8], r[9],
                      r[10] or "", r[11] or "local")
