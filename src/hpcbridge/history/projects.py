"""Projects as the history sees them (issue 30): each project's jobs, how many ended well, its GPU hours, and
(with `[history] campaigns = true`) its campaigns, from names of the form `<project>_<campaign>_<run>`.

A project is the job name's prefix before `[history] project_separator` (history/runs.py); the recorder stores
it with each job. Success rate counts only ended jobs: COMPLETED over every final state."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from sqlalchemy import select

from ..models import JobState
from .db import Database
from .schema import jobs

PALETTE = 12  # dashboard.css has .project-colour-0 .. -11 (no inline style: the pages' CSP forbids it)
_FINALS = {s.value for s in JobState if s.final}
_ELAPSED = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$")


def colour(project: str) -> int:
    """A stable colour index per project name (the same on every page, every server, every run)."""
    return zlib.crc32(project.encode()) % PALETTE


def elapsed_hours(text: str) -> float:
    """Slurm's and PBS's `[D-][HH:]MM:SS` as hours; 0 for anything else (unknown, empty)."""
    match = _ELAPSED.match((text or "").strip())
    if not match:
        return 0.0
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return days * 24 + hours + minutes / 60 + seconds / 3600


def campaign_of(name: str, separator: str) -> str:
    """`<project>_<campaign>_<run>`: the middle part; "" when the name has fewer than three parts."""
    parts = (name or "").split(separator)
    return parts[1].lower() if len(parts) >= 3 and parts[1] else ""


@dataclass
class ProjectStats:
    name: str
    colour: int
    jobs: int = 0
    ended: int = 0
    completed: int = 0
    gpu_hours: float = 0.0
    last_submit: str = ""
    campaigns: dict[str, int] = field(default_factory=dict)  # campaign -> jobs (with campaigns on)

    @property
    def success_rate(self) -> float | None:
        return self.completed / self.ended if self.ended else None


def project_stats(db: Database, separator: str, campaigns: bool, project: str = "") -> list[ProjectStats]:
    """Every project (or one), most recently submitted first."""
    query = select(jobs.c.project, jobs.c.name, jobs.c.state, jobs.c.gpus, jobs.c.elapsed, jobs.c.submit_time)
    query = query.where(jobs.c.project == project) if project else query.where(jobs.c.project != "")
    with db.connect() as conn:
        rows = conn.execute(query).all()
    out: dict[str, ProjectStats] = {}
    for row in rows:
        stats = out.setdefault(row.project, ProjectStats(row.project, colour(row.project)))
        stats.jobs += 1
        if row.state in _FINALS:
            stats.ended += 1
            stats.completed += row.state == JobState.COMPLETED.value
        stats.gpu_hours += (row.gpus or 0) * elapsed_hours(row.elapsed)
        stats.last_submit = max(stats.last_submit, row.submit_time or "")
        if campaigns:
            key = campaign_of(row.name, separator) or "(none)"
            stats.campaigns[key] = stats.campaigns.get(key, 0) + 1
    return sorted(out.values(), key=lambda s: s.last_submit, reverse=True)


def project_names(db: Database, words: str, limit: int) -> list[str]:
    """Recorded project names containing `words` (case-insensitive), for the search box: one indexed DISTINCT,
    not every job row."""
    pattern = "%" + words.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with db.connect() as conn:
        rows = conn.execute(select(jobs.c.project).distinct().where(jobs.c.project != "",
                                                                    jobs.c.project.like(pattern, escape="\\"))
                            .order_by(jobs.c.project).limit(limit)).all()
    return [r.project for r in rows]
