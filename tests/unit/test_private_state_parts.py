"""The parts behind issue 23's private-state and principal items that the live tests cannot reach cheaply: the
pruning rule over days of backups, the logbook's new columns on a database made before them (SQLite and
PostgreSQL), and directories private at every level hpcbridge makes."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hpcbridge import principal, private
from hpcbridge.history import backups
from hpcbridge.history.db import Database
from hpcbridge.history.logbook import Logbook

from ..conftest import postgres_schema

DAY = 86400


def _name(at: float, owner: str = "") -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(at)) + f"-{int(at % 1 * 1e6):06d}"
    return f"history-{stamp}" + (f"-by-{owner}" if owner else "") + ".sqlite3"


def test_pruning_touches_only_the_owner_and_keeps_its_newest_day_old_backup(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    files = {
        "bob_new": _name(now - 10, "bob"), "bob_newer": _name(now - 5, "bob"), "bob_newest": _name(now - 1, "bob"),
        "bob_2d": _name(now - 2 * DAY, "bob"), "bob_3d": _name(now - 3 * DAY, "bob"),
        "ana_old": _name(now - 9 * DAY, "ana"), "scheduled": _name(now - 8 * DAY),
        "legacy": "history-20200101-000000.sqlite3", "foreign": "notes.txt",
    }
    for name in files.values():
        (tmp_path / name).write_bytes(b"")
    removed = backups.prune(tmp_path, keep=2, owner="bob", now=now)
    assert sorted(p.name for p in removed) == sorted([files["bob_new"], files["bob_3d"]])
    left = {p.name for p in tmp_path.iterdir()}
    assert left == set(files.values()) - {files["bob_new"], files["bob_3d"]}
    assert backups.parse(tmp_path / files["legacy"]) == backups.Backup(tmp_path / files["legacy"], "", 1577836800.0)


def test_two_backup_names_in_the_same_microsecond_differ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backups.time, "time", lambda: 1_800_000_000.25)
    first, second = backups._new_file(tmp_path, "ana"), backups._new_file(tmp_path, "ana")
    assert first != second and first.exists() and second.exists()
    assert stat.S_IMODE(first.stat().st_mode) == 0o600 and backups.parse(second) is not None


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'h.sqlite3'}"
        return
    with postgres_schema() as pg:
        yield pg


def test_a_logbook_from_before_authors_gains_the_columns(url: str) -> None:
    old = Database(url)
    with old.connect() as conn:  # the table as hpcbridge made it before authors, with an entry in it
        for column in ("author", "updated_by"):
            conn.execute(text(f"ALTER TABLE logbook DROP COLUMN {column}"))
        conn.execute(text("INSERT INTO logbook (project, kind, title, body, created, updated) "
                          "VALUES ('p', 'note', 'old', 'b', 1, 1)"))
    old.close()
    db = Database(url)
    try:
        book = Logbook(db)
        assert (book.read(1).author, book.read(1).updated_by) == ("local", "local")
        token = principal.current.set("ana")
        try:
            edited = book.update(1, body="new")
        finally:
            principal.current.reset(token)
        assert (edited.author, edited.updated_by) == ("local", "ana")
    finally:
        db.close()


def test_every_directory_level_made_is_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        made = private.make_dir(tmp_path / "a" / "b" / "c")
        private.create_file(made / "f")
    finally:
        os.umask(old)
    for path in (tmp_path / "a", tmp_path / "a" / "b", made):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert stat.S_IMODE((made / "f").stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        private.create_file(made / "f", exclusive=True)
