"""The recorder: while someone is looking, each cluster's queue snapshots (from the same watcher that
`wait_for_job` uses: one poll per cluster for every consumer) go into the history; when it starts looking
again it first asks accounting what happened meanwhile, so nothing is lost while nobody watched."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..config import HistoryConfig
from ..errors import HpcBridgeError
from ..models import Job, JobRecord, JobState, Node
from ..services.cluster import Cluster
from ..services.diagnose import diagnose_job
from ..services.waiting import watcher_for
from .activity import Activity, remember_submission  # noqa: F401  (their home until the split)
from .store import GpuSample, HistoryWriter

log = logging.getLogger("hpcbridge.history")

FIRST_LOOK_MINUTES = 7 * 24 * 60  # a cluster never recorded: a week of accounting
PER_POLL = {"details": 10, "final": 200, "diagnosis": 3}  # follow-up commands per poll, so a poll stays cheap


def gpu_samples(cluster: str, nodes: list[Node], running: list[Job], me: str) -> list[GpuSample]:
    """Allocated/free GPUs per partition and type from the nodes; the user's and their accounts' share from
    the running jobs. "*" rows are the whole cluster (each node once) and every type."""
    accounts = {j.account for j in running if j.user == me and j.account}
    rows: dict[tuple[str, str], list[int]] = {}

    def add(partition: str, kind: str, total: int, used: int, mine: int, account: int) -> None:
        row = rows.setdefault((partition, kind), [0, 0, 0, 0])
        for i, value in enumerate((total, used, mine, account)):
            row[i] += value

    for node in nodes:
        for gpu in node.gpus:
            used = sum(g.count for g in node.gpus_used if g.type == gpu.type or not gpu.type)
            for partition in ("*", *node.partitions):
                add(partition, "*", gpu.count, used, 0, 0)
                add(partition, gpu.type or "gpu", gpu.count, used, 0, 0)
    for job in running:
        for gpu in job.gpus:
            mine = gpu.count if job.user == me else 0
            account = gpu.count if job.account in accounts else 0
            for partition in ("*", job.partition):
                for kind in ("*", gpu.type or "gpu"):
                    if (partition, kind) in rows:
                        add(partition, kind, 0, 0, mine, account)
    return [GpuSample(cluster, p, k, *v) for (p, k), v in rows.items()
            if p == "*" or k == "*" or v[0]]  # per partition and type only where that type exists


class Recorder:
    """Records one configured cluster by name. The Cluster object is asked of the registry at each use: the
    config editor may rebuild it (another host, read_only) or remove it while the server runs, and a recorder
    holding the object it started with would record the old host for good."""

    def __init__(self, name: str, clusters: Callable[[str], Cluster], writer: HistoryWriter, config: HistoryConfig,
                 activity: Activity, scripts: dict[tuple[str, str], str]) -> None:
        self.name = name
        self._clusters = clusters  # Registry.get: raises NotFound once the cluster is no longer configured
        self.writer = writer
        self.config = config
        self.activity = activity
        self.scripts = scripts  # (cluster, job id) -> script hpcbridge submitted
        self.polls = 0
        self._last_sample = 0.0
        self._me = ""

    @property
    def cluster(self) -> Cluster:
        return self._clusters(self.name)

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def run(self) -> None:
        """Until the cluster is no longer configured (then the registry's NotFound ends it)."""
        watcher = watcher_for(self.cluster)
        joined, version = False, 0
        try:
            while True:
                current = watcher_for(self.cluster)
                if current is not watcher:  # rebuilt from a changed configuration: follow the new one
                    if joined:
                        watcher.leave()
                    watcher, joined = current, False
                    self._me = ""  # the login user may differ too
                if not self.activity.active():
                    if joined:
                        watcher.leave()
                        joined = False
                    await self.activity.until_active(30)
                    continue
                if not joined:
                    if not await self._guarded(self.catch_up):
                        await asyncio.sleep(30)  # unreachable: try again later, never blocking other clusters
                        continue
                    version = watcher.version
                    watcher.join()
                    joined = True
                try:
                    version, snapshot = await asyncio.wait_for(watcher.snapshot_after(version), 60)
                except (TimeoutError, HpcBridgeError):
                    continue
                if watcher.error is not None:
                    await self._db(self.writer.cluster_failed, self.name, watcher.error.message)
                    continue
                jobs = list(snapshot.values())
                await self._guarded(functools.partial(self.ingest, jobs))
        finally:
            if joined:
                watcher.leave()

    async def _guarded(self, step: Callable[[], Awaitable[None]]) -> bool:
        try:
            await step()
            return True
        except HpcBridgeError as exc:
            log.warning("history of %s: %s", self.name, exc.message)
            await self._db(self.writer.cluster_failed, self.name, exc.message)
            return False

    async def me(self) -> str:
        if not self._me:
            self._me = await self.cluster.user()
        return self._me

    def _recorded(self, jobs: list[Job], me: str) -> list[Job]:
        return jobs if self.config.users == "all" else [j for j in jobs if j.user == me]

    async def catch_up(self) -> None:
        """What accounting knows since the last poll that answered (a week for a new cluster), and how the
        jobs last seen alive ended."""
        me = await self.me()
        last = await self._db(self.writer.last_seen, self.name)
        minutes = FIRST_LOOK_MINUTES if last is None else math.ceil((time.time() - last) / 60) + 5
        records = await self.cluster.history(user=None if self.config.users == "all" else me,
                                             all_users=self.config.users == "all",
                                             start_time=f"now-{minutes}minutes")
        await self._db(self.writer.apply_records, self.name, records)
        await self._resolve(await self._db(self.writer.unfinished, self.name), mark_missing=False)
        await self._db(self.writer.cluster_seen, self.name)

    async def ingest(self, snapshot: list[Job]) -> None:
        me = await self.me()
        name = self.name
        recorded = self._recorded(snapshot, me)
        changed = await self._db(self.writer.observe, name, recorded)
        await self._db(self.writer.cluster_seen, name)
        self.polls += 1
        for job_id in changed:
            script = self.scripts.pop((name, job_id), None)
            if script:
                await self._db(self.writer.set_script, name, job_id, script)
        present = {j.job_id for j in snapshot}
        gone = [j for j in await self._db(self.writer.unfinished, name) if j not in present]
        await self._resolve(gone, mark_missing=True)
        await self._resolve(await self._db(self.writer.needing, name, "final", me, PER_POLL["final"]),
                            mark_missing=False)
        await self._fetch_details(me)
        await self._diagnose(me)
        await self._sample_gpus(snapshot, me)

    async def _resolve(self, job_ids: list[str], mark_missing: bool) -> None:
        """Accounting's word on jobs that ended (exit code, end time); a job that left the queue and that
        accounting does not know either (Torque after keep_completed) ended without saying how."""
        for start in range(0, len(job_ids), 200):
            chunk = job_ids[start:start + 200]
            records: list[JobRecord] = await self.cluster.history(job_ids=chunk)
            found = {r.job_id for r in records}
            missing = [j for j in chunk if j not in found] if mark_missing else []
            records += [JobRecord(j, "", "", JobState.ENDED, "") for j in missing]
            await self._db(self.writer.apply_records, self.name, records)

    async def _fetch_details(self, me: str) -> None:
        name = self.name
        for job_id in await self._db(self.writer.needing, name, "details", me, PER_POLL["details"]):
            try:
                details = await self.cluster.job_details(job_id)
            except HpcBridgeError:
                details = None
            if details is None:
                continue
            await self._db(self.writer.apply_details, name, details)
            if details.job.array_job_id:
                await self._db(self.writer.mark_array_details, name, details.job.array_job_id, details)
            if (name, job_id) not in self.scripts:
                script = await self.cluster.batch_script(details.job.array_job_id or job_id)
                if script:
                    await self._db(self.writer.set_script, name, job_id, script)

    async def _diagnose(self, me: str) -> None:
        for job_id in await self._db(self.writer.needing, self.name, "diagnosis", me, PER_POLL["diagnosis"]):
            try:
                found = await diagnose_job(self.cluster, job_id)
                cause, summary = found.cause, found.summary
            except HpcBridgeError as exc:
                cause, summary = "unknown", f"no diagnosis: {exc.message}"
            await self._db(self.writer.set_diagnosis, self.name, job_id, cause, summary)

    async def _sample_gpus(self, snapshot: list[Job], me: str) -> None:
        if time.monotonic() - self._last_sample < self.config.gpu_sample_seconds:
            return
        self._last_sample = time.monotonic()
        running = [j for j in snapshot if j.state in (JobState.RUNNING, JobState.COMPLETING)]
        samples = gpu_samples(self.name, await self.cluster.nodes(), running, me)
        await self._db(self.writer.add_gpu_samples, samples)


