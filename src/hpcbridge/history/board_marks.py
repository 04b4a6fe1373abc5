"""Pins and dismissals of finished jobs on the board, kept in the history store (SQLite or PostgreSQL).

A pinned job stays on the board (even when it ended long ago) until it is dismissed; a dismissed job leaves the
board and stays in the history. Clearing every finished (or only the failed) job dismisses each one that is not
pinned: a pin is the person saying "keep this", and only dismissing that job removes it."""

from __future__ import annotations

import logging
import re
import time

from sqlalchemy import and_, delete, insert, select

from .. import principal
from ..errors import InvalidParameter
from ..models import JobState
from .db import Database
from .schema import board_marks, jobs

audit = logging.getLogger("hpcbridge.audit")
MARKS = ("pinned", "dismissed")
FAILED = tuple(s.value for s in JobState if s.final and s is not JobState.COMPLETED)
FINISHED = tuple(s.value for s in JobState if s.final)
_JOB_ID = re.compile(r"^[\w.\[\]-]{1,128}$")


def _checked_id(job_id: str) -> str:
    if not _JOB_ID.match(job_id or ""):
        raise InvalidParameter("job_id", f"{job_id!r} is not a job id", "digits, as in 1234, 1234_7 or 1234.server")
    return job_id


class BoardMarks:
    def __init__(self, db: Database) -> None:
        self.db = db

    def marks(self, cluster: str) -> dict[str, str]:
        """job id -> pinned | dismissed, for one cluster."""
        with self.db.connect() as conn:
            rows = conn.execute(select(board_marks.c.job_id, board_marks.c.mark)
                                .where(board_marks.c.cluster == cluster)).all()
        return {r.job_id: r.mark for r in rows}

    def set(self, cluster: str, job_id: str, mark: str) -> None:
        if mark not in MARKS:
            raise InvalidParameter("mark", f"{mark!r} is not a mark", " or ".join(MARKS))
        job_id = _checked_id(job_id)
        with self.db.connect() as conn:
            conn.execute(delete(board_marks).where(and_(board_marks.c.cluster == cluster,
                                                        board_marks.c.job_id == job_id)))
            conn.execute(insert(board_marks).values(cluster=cluster, job_id=job_id, mark=mark, at=time.time(),
                                                    by=principal.name()))
        audit.info("principal=%s board %s %s/%s", principal.name(), mark, cluster, job_id)

    def clear_finished(self, clusters: tuple[str, ...], only_failed: bool = False, dry_run: bool = False) -> list[str]:
        """Dismiss every recorded finished (or failed) job of these clusters that is not pinned or dismissed
        already; `cluster/job_id` of each (what would be dismissed, on a dry run)."""
        states = FAILED if only_failed else FINISHED
        marked = select(board_marks.c.job_id).where(board_marks.c.cluster == jobs.c.cluster)
        with self.db.connect() as conn:
            rows = conn.execute(select(jobs.c.cluster, jobs.c.job_id).where(
                jobs.c.cluster.in_(clusters), jobs.c.state.in_(states),
                ~jobs.c.job_id.in_(marked))).all()
            if not dry_run:
                now, who = time.time(), principal.name()
                if rows:
                    conn.execute(insert(board_marks), [{"cluster": r.cluster, "job_id": r.job_id, "mark": "dismissed",
                                                        "at": now, "by": who} for r in rows])
        if rows and not dry_run:
            audit.info("principal=%s board cleared %d %s job(s) on %s", principal.name(), len(rows),
                       "failed" if only_failed else "finished", ",".join(clusters))
        return [f"{r.cluster}/{r.job_id}" for r in rows]
