"""Reading the history: search, runs in dependency order, projects, GPU usage over time, a summary."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.sql.elements import ColumnElement

from ..errors import InvalidParameter, NotFound
from ..models import JobState, Page
from ..services.provenance import Provenance
from ..timewords import absolute_time
from . import provenance_store, runs
from .db import Database
from .schema import clusters, gpu_samples, jobs, transitions
from .schema import runs as runs_table


@dataclass(frozen=True)
class HistoryJob:
    cluster: str
    job_id: str
    name: str
    user: str
    state: str
    partition: str = ""
    account: str = ""
    exit_code: int | None = None
    signal: int | None = None
    submit_time: str = ""
    start_time: str = ""
    end_time: str = ""
    elapsed: str = ""
    gpus: int = 0
    gpu_type: str = ""
    node_list: str = ""
    dependency: str = ""
    cause: str = ""
    diagnosis: str = ""
    run: str = ""
    project: str = ""


@dataclass(frozen=True)
class JobFacts:
    """One job with everything recorded: paths, its state changes, the batch script (capped)."""

    job: HistoryJob
    work_dir: str
    stdout_path: str
    stderr_path: str
    transitions: list[tuple[float, str, str]]
    script: str
    script_truncated: bool
    provenance: Provenance | None = None  # where a job submitted through hpcbridge came from


@dataclass(frozen=True)
class RunView:
    id: int
    cluster: str
    name: str
    project: str
    jobs: Page[HistoryJob]  # in dependency order
    counts: dict[str, int]


@dataclass(frozen=True)
class Project:
    name: str
    jobs: int
    runs: int
    last_submit: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class UsagePoint:
    at: str  # ISO, UTC
    total: float
    allocated: float
    mine: float
    account: float


@dataclass(frozen=True)
class ClusterSummary:
    cluster: str
    counts: dict[str, int]  # by state, over the window
    last_seen: str  # ISO UTC of the last poll that answered, or ""
    unreachable: str  # the last error while unreachable, or ""


@dataclass(frozen=True)
class Filters:
    text: str = ""
    clusters: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    user: str = ""
    partition: str = ""
    project: str = ""
    since: str = ""  # submit time, ISO (cluster-local)
    until: str = ""

    @classmethod
    def checked(cls, text: str = "", clusters: tuple[str, ...] = (), states: list[str] | None = None,
                user: str | None = None, partition: str | None = None, project: str | None = None,
                since: str | None = None, until: str | None = None) -> Filters:
        """From a caller's words: states by name, times as ISO dates or now-7days (refused by name)."""
        return cls(text=text, clusters=clusters, states=state_names("state", states or []), user=user or "",
                   partition=partition or "", project=project or "",
                   since=absolute_time("since", since, "the history search") or "",
                   until=absolute_time("until", until, "the history search") or "")


_COLUMNS = (jobs.c.cluster, jobs.c.job_id, jobs.c.name, jobs.c.user, jobs.c.state, jobs.c.partition,
            jobs.c.account, jobs.c.exit_code, jobs.c.signal, jobs.c.submit_time, jobs.c.start_time,
            jobs.c.end_time, jobs.c.elapsed, jobs.c.gpus, jobs.c.gpu_type, jobs.c.node_list, jobs.c.dependency,
            jobs.c.cause, jobs.c.diagnosis, runs_table.c.name.label("run"), jobs.c.project)


def _job(row: Any) -> HistoryJob:
    return HistoryJob(**{  # type: ignore[arg-type]
        k: ("" if v is None and k not in ("exit_code", "signal") else v)
                         for k, v in row._mapping.items()})


def iso(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)) if epoch else ""


class HistoryReader:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _where(self, f: Filters) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if f.text.strip():
            where.append(self.db.matches("jobs", jobs.c.id, f.text))
        if f.clusters:
            where.append(jobs.c.cluster.in_(f.clusters))
        if f.states:
            where.append(jobs.c.state.in_(f.states))
        for column, value in ((jobs.c.user, f.user), (jobs.c.partition, f.partition), (jobs.c.project, f.project)):
            if value:
                where.append(column == value)
        if f.since:
            where.append(jobs.c.submit_time >= f.since)
        if f.until:
            where.append(jobs.c.submit_time <= f.until)
        return where

    def search(self, f: Filters, offset: int = 0, limit: int = 50) -> Page[HistoryJob]:
        where = and_(True, *self._where(f))
        with self.db.connect() as conn:
            counts = {s: n for s, n in conn.execute(
                select(jobs.c.state, func.count()).where(where).group_by(jobs.c.state))}
            rows = conn.execute(select(*_COLUMNS).outerjoin(runs_table, jobs.c.run_id == runs_table.c.id)
                                .where(where).order_by(jobs.c.submit_time.desc(), jobs.c.id.desc())
                                .offset(offset).limit(limit)).all()
        total = sum(counts.values())
        end = offset + len(rows)
        return Page([_job(r) for r in rows], total, offset, limit, counts, end if end < total else None)

    def job(self, cluster: str, job_id: str, script_cap: int = 8000) -> JobFacts:
        with self.db.connect() as conn:
            row = conn.execute(select(*_COLUMNS, jobs.c.work_dir, jobs.c.stdout_path, jobs.c.stderr_path,
                                      jobs.c.script).outerjoin(runs_table, jobs.c.run_id == runs_table.c.id)
                               .where(jobs.c.cluster == cluster, jobs.c.job_id == job_id)).first()
            if row is None:
                raise NotFound(f"job {job_id} is not in the history of {cluster}; search_history finds jobs "
                               "by words, state, user or time")
            steps = conn.execute(select(transitions.c.at, transitions.c.state, transitions.c.reason).where(
                transitions.c.cluster == cluster, transitions.c.job_id == job_id).order_by(transitions.c.at)).all()
        values = dict(row._mapping)
        script = values.pop("script") or ""
        extra = {k: values.pop(k) or "" for k in ("work_dir", "stdout_path", "stderr_path")}
        return JobFacts(_job(_Row(values)), transitions=[(s[0], s[1], s[2]) for s in steps],
                        script=script[:script_cap], script_truncated=len(script) > script_cap,
                        provenance=provenance_store.read(self.db, cluster, job_id), **extra)

    def run(self, name: str, cluster: str | None = None, offset: int = 0, limit: int = 100) -> RunView:
        with self.db.connect() as conn:
            query = select(runs_table).where(runs_table.c.name == name)
            if name.isdigit():
                query = select(runs_table).where(runs_table.c.id == int(name))
            if cluster:
                query = query.where(runs_table.c.cluster == cluster)
            found = conn.execute(query.order_by(runs_table.c.id.desc())).first()
            if found is None:
                raise NotFound(f"no run named {name!r}" + (f" on {cluster}" if cluster else "") +
                               "; list_projects and search_history show the runs that exist")
            rows = conn.execute(select(*_COLUMNS).outerjoin(runs_table, jobs.c.run_id == runs_table.c.id)
                                .where(jobs.c.run_id == found.id).order_by(jobs.c.id)).all()
        members = [_job(r) for r in rows]
        by_id = {j.job_id: j for j in members}
        parents = {j.job_id: [p for p in runs.dependency_ids(j.dependency)
                              for p in ([p] if p in by_id else [k for k in by_id if runs.short_id(k) == p])]
                   for j in members}
        ordered = [by_id[i] for i in runs.topological(list(by_id), parents)]
        counts: dict[str, int] = {}
        for j in ordered:
            counts[j.state] = counts.get(j.state, 0) + 1
        return RunView(found.id, found.cluster, found.name, found.project,
                       Page.of(ordered, offset, limit, counts), counts)

    def projects(self, offset: int = 0, limit: int = 50) -> Page[Project]:
        with self.db.connect() as conn:
            rows = conn.execute(select(jobs.c.project, func.count(), func.count(func.distinct(jobs.c.run_id)),
                                       func.max(jobs.c.submit_time)).where(jobs.c.project != "")
                                .group_by(jobs.c.project).order_by(func.max(jobs.c.submit_time).desc())).all()
            states = conn.execute(select(jobs.c.project, jobs.c.state, func.count()).where(jobs.c.project != "")
                                  .group_by(jobs.c.project, jobs.c.state)).all()
        per: dict[str, dict[str, int]] = {}
        for project, state, n in states:
            per.setdefault(project, {})[state] = n
        everything = [Project(r[0], r[1], r[2], r[3] or "", per.get(r[0], {})) for r in rows]
        return Page.of(everything, offset, limit, {"projects": len(everything)})

    def gpu_usage(self, cluster: str, days: float = 7, partition: str = "*", gpu_type: str = "*",
                  points: int = 48) -> list[UsagePoint]:
        start = time.time() - days * 86400
        step = max(60.0, days * 86400 / points)
        bucket = func.floor(gpu_samples.c.at / step) * step
        with self.db.connect() as conn:
            rows = conn.execute(select(bucket, func.avg(gpu_samples.c.total), func.avg(gpu_samples.c.allocated),
                                       func.avg(gpu_samples.c.mine), func.avg(gpu_samples.c.account))
                                .where(gpu_samples.c.cluster == cluster, gpu_samples.c.at >= start,
                                       gpu_samples.c.partition == partition, gpu_samples.c.gpu_type == gpu_type)
                                .group_by(bucket).order_by(bucket)).all()
        return [UsagePoint(iso(float(r[0])), *(round(float(v), 1) for v in r[1:])) for r in rows]

    def summary(self, names: list[str], since: str = "") -> list[ClusterSummary]:
        out = []
        with self.db.connect() as conn:
            for name in names:
                where = [jobs.c.cluster == name] + ([jobs.c.submit_time >= since] if since else [])
                counts = {s: n for s, n in conn.execute(select(jobs.c.state, func.count()).where(*where)
                                                        .group_by(jobs.c.state))}
                seen = conn.execute(select(clusters).where(clusters.c.cluster == name)).first()
                out.append(ClusterSummary(name, counts, iso(seen.last_seen) if seen else "",
                                          seen.last_error if seen and seen.unreachable_since else ""))
        return out

    def queue_waits(self, cluster: str, last: int = 200, days: float = 7) -> dict[str, float]:
        """Median minutes from submit to start per partition, over the last `last` jobs that started, submitted
        in the last `days` (an old queue says little about today's)."""
        since = (datetime.now() - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S")
        with self.db.connect() as conn:
            rows = conn.execute(select(jobs.c.partition, jobs.c.submit_time, jobs.c.start_time).where(
                jobs.c.cluster == cluster, jobs.c.start_time != "", jobs.c.submit_time >= since,
                jobs.c.array_task_id.is_(None)).order_by(jobs.c.id.desc()).limit(last)).all()
        waits: dict[str, list[float]] = {}
        for part, submit, start in rows:
            try:
                minutes = (datetime.fromisoformat(start) - datetime.fromisoformat(submit)).total_seconds() / 60
            except ValueError:
                continue
            waits.setdefault(part, []).append(max(0.0, minutes))
        return {p: round(median(v), 1) for p, v in waits.items()}


class _Row:
    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping


def state_names(parameter: str, values: list[str]) -> tuple[str, ...]:
    known = {s.value for s in JobState}
    wanted = tuple(v.upper() for v in values)
    bad = [v for v in wanted if v not in known]
    if bad:
        raise InvalidParameter(parameter, f"{', '.join(bad)} is not a job state", ", ".join(sorted(known)))
    return wanted
