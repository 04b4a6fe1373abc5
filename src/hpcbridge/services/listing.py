"""Listing, searching and measuring inside the sandbox, with GNU find/du/df on the cluster."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ..directories import age_minutes, glob_pattern, is_sensitive, size_bytes
from ..errors import InvalidParameter
from ..models import next_offset
from .cluster import Cluster
from .quotas import get_quotas, quota_line
from .sandbox import Sandbox

MAX_ENTRIES = 20_000  # never pull more than this many entries from one find
DU_LIMIT = 200  # directories measured with du in one answer
_TYPES = {"f": "file", "d": "directory", "l": "symlink"}
_FIND_FORMAT = "%y\t%s\t%T@\t%m\t%p\\0"


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    type: str
    size_bytes: int
    modified: str
    permissions: str
    size_is_total: bool = False  # for directories: du of the whole tree


@dataclass(frozen=True)
class DiskUsage:
    kind: str
    path: str
    used_bytes: int | None
    filesystem_size_bytes: int | None = None
    filesystem_avail_bytes: int | None = None
    mount: str = ""
    quota: str = ""
    note: str = ""


@dataclass(frozen=True)
class Listing:
    path: str
    entries: list[Entry]
    total: int
    offset: int
    limit: int
    counts: dict[str, int] = field(default_factory=dict)
    next_offset: int | None = None
    total_size_bytes: int = 0
    note: str = ""


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def type_word(stat_type: str) -> str:
    return {"regular file": "file", "regular empty file": "file", "directory": "directory",
            "symbolic link": "symlink"}.get(stat_type, _TYPES.get(stat_type, "other"))


def bounded(argv: list[str], seconds: float) -> list[str]:
    """Run argv under coreutils timeout(1) on the cluster, a little before hpcbridge gives up: timeout kills
    the whole process group, so a walk of a huge tree stops there too instead of running on unseen."""
    return ["timeout", "-k", "2", f"{max(1, int(seconds) - 3)}", *argv]


# find's NUL-separated records, cut on the cluster side: only LIMIT+1 records ever cross the connection.
_FIND_CAPPED = 'n=$1; shift; find "$@" | head -z -n "$n"'


def parse_find(text: str, hidden: Callable[[str], bool] = is_sensitive) -> list[Entry]:
    entries = []
    for record in text.split("\0"):
        parts = record.split("\t", 4)
        if len(parts) != 5 or hidden(parts[4]):
            continue
        kind, size, mtime, mode, path = parts
        entries.append(Entry(posixpath.basename(path), path, _TYPES.get(kind, "other"), int(size or 0),
                             iso_time(float(mtime or 0)), mode))
    return entries


async def run_find(cluster: Cluster, base: str, tests: list[str], max_depth: int | None) -> tuple[list[Entry], bool]:
    argv = [base, "-mindepth", "1"]
    if max_depth is not None:
        argv += ["-maxdepth", str(max_depth)]
    argv += [*tests, "-printf", _FIND_FORMAT]
    seconds = max(cluster.config.command_timeout, 120)
    script = ["sh", "-c", _FIND_CAPPED, "hpcbridge", str(MAX_ENTRIES + 1), *argv]
    result = await cluster.run(bounded(script, seconds), timeout=seconds)
    records = result.stdout.count("\0")
    entries = parse_find(result.stdout, await Sandbox(cluster).hidden())
    # find exits 1 when some sub-directory was unreadable; the readable part is still the answer
    return entries[:MAX_ENTRIES], records > MAX_ENTRIES


async def measure_dirs(cluster: Cluster, entries: list[Entry]) -> list[Entry]:
    """Replace directory sizes by their total (du -sb) for up to DU_LIMIT directories."""
    dirs = [e.path for e in entries if e.type == "directory"][:DU_LIMIT]
    if not dirs:
        return entries
    seconds = max(cluster.config.command_timeout, 120)
    result = await cluster.run(bounded(["du", "-s", "-b", "-0", "--", *dirs], seconds), timeout=seconds)
    totals = {}
    for line in result.stdout.split("\0"):
        size, _, path = line.partition("\t")
        if size.isdigit():
            totals[path] = int(size)
    return [Entry(e.name, e.path, e.type, totals[e.path], e.modified, e.permissions, True)
            if e.path in totals else e for e in entries]


def page(path: str, entries: list[Entry], offset: int, limit: int, note: str = "") -> Listing:
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.type] = counts.get(e.type, 0) + 1
    items = entries[offset : offset + limit]
    return Listing(path, items, len(entries), offset, limit, counts, next_offset(offset, len(items), len(entries)),
                   sum(e.size_bytes for e in entries), note)


async def list_directory(
    cluster: Cluster, path: str, kind: str | None = None, *, pattern: str | None = None,
    recursive: bool = False, max_depth: int | None = None, offset: int = 0, limit: int = 100,
    measure: bool = False,
) -> Listing:
    real, _ = await Sandbox(cluster).resolve(path or ".", kind)
    if not (await cluster.run(["test", "-d", real])).ok:
        raise InvalidParameter("path", f"{real} is not a directory", "a directory (read_file for files)")
    depth = (max_depth or 10) if recursive else 1
    tests = ["-name", glob_pattern("pattern", pattern)] if pattern else []
    entries, cut = await run_find(cluster, real, tests, depth)
    entries.sort(key=lambda e: e.path)
    if measure:
        entries = await measure_dirs(cluster, entries)
    note = f"listing stopped at {MAX_ENTRIES} entries" if cut else ""
    return page(real, entries, offset, limit, note)


async def find_files(
    cluster: Cluster, pattern: str, kind: str | None = None, *, path: str | None = None,
    file_type: str | None = None, min_size: str | None = None, max_age: str | None = None,
    min_age: str | None = None, offset: int = 0, limit: int = 100,
) -> Listing:
    real, _ = await Sandbox(cluster).resolve(path or ".", kind)
    tests = ["-name", glob_pattern("pattern", pattern)]
    if file_type:
        letter = {"file": "f", "dir": "d", "directory": "d", "link": "l", "symlink": "l"}.get(file_type)
        if not letter:
            raise InvalidParameter("file_type", f"{file_type!r} is not a type", "'file', 'dir' or 'link'")
        tests += ["-type", letter]
    if max_age:
        tests += ["-mmin", f"-{age_minutes('max_age', max_age)}"]  # modified within
    if min_age:
        tests += ["-mmin", f"+{age_minutes('min_age', min_age)}"]  # modified longer ago than
    threshold = size_bytes("min_size", min_size) if min_size else 0
    if threshold and file_type not in ("dir", "directory"):
        tests += ["(", "-type", "d", "-o", "-size", f"+{max(threshold - 1, 0)}c", ")"]
    entries, cut = await run_find(cluster, real, tests, None)
    if threshold:
        entries = await measure_dirs(cluster, entries)
        entries = [e for e in entries if e.size_bytes >= threshold]
    entries.sort(key=lambda e: (-e.size_bytes, e.path))
    return page(real, entries, offset, limit, f"search stopped at {MAX_ENTRIES} matches" if cut else "")


_DF = re.compile(r"^\s*([0-9]+)\s+([0-9]+)\s+([0-9]+)\s+(\S.*)$")


async def disk_usage(cluster: Cluster, real: str, kind: str) -> DiskUsage:
    seconds = max(cluster.config.command_timeout, 120)
    du = await cluster.run(bounded(["du", "-s", "-b", "-0", "--", real], seconds), timeout=seconds)
    used = int(du.stdout.split("\t", 1)[0]) if du.stdout.split("\t", 1)[0].isdigit() else None
    df = await cluster.run(["df", "-B1", "--output=size,used,avail,target", "--", real])
    match = next((m for m in map(_DF.match, df.stdout.splitlines()) if m), None)
    note = "" if du.ok else f"du: {du.stderr.strip().splitlines()[-1] if du.stderr.strip() else 'failed'}"
    return DiskUsage(kind, real, used, int(match.group(1)) if match else None,
                     int(match.group(3)) if match else None, match.group(4) if match else "", note=note)


async def dirs_exist(cluster: Cluster, paths: list[str]) -> list[bool]:
    script = 'for d; do if [ -d "$d" ]; then echo 1; else echo 0; fi; done'  # paths are arguments, not text
    result = await cluster.run(["sh", "-c", script, "hpcbridge", *paths])
    return [line == "1" for line in result.stdout.split()]


async def disk_report(cluster: Cluster, path: str | None, kind: str | None) -> list[DiskUsage]:
    """du and df for one path (or directory type), else for every configured directory that exists, with the
    user's quota on each row."""
    sandbox = Sandbox(cluster)
    if path or kind:
        real, root = await sandbox.resolve(path or ".", kind)
        targets = [(root.kind, real)]
    else:
        skip = {"user_root", "images", "gpfs", "home"}  # whole file systems: too big to walk
        targets = [(r.kind, r.path) for r in await sandbox.roots() if r.kind not in skip]
        exists = await dirs_exist(cluster, [p for _, p in targets])
        targets = [t for t, e in zip(targets, exists, strict=True) if e]
    rows = [await disk_usage(cluster, real, k) for k, real in targets]
    quota = await quota_text(cluster)
    return [replace(r, quota=quota) for r in rows]


async def quota_text(cluster: Cluster) -> str:
    """The user's quotas (services/quotas.py: lfs quota, quota, the site's quota_command), one line each; ''
    where the cluster has none."""
    report = await get_quotas(cluster)
    return "\n".join(quota_line(q) for q in report.quotas)[:4000]
