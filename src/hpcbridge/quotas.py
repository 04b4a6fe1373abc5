"""Storage quotas, read from the text of `lfs quota`, `quota -w -p` and a site's own command (pure: no I/O).

Lustre's format, as the lfs-quota(1) man page and the Lustre Operations Manual ("Quota Verification") show it:

    Disk quotas for usr bob (uid 6000):
         Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
        /mnt/testfs    30720*  30000   40000  6d23h59m57s   12   10000   11000       -

- the title names the kind: `usr`/`grp`/`prj` (Lustre >= 2.10; older releases print `user`/`group`);
- space is in KiB (`kbytes`), or with `-h` in human units (`used` column, values like 30M, 1.5G, 4k);
- `quota` is the soft limit, `limit` the hard one, 0 means none; a `*` after a value marks it over the soft
  limit (space or files);
- `grace` is `-` while under the soft limit, the time left (`6d23h59m57s`) once over it, `none` when it has
  run out (then the soft limit is enforced as a hard one);
- a file system name longer than the column is printed on its own line and the numbers follow on the next.

Linux quota tools print the same columns (`blocks` in KiB instead of `kbytes`); `-w` keeps each file system on
one line and `-p` prints grace as seconds since the epoch (0 = not in grace), which is what hpcbridge asks for.
A site's own command (`quota_command`) may print either table, or plain lines `FILESYSTEM USED LIMIT [GRACE]`
(sizes in bytes or with a K/M/G/T/P suffix, 1024-based; `#` starts a comment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

WARN_PERCENT = 90.0  # at or above this share of a limit, a quota is flagged
_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5, "E": 1024**6}
_TITLE = re.compile(r"^Disk quotas for (usr|user|grp|group|prj|project) (\S+)")
_KINDS = {"usr": "user", "user": "user", "grp": "group", "group": "group", "prj": "project", "project": "project"}
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([kKmMgGtTpPeE]?)[bB]?$")


@dataclass(frozen=True)
class Quota:
    """One quota on one file system: space in bytes, files as a count; a limit of None means no limit."""

    kind: str  # user | group | project | site
    name: str  # the user, group or project id the quota is for
    filesystem: str
    used_bytes: int | None
    soft_bytes: int | None = None
    hard_bytes: int | None = None
    grace: str = ""  # '' under the soft limit; the time left, or 'expired'
    files: int | None = None
    files_soft: int | None = None
    files_hard: int | None = None
    files_grace: str = ""
    source: str = ""  # lfs | quota | site
    percent: float | None = None  # the larger of space and files, of the tightest limit
    warning: str = ""  # '' when well under every limit


def size(text: str, unit: int = 1) -> int | None:
    """'30720' (times unit), '1.5G', '4k' -> bytes; None for what is not a size."""
    m = _SIZE.match(text.strip().rstrip("*"))
    if not m:
        return None
    scale = _UNITS[m.group(2).upper()] if m.group(2) else unit
    return int(float(m.group(1)) * scale)


def _limit(value: int | None) -> int | None:
    return value if value else None  # 0 is "no limit" in every format


def _grace(text: str, epoch: bool, now: datetime) -> str:
    if text == "none":
        return "expired"
    if text in ("-", "", "0"):
        return ""
    if epoch and text.isdigit():
        left = int(text) - int(now.timestamp())
        if left <= 0:
            return "expired"
        days, rest = divmod(left, 86400)
        return f"{days}d{rest // 3600}h{rest % 3600 // 60}m"
    return text


def judge(q: Quota) -> Quota:
    """Percent of the tightest limit (space or files) and a warning at WARN_PERCENT or over a limit."""
    shares = []
    for used, soft, hard in ((q.used_bytes, q.soft_bytes, q.hard_bytes), (q.files, q.files_soft, q.files_hard)):
        limit = soft or hard
        if used is not None and limit:
            shares.append(100.0 * used / limit)
    percent = round(max(shares), 1) if shares else None
    warning = ""
    if q.grace == "expired" or q.files_grace == "expired":
        warning = "over the soft limit and the grace period has run out: writes fail until usage drops"
    elif q.grace or q.files_grace:
        warning = f"over the soft limit; grace left {q.grace or q.files_grace}"
    elif percent is not None and percent >= 100:
        warning = f"at the limit ({percent:g}%): writes fail"
    elif percent is not None and percent >= WARN_PERCENT:
        warning = f"{percent:g}% of the limit"
    return Quota(**{**q.__dict__, "percent": percent, "warning": warning})


def parse_table(text: str, source: str, *, epoch_grace: bool = False, now: datetime | None = None) -> list[Quota]:
    """`lfs quota` or `quota -w -p` output (one or more titled tables) -> quotas (only rows with a limit or
    usage; `lfs quota -v` per-target rows are skipped: they follow a blank-free OST/MDT name)."""
    now = now or datetime.now(UTC)
    kind, name, unit = "", "", 1024
    quotas: list[Quota] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        title = _TITLE.match(line)
        if title:
            kind, name, pending = _KINDS[title.group(1)], title.group(2), ""
            continue
        if line.startswith("Filesystem"):
            unit = 1 if "used" in line.split() else 1024  # `lfs quota -h` heads its sizes `used`: units given
            continue
        if not kind or not line:
            continue
        parts = line.split()
        if len(parts) == 1:  # a long file system name: its numbers are on the next line
            pending = parts[0]
            continue
        if pending:
            parts, pending = [pending, *parts], ""
        if len(parts) < 9 or re.search(r"-(OST|MDT)[0-9a-f]{4}", parts[0]):
            continue
        fs, used, soft, hard, grace, files, fsoft, fhard, fgrace = parts[:9]
        quotas.append(judge(Quota(
            kind, name, fs, size(used, unit), _limit(size(soft, unit)), _limit(size(hard, unit)),
            _grace(grace, epoch_grace, now), _count(files), _limit(_count(fsoft)), _limit(_count(fhard)),
            _grace(fgrace, epoch_grace, now), source)))
    return quotas


def _count(text: str) -> int | None:
    value = size(text)  # lfs -h prints file counts with k/M suffixes too (1000-based there, close enough)
    return value


def parse_lines(text: str, source: str = "site", name: str = "") -> list[Quota]:
    """A site command's `FILESYSTEM USED LIMIT [GRACE]` lines, or a titled table when it prints one."""
    if _TITLE.search(text) or "Disk quotas for" in text:
        return parse_table(text, source)
    quotas = []
    for raw in text.splitlines():
        parts = raw.split("#", 1)[0].split()
        if len(parts) < 3:
            continue
        used, limit = size(parts[1]), size(parts[2])
        if used is None or limit is None:
            continue
        grace = parts[3] if len(parts) > 3 and parts[3] != "-" else ""
        quotas.append(judge(Quota("site", name, parts[0], used, None, _limit(limit), grace, source=source)))
    return quotas
