"""The board: each cluster's queue grouped into runs, with what a person wants at a glance (how far along a
job is against its limit, why it waits in plain words and when it should start, why it failed).

Grouping is the history's rule (history/runs.py): a job whose dependency names a job on the board joins that
job's run, other jobs of one name form a run; a run is listed in dependency order.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import HpcBridgeError, InvalidParameter, NotFound
from ..history.board_marks import BoardMarks
from ..history.queries import Filters, HistoryJob, HistoryReader
from ..history.runs import dependency_ids, short_id, topological
from ..models import Job, JobState
from ..services.cluster import Cluster
from ..services.progress_look import Look, look_at
from ..services.waiting import MAX_INTERVAL, watcher_for
from ..validate import walltime_minutes

ROWS_PER_RUN = 25  # a 10,000-task array is one run: its first rows and a count, not 10,000 rows
RUNS_PER_CLUSTER = 60
ESTIMATES_PER_REFRESH = 5  # squeue --start calls per cluster per refresh, each answer kept a minute
ESTIMATE_TTL_S = 60.0
PINNED_PER_CLUSTER = 50
LOOK_TTL_S = 30.0  # running jobs' output tails: read at most this often per cluster, only while a page is open


@dataclass(frozen=True)
class JobRow:
    job_id: str
    name: str
    state: str
    partition: str
    gpus: str
    nodes: str
    elapsed: str
    limit: str
    progress: float | None  # share of the time limit used, 0..1; None when unknown or unlimited
    waiting_why: str = ""
    estimate: str = ""
    output_progress: str = ""  # running: what its output says (services/progress_look.py)
    output_share: float | None = None  # of that progress, 0..1, when it has a percentage
    trouble: str = ""
    dim: bool = False  # a long-running background job (`[dashboard] dim_patterns`): shown faded


@dataclass(frozen=True)
class RunGroup:
    name: str
    rows: list[JobRow]
    hidden: int = 0  # rows not shown (large arrays)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterBoard:
    cluster: str
    scheduler: str
    user: str = ""
    runs: list[RunGroup] = field(default_factory=list)
    total: int = 0
    finished: list[HistoryJob] = field(default_factory=list)
    error: str = ""  # the cluster did not answer: why
    pinned: frozenset[str] = frozenset()  # of `finished`, the job ids pinned (they stay until dismissed)


def _minutes(text: str) -> int | None:
    try:
        return walltime_minutes("time", text) if text and text.upper() not in ("UNLIMITED", "INVALID") else None
    except InvalidParameter:
        return None


def _progress(job: Job) -> float | None:
    used, limit = _minutes(job.time_used), _minutes(job.time_limit)
    if used is None or not limit:
        return None
    return min(1.0, used / limit)


def _share(look: Look | None) -> float | None:
    percent = look.progress.percent if look and look.progress else None
    return None if percent is None else min(1.0, max(0.0, percent / 100))


def _gpus(job: Job) -> str:
    return ", ".join(f"{g.count}x{g.type}" if g.type else str(g.count) for g in job.gpus)


def group_runs(jobs: list[Job]) -> list[tuple[str, list[Job]]]:
    """Runs in first-seen order; each run's jobs in dependency order."""
    by_short: dict[str, str] = {}
    group_of: dict[str, str] = {}
    members: dict[str, list[Job]] = {}
    for job in sorted(jobs, key=lambda j: bool(j.dependency)):  # the jobs waited for first
        parent = next((by_short[p] for p in map(short_id, dependency_ids(job.dependency)) if p in by_short), None)
        key = group_of[parent] if parent else job.name
        group_of[job.job_id] = key
        by_short.setdefault(short_id(job.job_id), job.job_id)
        members.setdefault(key, []).append(job)
    out = []
    for key, run in members.items():
        ids = [j.job_id for j in run]
        parents = {j.job_id: [by_short[p] for p in map(short_id, dependency_ids(j.dependency)) if p in by_short]
                   for j in run}
        order = {job_id: i for i, job_id in enumerate(topological(ids, parents))}
        out.append((key, sorted(run, key=lambda j: order[j.job_id])))
    return out


class Board:
    """Builds every cluster's board; start estimates are cached so an open page costs a few calls a minute."""

    def __init__(self, clusters: Callable[[], list[Cluster]], reader: HistoryReader, marks: BoardMarks | None = None,
                 dim_patterns: Callable[[], list[str]] = list) -> None:
        # asked at every build, not kept: the config editor adds, changes (a new Cluster object) and removes
        # clusters in a running server, and the board shows what the registry holds now
        self.clusters = clusters
        self.reader = reader
        self.marks = marks
        self.dim_patterns = dim_patterns
        self._estimates: dict[tuple[str, str], tuple[str, float]] = {}
        self._looks: dict[str, tuple[dict[str, Look], float, frozenset[str]]] = {}
        self._pages = 0  # open board pages
        self._joined: list[Cluster] = []  # clusters whose watcher this board holds (one join each)
        self._cached_for: dict[str, Cluster] = {}  # the Cluster object the caches of each name were made for

    def watch(self) -> None:
        """An open page: every cluster's queue watcher polls (the one `wait_for_job` and the history recorder
        ride: an open page adds no queue command of its own)."""
        self._pages += 1
        self._follow()

    def unwatch(self) -> None:
        self._pages -= 1
        self._follow()

    def _follow(self) -> None:
        """While a page is open, hold exactly the current clusters' watchers: one added since is joined, one
        removed or rebuilt (its old object) is left, so it stops polling."""
        now = self.clusters() if self._pages > 0 else []
        for cluster in now:
            if cluster not in self._joined:
                watcher_for(cluster).join()
        for cluster in self._joined:
            if cluster not in now:
                watcher_for(cluster).leave()
        self._joined = list(now)
        self._forget_rebuilt({c.name: c for c in self.clusters()})

    def _forget_rebuilt(self, current: dict[str, Cluster]) -> None:
        """Cached looks and estimates belong to one Cluster object: a name now pointing at a new one (another
        host, perhaps, where the same job ids mean other jobs) starts without them."""
        for name, held in list(self._cached_for.items()):
            if current.get(name) is not held:
                self._looks.pop(name, None)
                self._estimates = {k: v for k, v in self._estimates.items() if k[0] != name}
                del self._cached_for[name]
        for name, cluster in current.items():
            self._cached_for.setdefault(name, cluster)

    async def build(self, fresh: bool = False) -> list[ClusterBoard]:
        """From the watchers' latest snapshots; `fresh` (a page being loaded) waits for a poll unless the last
        one is within the cluster's cache_ttl, as every cached listing is."""
        self._follow()
        return list(await asyncio.gather(*(self._one(c, fresh) for c in self.clusters())))

    async def _one(self, cluster: Cluster, fresh: bool) -> ClusterBoard:
        limit = cluster.config.connect_timeout + cluster.config.command_timeout
        watcher = watcher_for(cluster)
        try:
            user = await asyncio.wait_for(cluster.user(), limit)
            if watcher.age > (cluster.config.cache_ttl if fresh else MAX_INTERVAL + limit):
                watcher.join()  # polls at once
                try:
                    await asyncio.wait_for(watcher.snapshot_after(watcher.version), limit)
                finally:
                    watcher.leave()
        except TimeoutError:
            return ClusterBoard(cluster.name, cluster.config.scheduler, error=f"no answer within {limit:g}s")
        except HpcBridgeError as exc:
            return ClusterBoard(cluster.name, cluster.config.scheduler, error=exc.message)
        snapshot, error = watcher.latest()
        if error is not None:
            return ClusterBoard(cluster.name, cluster.config.scheduler, user, error=error.message)
        jobs = [j for j in snapshot.values() if j.user == user and not j.state.final]
        await self._refresh_estimates(cluster, [j for j in jobs if j.state is JobState.PENDING])
        await self._refresh_looks(cluster, jobs, fresh)
        runs = [self._run(cluster, name, run) for name, run in group_runs(jobs)[:RUNS_PER_CLUSTER]]
        finished, pinned = await asyncio.to_thread(self._finished, cluster.name)
        return ClusterBoard(cluster.name, cluster.config.scheduler, user, runs, len(jobs), finished, pinned=pinned)

    def _run(self, cluster: Cluster, name: str, jobs: list[Job]) -> RunGroup:
        counts: dict[str, int] = {}
        for job in jobs:
            counts[job.state.value] = counts.get(job.state.value, 0) + 1
        rows = [self._row(cluster, j) for j in jobs[:ROWS_PER_RUN]]
        return RunGroup(name, rows, max(0, len(jobs) - ROWS_PER_RUN), counts)

    def _row(self, cluster: Cluster, job: Job) -> JobRow:
        waiting = job.state in (JobState.PENDING, JobState.HELD)
        why = cluster.explain(job.reason) if waiting and job.reason else ""
        estimate = self._estimates.get((cluster.name, job.job_id), ("", 0.0))[0]
        looks = self._looks.get(cluster.name, ({}, 0.0, frozenset()))[0]
        look = looks.get(job.job_id) if job.state is JobState.RUNNING else None
        return JobRow(job.job_id, job.name, job.state.value, job.partition, _gpus(job), job.node_list,
                      job.time_used, job.time_limit, _progress(job), why, estimate,
                      output_progress=look.progress_text if look else "", output_share=_share(look),
                      trouble=look.trouble_text if look else "", dim=self.dimmed(job.name))

    def dimmed(self, name: str) -> bool:
        """A job whose name matches one of the shell-style patterns (`[dashboard] dim_patterns`)."""
        return any(fnmatch.fnmatchcase(name, p) for p in self.dim_patterns())  # read each time: Settings edits it

    async def _refresh_looks(self, cluster: Cluster, jobs: list[Job], fresh: bool) -> None:
        """Progress and trouble of the running jobs, read again when older than LOOK_TTL_S, on a page load, or
        when a job started running since the last read (its first lines show at the next refresh)."""
        _, when, seen = self._looks.get(cluster.name, ({}, -LOOK_TTL_S, frozenset()))
        running = frozenset(j.job_id for j in jobs if j.state is JobState.RUNNING)
        now = time.monotonic()
        if fresh or now - when >= LOOK_TTL_S or not running <= seen:
            self._looks[cluster.name] = (await look_at(cluster, jobs), now, running)

    async def _refresh_estimates(self, cluster: Cluster, pending: list[Job]) -> None:
        now = time.monotonic()
        stale = [j.job_id for j in pending
                 if now - self._estimates.get((cluster.name, j.job_id), ("", -ESTIMATE_TTL_S))[1] >= ESTIMATE_TTL_S]
        for job_id in stale[:ESTIMATES_PER_REFRESH]:
            try:
                self._estimates[(cluster.name, job_id)] = (await cluster.estimated_start(job_id), now)
            except HpcBridgeError:
                self._estimates[(cluster.name, job_id)] = ("", now)

    def _finished(self, cluster: str) -> tuple[list[HistoryJob], frozenset[str]]:
        """Jobs that ended in the last day, from the history (with the recorder's failure causes), without the
        dismissed ones; the pinned ones first, however long ago they ended."""
        finals = [s.value for s in JobState if s.final]
        filters = Filters.checked(clusters=(cluster,), states=finals, since="now-1days")
        try:
            marks = self.marks.marks(cluster) if self.marks else {}
            recent = [j for j in self.reader.search(filters, 0, 15 + len(marks)).items
                      if marks.get(j.job_id) != "dismissed"][:15]
            pinned_ids = [i for i, m in marks.items() if m == "pinned"][:PINNED_PER_CLUSTER]
            pinned = [j for j in (self._recorded(cluster, i) for i in pinned_ids) if j is not None]
        except HpcBridgeError:
            return [], frozenset()
        ids = {j.job_id for j in pinned}
        return pinned + [j for j in recent if j.job_id not in ids], frozenset(ids)

    def _recorded(self, cluster: str, job_id: str) -> HistoryJob | None:
        try:
            return self.reader.job(cluster, job_id, script_cap=0).job
        except NotFound:  # pinned, then the history was cleaned up
            return None
