"""Waiting for jobs without hammering slurmctld: one queue poller per cluster, shared by every waiter.

Twenty agents waiting on twenty jobs cost the controller the same `squeue` per tick as one agent: the
watcher polls the whole queue (all states, so finished jobs still show for MinJobAge) and hands each
waiter its job from the same snapshot. The interval starts short and backs off; a new waiter resets it.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..errors import HpcBridgeError, InvalidParameter
from ..models import Job, JobState
from .cluster import Cluster

FIRST_INTERVAL = 2.0
MAX_INTERVAL = 10.0
UNTIL = ("final", "running", "change")


class QueueWatcher:
    def __init__(self, cluster: Cluster) -> None:
        # the cluster weakly: _WATCHERS is keyed on it weakly, and a watcher holding it strongly would keep every
        # Cluster the config editor replaced (with its transport) alive as long as the server runs
        self._cluster = weakref.ref(cluster)
        self.waiters = 0
        self.polls = 0
        self._version = 0
        self._snapshot: dict[str, Job] = {}
        self._error: HpcBridgeError | None = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._interval = FIRST_INTERVAL
        self._wake = asyncio.Event()
        self._polled_at = 0.0  # time.monotonic() of the last poll
        cluster.submitted.append(lambda _: self.poke())  # a new job shows at the next tick, not after a back-off

    def poke(self) -> None:
        """Poll again now and at the short interval (something changed the queue)."""
        self._interval = FIRST_INTERVAL
        self._wake.set()

    @property
    def age(self) -> float:
        """Seconds since the last poll (infinite before the first)."""
        return time.monotonic() - self._polled_at if self._version else float("inf")

    def latest(self) -> tuple[dict[str, Job], HpcBridgeError | None]:
        """The last snapshot and why the last poll failed, without waiting."""
        return self._snapshot, self._error

    def join(self) -> None:
        self.waiters += 1
        self._interval = FIRST_INTERVAL
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    @property
    def version(self) -> int:
        return self._version

    @property
    def error(self) -> HpcBridgeError | None:
        """Why the last poll failed (the snapshot is then the last good one), or None."""
        return self._error

    def leave(self) -> None:
        self.waiters -= 1

    async def _poll(self) -> tuple[dict[str, Job], HpcBridgeError | None] | None:
        """The queue now (or the last snapshot and why not); None once the cluster is gone."""
        cluster = self._cluster()
        if cluster is None:
            return None
        try:
            return {j.job_id: j for j in await cluster.queue_now()}, None
        except HpcBridgeError as exc:
            return self._snapshot, exc

    async def _run(self) -> None:
        while self.waiters > 0:
            polled = await self._poll()
            if polled is None:
                return
            snapshot, error = polled
            self.polls += 1
            self._polled_at = time.monotonic()
            async with self._changed:
                self._snapshot, self._error = snapshot, error
                self._version += 1
                self._changed.notify_all()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except TimeoutError:
                self._interval = min(self._interval * 1.5, MAX_INTERVAL)

    async def snapshot_after(self, version: int) -> tuple[int, dict[str, Job]]:
        async with self._changed:
            await self._changed.wait_for(lambda: self._version > version)
            if self._error is not None and not self._snapshot:
                raise self._error
            return self._version, self._snapshot


_WATCHERS: weakref.WeakKeyDictionary[Cluster, QueueWatcher] = weakref.WeakKeyDictionary()


def watcher_for(cluster: Cluster) -> QueueWatcher:
    if cluster not in _WATCHERS:
        _WATCHERS[cluster] = QueueWatcher(cluster)
    return _WATCHERS[cluster]


def running_watcher(cluster: Cluster) -> QueueWatcher | None:
    """The cluster's watcher if one exists (someone waited on a job), without starting one."""
    return _WATCHERS.get(cluster)


@dataclass(frozen=True)
class Transition:
    at: str
    state: str
    reason: str


@dataclass(frozen=True)
class WaitResult:
    job_id: str
    state: str
    reached: bool
    timed_out: bool
    waited_s: float
    transitions: list[Transition] = field(default_factory=list)
    left_queue: bool = False


def _matches(job_id: str, snapshot: dict[str, Job]) -> list[Job]:
    if job_id in snapshot:
        return [snapshot[job_id]]
    found = [j for j in snapshot.values() if j.array_job_id == job_id]  # an array: all its tasks
    if not found and "." not in job_id:  # PBS: "1234" for "1234.server" (and "1234[]" for "1234[].server")
        found = [j for j in snapshot.values() if j.job_id.startswith(job_id + ".")
                 or (j.array_job_id or "").startswith(job_id + ".")]
    return found


def _overall(jobs: list[Job]) -> JobState:
    """An array is final when every task is; otherwise it is its least advanced task's state."""
    if all(j.state.final for j in jobs):
        failed = [j.state for j in jobs if j.state.failed]
        unreported = [j.state for j in jobs if j.state is JobState.ENDED]
        return failed[0] if failed else unreported[0] if unreported else JobState.COMPLETED
    for state in (JobState.RUNNING, JobState.COMPLETING, JobState.PENDING, JobState.HELD):
        if any(j.state is state for j in jobs):
            return state
    return jobs[0].state


async def wait_for_job(
    cluster: Cluster, job_id: str, until: str, timeout: float,
    on_change: Callable[[Transition], Awaitable[None]],
) -> WaitResult:
    if until not in UNTIL:
        raise InvalidParameter("until", f"{until!r} is not a goal", "final, running or change")
    started = time.monotonic()
    watcher = watcher_for(cluster)
    version = watcher.version  # wait for a poll made after we arrived, not an older snapshot
    watcher.join()
    transitions: list[Transition] = []
    state: JobState | None = None
    try:
        while True:
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                return WaitResult(job_id, state.value if state else "UNKNOWN", False, True,
                                  time.monotonic() - started, transitions)
            try:
                version, snapshot = await asyncio.wait_for(watcher.snapshot_after(version), remaining)
            except TimeoutError:
                continue
            jobs = _matches(job_id, snapshot)
            if not jobs:  # purged from the controller, or never existed: ask once, directly
                details = await cluster.job_details(job_id)
                final = details.job.state
                transitions.append(Transition(_now(), final.value, details.job.reason))
                await on_change(transitions[-1])
                return WaitResult(job_id, final.value, final.final or until != "final", False,
                                  time.monotonic() - started, transitions, left_queue=True)
            current = _overall(jobs)
            if current is not state:
                first = state is None
                state = current
                transitions.append(Transition(_now(), current.value, jobs[0].reason))
                await on_change(transitions[-1])
                if until == "change" and not first:
                    break
            if current.final or (until == "running" and current in (JobState.RUNNING, JobState.COMPLETING)):
                break
    finally:
        watcher.leave()
    assert state is not None
    return WaitResult(job_id, state.value, True, False, time.monotonic() - started, transitions)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
