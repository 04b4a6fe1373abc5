"""get_quotas: the login user's user, group and project quotas on the file systems of the configured
directories, from `lfs quota` (Lustre), `quota -w -p` (Linux quota tools) and the site's `quota_command`.

Which of them run is asked once per call in one probe (`command -v`, the primary group, and `lfs getname`,
which lists the mounted Lustre file systems), so a cluster without Lustre costs no `lfs quota` at all. Every
quota is read for one Lustre mount point at a time (a quota belongs to the file system, not the directory).
Project quotas are read for the project ids the configured directories carry (`lfs project -d`).
"""

from __future__ import annotations

import asyncio
import posixpath
from dataclasses import dataclass, field

from .. import validate
from ..quotas import Quota, parse_lines, parse_table
from .cluster import Cluster
from .sandbox import Sandbox

# One probe: which tools exist, the primary group, and the Lustre mounts (`lfs getname` prints
# "FSNAME-INSTANCE MOUNTPOINT" per mounted Lustre file system; nothing, or an error, where there is none).
_PROBE = ('for t in lfs quota; do command -v "$t" >/dev/null 2>&1 && echo "tool $t"; done; '
          'echo "group $(id -gn)"; command -v lfs >/dev/null 2>&1 && lfs getname 2>/dev/null | '
          'while read -r name mount; do echo "lustre $mount"; done; true')


@dataclass(frozen=True)
class QuotaReport:
    cluster: str
    user: str
    group: str
    quotas: list[Quota]
    warnings: int = 0
    sources: list[str] = field(default_factory=list)  # the commands that answered
    notes: list[str] = field(default_factory=list)


def _under(path: str, mount: str) -> bool:
    return path == mount or path.startswith(mount.rstrip("/") + "/")


async def _lfs(c: Cluster, user: str, group: str, mounts: list[str], dirs: list[str]) -> list[Quota]:
    """lfs quota -u/-g for each Lustre mount holding a configured directory, -p for their project ids."""
    on_lustre = [d for d in dirs if any(_under(d, m) for m in mounts)]
    used = [m for m in mounts if any(_under(d, m) for d in on_lustre)]
    calls = [["lfs", "quota", flag, who, m] for m in used for flag, who in (("-u", user), ("-g", group))]
    if on_lustre:
        # `lfs project -d DIR` prints "%5u %c %s": project id, P (inherited by new files) or -, the path
        found = await c.run(["lfs", "project", "-d", "--", *on_lustre])
        projects: dict[str, str] = {}
        for line in found.stdout.splitlines():
            parts = line.split(None, 2)
            if len(parts) == 3 and parts[0].isdigit() and parts[0] != "0":
                mount = next((m for m in used if _under(parts[2], m)), "")
                projects.setdefault(parts[0], mount)
        calls += [["lfs", "quota", "-p", pid, mount] for pid, mount in projects.items() if mount]
    results = await asyncio.gather(*(c.run(argv) for argv in calls))
    quotas: list[Quota] = []
    for result in results:
        quotas += parse_table(result.stdout, "lfs")  # a mount lfs cannot read prints no table: nothing
    return quotas


async def get_quotas(c: Cluster) -> QuotaReport:
    user = await c.user()
    probe = await c.run(["sh", "-c", _PROBE])
    lines = [line.split(" ", 1) for line in probe.stdout.splitlines() if " " in line]
    tools = {v for k, v in lines if k == "tool"}
    group = next((v for k, v in lines if k == "group"), "")
    mounts = [v for k, v in lines if k == "lustre" and v.startswith("/")]
    quotas: list[Quota] = []
    sources: list[str] = []
    notes: list[str] = []
    if mounts:
        dirs = [r.path for r in await Sandbox(c).roots()]
        found = await _lfs(c, user, validate.name("group", group), mounts, dirs)
        quotas += found
        sources.append("lfs quota")
        if not found:
            notes.append(f"no Lustre quota for {user} on {', '.join(mounts)}")
    if "quota" in tools:
        # -w: one line per file system; -p: grace as epoch seconds (exact, not "6days"); quota exits 1 when a
        # limit is exceeded, so its output is read whatever the status
        result = await c.run(["quota", "-w", "-p", "-u", "-g"])
        quotas += parse_table(result.stdout, "quota", epoch_grace=True)
        sources.append("quota")
    if c.config.quota_command:
        argv = [a.replace("{user}", user).replace("{group}", group) for a in c.config.quota_command]
        result = await c.run(argv)
        site = parse_lines(result.stdout, "site", user)
        quotas += site
        sources.append(posixpath.basename(argv[0]))
        if not result.ok and not site:
            notes.append(f"quota_command failed: {(result.stderr.strip() or 'exit ' + str(result.exit_status))[:200]}")
    if not sources:
        notes.append("no quota source on this cluster: no Lustre mount, no quota command, no quota_command set")
    quotas.sort(key=lambda q: (not q.warning, -(q.percent or 0), q.filesystem, q.kind))
    return QuotaReport(c.name, user, group, quotas, sum(1 for q in quotas if q.warning), sources, notes)


def human(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def quota_line(q: Quota) -> str:
    limit = q.hard_bytes or q.soft_bytes
    space = f"{human(q.used_bytes)} of {human(limit)}" if limit else f"{human(q.used_bytes)} (no limit)"
    soft = f" (soft {human(q.soft_bytes)})" if q.soft_bytes and q.hard_bytes and q.soft_bytes != q.hard_bytes else ""
    files = ""
    if q.files is not None:
        flimit = q.files_hard or q.files_soft
        files = f", {q.files} files" + (f" of {flimit}" if flimit else "")
    grace = f", grace {q.grace}" if q.grace else ""
    warn = f"  WARNING: {q.warning}" if q.warning else ""
    return f"{q.kind} {q.name} on {q.filesystem}: {space}{soft}{files}{grace}{warn}"


def render(r: QuotaReport) -> str:
    head = f"quotas on {r.cluster} for {r.user} (group {r.group}): {len(r.quotas)}, {r.warnings} near or over a limit"
    return "\n".join([head, *map(quota_line, r.quotas), *(f"note: {n}" for n in r.notes)])
