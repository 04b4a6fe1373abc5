"""Time words as sacct reads them (`now-7days`, `today`, ISO dates), turned into ISO local times."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from .errors import InvalidParameter

FORMS = "YYYY-MM-DD[THH:MM[:SS]], now, today, midnight, now-N{seconds,minutes,hours,days,weeks} (e.g. now-7days)"


def absolute_time(parameter: str, value: str | None, what: str, now: datetime | None = None) -> str | None:
    """ISO dates pass; `now`, `today`, `midnight` and `now-N{unit}` become ISO; anything else is refused,
    naming `what` did not understand it."""
    if not value:
        return None
    now = now or datetime.now()
    if re.match(r"^\d{4}-\d{2}-\d{2}(?:T\d{2}(?::\d{2}(?::\d{2})?)?)?$", value):
        return value
    if value in ("today", "midnight"):
        return now.strftime("%Y-%m-%dT00:00:00")
    m = re.match(r"^now(?:-(\d+)(seconds|minutes|hours|days|weeks)?)?$", value)
    if not m:
        raise InvalidParameter(parameter, f"{value!r} is not a time {what} understands", FORMS)
    delta = timedelta(**{m.group(2) or "seconds": int(m.group(1))}) if m.group(1) else timedelta()
    return (now - delta).strftime("%Y-%m-%dT%H:%M:%S")


def time_minutes(value: str | None) -> int | None:
    """A limit as Slurm and PBS print it ([D-]H:MM:SS, M:SS, M) -> minutes; UNLIMITED/INFINITE/NONE -> None."""
    text = (value or "").strip()
    if not text or text.upper() in {"UNLIMITED", "INFINITE", "NONE", "N/A", "PARTITION_LIMIT"}:
        return None
    m = re.match(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$", text)
    if not m:
        return None
    days, a, b, c = m.groups()
    nums = [int(a)] + [int(x) for x in (b, c) if x is not None]
    if days is not None:
        h, mi, s = (nums + [0, 0])[:3]
        return int(days) * 1440 + h * 60 + mi + (1 if s else 0)
    if len(nums) == 1:
        return nums[0]
    if len(nums) == 2:
        return nums[0] + (1 if nums[1] else 0)
    return nums[0] * 60 + nums[1] + (1 if nums[2] else 0)


def clock_seconds(value: str | None) -> int | None:
    """A duration as squeue and qstat print it ([D-]HH:MM:SS, MM:SS, SS) -> seconds; anything else -> None."""
    m = re.match(r"^(?:(\d+)-)?(?:(?:(\d+):)?(\d+):)?(\d+)$", (value or "").strip())
    if not m:
        return None
    days, hours, minutes, seconds = (int(x) if x else 0 for x in m.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def time_left(limit: str, used: str) -> str:
    """What squeue's %L prints: the limit minus the time used, as [D-]HH:MM:SS, H:MM:SS or M:SS; the limit as
    given when it is no time (UNLIMITED); '' when nothing is known."""
    total, spent = clock_seconds(limit), clock_seconds(used or "0")
    if total is None or spent is None:
        return limit.strip() if limit.strip().upper() in {"UNLIMITED", "INFINITE"} else ""
    left = max(0, total - spent)
    days, rest = divmod(left, 86400)
    hours, minutes, seconds = rest // 3600, rest % 3600 // 60, rest % 60
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
