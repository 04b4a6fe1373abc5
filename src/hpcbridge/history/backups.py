"""Online backups of the SQLite history: one file per backup, never overwritten, kept per owner.

Names: `history-YYYYmmdd-HHMMSS-micro[-by-PRINCIPAL].sqlite3` (UTC). Scheduled backups (`backup_hours`) have
no owner; `backup_history` and `hpcbridge history backup` name whoever asked. Pruning keeps the `keep` newest
of the asking owner's backups only, so a principal calling `backup_history` in a loop replaces only its own
copies, never the scheduled ones or another principal's; and each owner's newest backup older than a day is
never deleted (a burst of backups of an already damaged history cannot push out the last good one).
Files are created 0600 and exclusively (O_EXCL): two backups in the same second get two names.
"""

from __future__ import annotations

import calendar
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .. import private

DAY = 86400.0
NAME = re.compile(r"^history-(\d{8}-\d{6})(?:-(\d{6}))?(?:-\d+)?(?:-by-([A-Za-z0-9_.-]+))?\.sqlite3$")


@dataclass(frozen=True)
class Backup:
    path: Path
    owner: str  # "" for scheduled backups (and those of hpcbridge versions before owners)
    at: float  # the time in the name (UTC epoch)


def parse(path: Path) -> Backup | None:
    m = NAME.match(path.name)
    if not m:
        return None
    at = calendar.timegm(time.strptime(m[1], "%Y%m%d-%H%M%S")) + int(m[2] or 0) / 1e6
    return Backup(path, m[3] or "", at)


def make(source_path: str, directory: Path, keep: int, owner: str = "") -> Path:
    """Copy the database with SQLite's backup API (consistent while the recorder writes); prune after."""
    private.make_dir(directory)
    target = _new_file(directory, owner)
    source = sqlite3.connect(source_path)
    try:
        dest = sqlite3.connect(target)
        with dest:
            source.backup(dest)
        dest.close()
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    prune(directory, keep, owner)
    return target


def _new_file(directory: Path, owner: str) -> Path:
    now = time.time()
    stem = time.strftime("history-%Y%m%d-%H%M%S", time.gmtime(now)) + f"-{int(now % 1 * 1e6):06d}"
    suffix = f"-by-{owner}.sqlite3" if owner else ".sqlite3"
    for n in range(1, 1000):
        target = directory / (stem + (f"-{n}" if n > 1 else "") + suffix)
        try:
            private.create_file(target, exclusive=True)  # 0600 before SQLite opens it; never an existing one
        except FileExistsError:
            continue
        return target
    raise FileExistsError(f"{directory}: no free backup name for {stem}")


def prune(directory: Path, keep: int, owner: str, now: float | None = None) -> list[Path]:
    """Delete the owner's backups beyond the `keep` newest, except the owner's newest one older than a day."""
    now = time.time() if now is None else now
    found = [b for b in (parse(p) for p in directory.glob("history-*.sqlite3")) if b is not None]
    mine = sorted((b for b in found if b.owner == owner), key=lambda b: b.at, reverse=True)
    anchor = next((b.path for b in mine if now - b.at >= DAY), None)
    removed = []
    for old in mine[keep:]:
        if old.path != anchor:
            old.path.unlink(missing_ok=True)
            removed.append(old.path)
    return removed
