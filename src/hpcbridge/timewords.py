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
