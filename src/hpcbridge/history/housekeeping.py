"""Cleaning old records out of the history: finished jobs last seen more than N days ago, their state
changes, runs left without jobs, and GPU samples older than that. Logbook entries are writing, not
records: they are never cleaned. A dry run says what would go; nothing is deleted without confirm."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, exists, func, select, tuple_

from ..errors import InvalidParameter
from ..models import JobState
from .db import Database
from .schema import board_marks, gpu_samples, jobs, runs, transitions

MAX_DAYS = 36_500
LISTED = 50  # jobs named in the answer; the counts are complete
FINAL = sorted(s.value for s in JobState if s.final)
audit = logging.getLogger("hpcbridge.audit")


@dataclass(frozen=True)
class Cleanup:
    older_than_days: float
    dry_run: bool
    jobs: int
    transitions: int
    runs: int
    gpu_samples: int
    examples: list[str] = field(default_factory=list)  # cluster:job_id name, the oldest first (up to 50)


def cleanup(db: Database, older_than_days: float, confirm: bool, who: str, now: float | None = None) -> Cleanup:
    """What a cleanup removes (confirm=False) or removes it (confirm=True), in one transaction."""
    if not 1 <= older_than_days <= MAX_DAYS:
        raise InvalidParameter("older_than_days", f"{older_than_days} is out of range", f"1 to {MAX_DAYS} days")
    cutoff = (now or time.time()) - older_than_days * 86400
    old_job = and_(jobs.c.state.in_(FINAL), jobs.c.last_seen < cutoff)
    job_key = tuple_(transitions.c.cluster, transitions.c.job_id)
    old_keys = select(jobs.c.cluster, jobs.c.job_id).where(old_job)
    with db.connect() as conn:
        n_jobs = conn.execute(select(func.count()).select_from(jobs).where(old_job)).scalar() or 0
        n_trans = conn.execute(select(func.count()).select_from(transitions)
                               .where(job_key.in_(old_keys))).scalar() or 0
        n_gpu = conn.execute(select(func.count()).select_from(gpu_samples)
                             .where(gpu_samples.c.at < cutoff)).scalar() or 0
        examples = [f"{r.cluster}:{r.job_id} {r.name}" for r in conn.execute(
            select(jobs.c.cluster, jobs.c.job_id, jobs.c.name).where(old_job)
            .order_by(jobs.c.last_seen).limit(LISTED))]
        # a run goes once none of its jobs stays
        keeps_a_job = exists().where(and_(jobs.c.run_id == runs.c.id, ~old_job))
        empty_runs = and_(runs.c.created < cutoff, ~keeps_a_job)
        n_runs = conn.execute(select(func.count()).select_from(runs).where(empty_runs)).scalar() or 0
        if confirm:
            doomed_runs = [r for (r,) in conn.execute(select(runs.c.id).where(empty_runs))]
            conn.execute(delete(transitions).where(job_key.in_(old_keys)))
            # a board mark goes with its job: a later job that reuses the id must not come back dismissed
            conn.execute(delete(board_marks).where(tuple_(board_marks.c.cluster, board_marks.c.job_id)
                                                   .in_(old_keys)))
            doomed_jobs = [i for (i,) in conn.execute(select(jobs.c.id).where(old_job))]
            conn.execute(delete(jobs).where(old_job))
            for start in range(0, len(doomed_jobs), 500):
                for row_id in doomed_jobs[start:start + 500]:
                    db.forget_text(conn, "jobs", row_id)
            conn.execute(delete(runs).where(runs.c.id.in_(doomed_runs)))
            conn.execute(delete(gpu_samples).where(gpu_samples.c.at < cutoff))
    result = Cleanup(older_than_days, not confirm, n_jobs, n_trans, n_runs, n_gpu, examples)
    audit.info("principal=%s cleanup_history older_than_days=%s %s: jobs=%d transitions=%d runs=%d "
               "gpu_samples=%d", who, older_than_days, "deleted" if confirm else "dry run", n_jobs, n_trans,
               n_runs, n_gpu)
    return result
