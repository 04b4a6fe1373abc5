"""Writing the history: what the recorder observed (queue snapshots, accounting records, job details,
diagnoses, submitted scripts, GPU samples) goes into the database, each fact once."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update

from ..models import Job, JobDetails, JobRecord, JobState
from . import runs
from .db import Database
from .schema import clusters, gpu_samples, jobs, transitions
from .schema import runs as runs_table

CHUNK = 500


@dataclass(frozen=True)
class GpuSample:
    cluster: str
    partition: str
    gpu_type: str
    total: int
    allocated: int
    mine: int
    account: int


def _gpus(job: Job) -> tuple[int, str]:
    return sum(g.count for g in job.gpus), next((g.type for g in job.gpus if g.type), "") or ""


def _from_job(cluster: str, job: Job, at: float) -> dict[str, Any]:
    count, kind = _gpus(job)
    return {
        "cluster": cluster, "job_id": job.job_id, "array_job_id": job.array_job_id,
        "array_task_id": job.array_task_id, "name": job.name, "user": job.user, "account": job.account,
        "partition": job.partition, "qos": job.qos, "state": job.state.value, "native_state": job.native_state,
        "reason": job.reason, "submit_time": job.submit_time, "start_time": job.start_time,
        "time_limit": job.time_limit, "elapsed": job.time_used, "nodes": job.num_nodes, "cpus": job.num_cpus,
        "gpus": count, "gpu_type": kind, "node_list": job.node_list, "dependency": job.dependency,
        "last_seen": at,
    }


# columns a later observation may change; the others are fixed at first sight or filled once
_CHANGING = ("state", "native_state", "reason", "start_time", "elapsed", "node_list", "nodes", "cpus",
             "gpus", "gpu_type", "last_seen")


class HistoryWriter:
    def __init__(self, db: Database, project_separator: str = "_") -> None:
        self.db = db
        self.separator = project_separator

    # --- queue snapshots -----------------------------------------------------------------------------
    def observe(self, cluster: str, snapshot: Sequence[Job], at: float | None = None) -> list[str]:
        """Record a queue snapshot; returns the ids whose state changed (new jobs included)."""
        at = at or time.time()
        changed: list[str] = []
        with self.db.connect() as conn:
            for start in range(0, len(snapshot), CHUNK):
                changed += self._observe_chunk(conn, cluster, snapshot[start:start + CHUNK], at)
        return changed

    def _observe_chunk(self, conn: Connection, cluster: str, chunk: Sequence[Job], at: float) -> list[str]:
        known = {r.job_id: r for r in conn.execute(
            select(jobs.c.id, jobs.c.job_id, *(jobs.c[c] for c in _CHANGING))
            .where(jobs.c.cluster == cluster, jobs.c.job_id.in_([j.job_id for j in chunk])))}
        new = [j for j in chunk if j.job_id not in known]
        moved = [j for j in chunk if j.job_id in known
                 and (known[j.job_id].state, known[j.job_id].reason) != (j.state.value, j.reason)]
        seen = [j for j in chunk if j.job_id in known and j not in moved]
        if new:
            self._insert_new(conn, cluster, new, at)
        if moved:
            rows = [{"b_id": known[j.job_id].id, **_merged(known[j.job_id], _from_job(cluster, j, at))}
                    for j in moved]
            conn.execute(update(jobs).where(jobs.c.id == bindparam("b_id"))
                         .values({c: bindparam(c) for c in _CHANGING}), rows)
        if seen:
            ids = [known[j.job_id].id for j in seen]
            for start in range(0, len(ids), CHUNK):
                conn.execute(update(jobs).where(jobs.c.id.in_(ids[start:start + CHUNK])).values(last_seen=at))
        fresh = new + [j for j in moved if known[j.job_id].state != j.state.value]
        if fresh:
            conn.execute(insert(transitions), [{"cluster": cluster, "job_id": j.job_id, "at": at,
                                                "state": j.state.value, "reason": j.reason} for j in fresh])
        return [j.job_id for j in fresh]

    def _insert_new(self, conn: Connection, cluster: str, new: Sequence[Job], at: float) -> None:
        rows = []
        run_of: dict[str, int] = {}  # name -> run, and job id -> run, within this batch
        for job in sorted(new, key=lambda j: bool(j.dependency)):  # the jobs waited for first
            row = _from_job(cluster, job, at)
            row.update(first_seen=at, project=runs.project_of(job.name, self.separator))
            row["run_id"] = self._run_for(conn, cluster, job.name, job.dependency, run_of)
            run_of["id:" + job.job_id] = run_of["id:" + runs.short_id(job.job_id)] = row["run_id"]
            rows.append(row)
        inserted = conn.execute(insert(jobs).returning(jobs.c.id), rows).scalars().all()
        self.db.refresh_text(conn, "jobs", inserted)

    def _run_for(self, conn: Connection, cluster: str, name: str, dependency: str, cache: dict[str, int]) -> int:
        """A dependency chain joins the run of the job it waits for; otherwise jobs of one name share a run."""
        for parent in runs.dependency_ids(dependency):
            if "id:" + parent in cache:
                return cache["id:" + parent]
            found = conn.execute(select(jobs.c.run_id).where(
                jobs.c.cluster == cluster, or_(jobs.c.job_id == parent, jobs.c.array_job_id == parent,
                                               jobs.c.job_id.like(parent + ".%")))).scalar()
            if found:
                return int(found)
        if name in cache:
            return cache[name]
        found = conn.execute(select(func.max(runs_table.c.id)).where(
            runs_table.c.cluster == cluster, runs_table.c.name == name)).scalar()
        if found is None:
            found = conn.execute(insert(runs_table).values(
                cluster=cluster, name=name, project=runs.project_of(name, self.separator), created=time.time())
            ).inserted_primary_key[0]  # type: ignore[index]
        cache[name] = int(found)
        return int(found)

    # --- facts from elsewhere ------------------------------------------------------------------------
    def apply_records(self, cluster: str, records: Iterable[JobRecord], at: float | None = None) -> int:
        """Accounting (sacct / qstat -x): final states, exit codes and end times, also of jobs never seen
        in the queue (they ended while nobody watched)."""
        at = at or time.time()
        as_jobs = {r.job_id: (r, _record_job(r)) for r in records}
        if not as_jobs:
            return 0
        # sacct can answer before slurmdbd has a job's end (RUNNING 0:0 for a job scontrol already called
        # FAILED 3:0): a record that is not final never undoes an ended job's state or exit code
        finals = [s.value for s in JobState if s.final]
        with self.db.connect() as conn:
            ended = set(conn.execute(select(jobs.c.job_id).where(
                jobs.c.cluster == cluster, jobs.c.job_id.in_(list(as_jobs)), jobs.c.state.in_(finals))).scalars())
        as_jobs = {k: v for k, v in as_jobs.items() if v[0].state.final or k not in ended}
        if not as_jobs:
            return 0
        self.observe(cluster, [j for _, j in as_jobs.values()], at)
        with self.db.connect() as conn:
            for record, _ in as_jobs.values():
                values: dict[str, Any] = {"elapsed": record.elapsed, "memory": record.req_mem,
                                          "work_dir": _keep(jobs.c.work_dir, record.work_dir)}
                if record.state.final:  # a job accounting reports finished is gone from the controller too
                    values.update(exit_code=record.exit_code, signal=record.signal, end_time=record.end_time,
                                  final_done=1, details_done=1)
                conn.execute(update(jobs).where(jobs.c.cluster == cluster, jobs.c.job_id == record.job_id)
                             .values(values))
        return len(as_jobs)

    def apply_details(self, cluster: str, details: JobDetails) -> None:
        values: dict[str, Any] = {"details_done": 1}
        for column, value in (("work_dir", details.work_dir), ("stdout_path", details.stdout_path),
                              ("stderr_path", details.stderr_path), ("dependency", details.dependency),
                              ("memory", details.memory), ("end_time", details.end_time)):
            if value:
                values[column] = value
        if details.job.state.final and details.exit_code is not None:
            values.update(exit_code=details.exit_code, signal=details.signal)
        with self.db.connect() as conn:
            conn.execute(update(jobs).where(jobs.c.cluster == cluster, jobs.c.job_id == details.job.job_id)
                         .values(values))

    def set_script(self, cluster: str, job_id: str, script: str) -> None:
        self._set_text(cluster, job_id, script=script)

    def set_diagnosis(self, cluster: str, job_id: str, cause: str, summary: str) -> None:
        self._set_text(cluster, job_id, cause=cause, diagnosis=summary)

    def _set_text(self, cluster: str, job_id: str, **values: str) -> None:
        with self.db.connect() as conn:
            row_id = conn.execute(select(jobs.c.id).where(jobs.c.cluster == cluster, jobs.c.job_id == job_id)).scalar()
            if row_id is None:
                return
            conn.execute(update(jobs).where(jobs.c.id == row_id).values(values))
            self.db.refresh_text(conn, "jobs", [row_id])

    # --- what the recorder still has to ask -----------------------------------------------------------
    def unfinished(self, cluster: str) -> list[str]:
        """Jobs last seen alive: after a gap, accounting says how they ended."""
        finals = [s.value for s in JobState if s.final]
        with self.db.connect() as conn:
            return list(conn.execute(select(jobs.c.job_id).where(
                jobs.c.cluster == cluster, jobs.c.state.not_in(finals))).scalars())

    def needing(self, cluster: str, what: str, user: str, limit: int) -> list[str]:
        """Own jobs still missing their details (`details`), accounting's end (`final`) or a diagnosis
        (`diagnosis`); an array's tasks share their parent's details, so one task stands for them."""
        finals = [s.value for s in JobState if s.final]
        failed = [s.value for s in JobState if s.failed]
        mine = and_(jobs.c.cluster == cluster, jobs.c.user == user)
        query = {
            "details": select(func.min(jobs.c.job_id)).where(mine, jobs.c.details_done == 0)
            .group_by(func.coalesce(jobs.c.array_job_id, jobs.c.job_id)),
            "final": select(jobs.c.job_id).where(mine, jobs.c.final_done == 0, jobs.c.state.in_(finals)),
            "diagnosis": select(jobs.c.job_id).where(mine, jobs.c.cause == "", jobs.c.state.in_(failed),
                                                     jobs.c.array_task_id.is_(None)),
        }[what]
        with self.db.connect() as conn:  # newest first: what an agent is about to ask for
            return list(conn.execute(query.order_by(func.max(jobs.c.id).desc() if what == "details"
                                                    else jobs.c.id.desc()).limit(limit)).scalars())

    def mark_array_details(self, cluster: str, array_job_id: str, details: JobDetails) -> None:
        """Tasks of an array share work dir and dependency; their own paths differ only by %a."""
        with self.db.connect() as conn:
            conn.execute(update(jobs).where(jobs.c.cluster == cluster, jobs.c.array_job_id == array_job_id,
                                            jobs.c.details_done == 0)
                         .values(details_done=1, work_dir=details.work_dir, dependency=details.dependency))

    # --- clusters and GPUs ----------------------------------------------------------------------------
    def cluster_seen(self, cluster: str, at: float | None = None) -> None:
        self._cluster_row(cluster, last_seen=at or time.time(), unreachable_since=None, last_error="")

    def cluster_failed(self, cluster: str, error: str) -> None:
        with self.db.connect() as conn:
            since = conn.execute(select(clusters.c.unreachable_since).where(clusters.c.cluster == cluster)).scalar()
        self._cluster_row(cluster, unreachable_since=since or time.time(), last_error=error[:500])

    def _cluster_row(self, cluster: str, **values: Any) -> None:
        with self.db.connect() as conn:
            exists = conn.execute(select(clusters.c.cluster).where(clusters.c.cluster == cluster)).scalar()
            if exists:
                conn.execute(update(clusters).where(clusters.c.cluster == cluster).values(values))
            else:
                conn.execute(insert(clusters).values(cluster=cluster, **{"last_error": "", **values}))

    def last_seen(self, cluster: str) -> float | None:
        with self.db.connect() as conn:
            return conn.execute(select(clusters.c.last_seen).where(clusters.c.cluster == cluster)).scalar()

    def add_gpu_samples(self, samples: Sequence[GpuSample], at: float | None = None) -> None:
        if samples:
            with self.db.connect() as conn:
                conn.execute(insert(gpu_samples), [{**s.__dict__, "at": at or time.time(), "resolution": "raw"}
                                                   for s in samples])

    def downsample(self, older_than: float) -> int:
        """Raw samples older than `older_than` become one hourly average per cluster, partition and type."""
        hour = func.floor(gpu_samples.c.at / 3600) * 3600
        old = and_(gpu_samples.c.resolution == "raw", gpu_samples.c.at < older_than)
        with self.db.connect() as conn:
            grouped = conn.execute(select(
                hour.label("at"), gpu_samples.c.cluster, gpu_samples.c.partition, gpu_samples.c.gpu_type,
                func.avg(gpu_samples.c.total), func.avg(gpu_samples.c.allocated), func.avg(gpu_samples.c.mine),
                func.avg(gpu_samples.c.account)).where(old).group_by(
                hour, gpu_samples.c.cluster, gpu_samples.c.partition, gpu_samples.c.gpu_type)).all()
            if not grouped:
                return 0
            conn.execute(delete(gpu_samples).where(old))
            conn.execute(insert(gpu_samples), [
                {"at": float(r[0]), "cluster": r[1], "partition": r[2], "gpu_type": r[3], "total": round(r[4]),
                 "allocated": round(r[5]), "mine": round(r[6]), "account": round(r[7]), "resolution": "hour"}
                for r in grouped])
            return len(grouped)


def _merged(old: Any, new: dict[str, Any]) -> dict[str, Any]:
    """A later view keeps what an earlier one knew when it says nothing (accounting has no GPU count in
    the queue's form; a finished job's node list may be empty)."""
    return {c: new[c] if new[c] not in ("", 0, None) or c in ("state", "reason") else getattr(old, c)
            for c in _CHANGING}


def _keep(column: Any, value: str) -> Any:
    return value if value else column


def _record_job(r: JobRecord) -> Job:
    array = r.job_id.split("_", 1)[0] if "_" in r.job_id else None
    return Job(job_id=r.job_id, array_job_id=array, array_task_id=r.job_id.split("_", 1)[1] if array else None,
               name=r.name, user=r.user, state=r.state, native_state=r.native_state,
               partition=r.partition, account=r.account, num_nodes=r.num_nodes, node_list=r.node_list,
               reason=r.reason, time_used=r.elapsed, time_limit=r.time_limit, submit_time=r.submit_time,
               start_time=r.start_time)
