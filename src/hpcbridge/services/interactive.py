"""Interactive work: one-shot srun, persistent salloc sessions, and never an orphaned allocation.

Every allocation's job name is `hpcb-<instance tag>-<session name>`. The store records which instance
made it; on shutdown an instance cancels its own, and on start it cancels those of instances that died
without doing so (SIGKILL, crash). Sessions idle longer than the configured timeout are ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .. import principal, validate
from ..errors import (
    CommandTimeout,
    HpcBridgeError,
    InvalidParameter,
    NotFound,
    PolicyError,
    SchedulerError,
)
from ..models import AllocationSpec, ContainerSpec, Job, JobRequest, JobState
from ..store import SessionRow, Store
from ..timewords import time_left
from .cluster import Cluster
from .registry import Registry

log = logging.getLogger("hpcbridge.sessions")
OUTPUT_CAP = 32 * 1024
ALLOCATE_MAX_WAIT = 24 * 3600.0
# queued, whether the scheduler is waiting for resources or for a hold to be released (PENDING/JobHeldAdmin)
WAITING = frozenset({JobState.PENDING, JobState.HELD})
Progress = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class CommandOutput:
    exit_status: int
    stdout: str
    stderr: str
    truncated: bool
    seconds: float
    job_id: str = ""


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    name: str
    cluster: str
    job_id: str
    status: str
    partition: str
    nodes: int
    gpus_per_node: int | None
    time_limit: str
    time_left: str = ""
    node_list: str = ""
    container_image: str | None = None
    pending_reason: str = ""
    note: str = ""
    idle_seconds: int = 0
    recent_commands: list[dict[str, Any]] = field(default_factory=list)


def _cap(text: str) -> tuple[str, bool]:
    data = text.encode()
    return (text, False) if len(data) <= OUTPUT_CAP else (data[-OUTPUT_CAP:].decode(errors="replace"), True)


def spec_to_dict(spec: AllocationSpec) -> dict[str, Any]:
    return dataclasses.asdict(spec)


def spec_from_dict(data: dict[str, Any]) -> AllocationSpec:
    container = data.get("container")
    values = {k: v for k, v in data.items() if k in AllocationSpec.__dataclass_fields__ and k != "container"}
    if container:
        container = ContainerSpec(**{**container, "env_names": tuple(container.get("env_names", ()))})
    return AllocationSpec(**values, container=container)


class Sessions:
    def __init__(self, registry: Registry, store: Store, instance: str) -> None:
        self.registry = registry
        self.store = store
        self.instance = instance
        self._waiters: dict[str, asyncio.Task[None]] = {}

    def job_name(self, name: str) -> str:
        return f"hpcb-{self.instance}-{name}"

    async def check(self, cluster: Cluster, spec: AllocationSpec) -> None:
        """Sessions and one-shot commands: the scheduler must offer interactive work."""
        cluster.interactive("interactive work (sessions and one-shot commands)")
        await self.check_allocation(cluster, spec)

    @staticmethod
    async def check_allocation(cluster: Cluster, spec: AllocationSpec) -> None:
        """The same refusals as submit_job, plus the session time cap (sessions and Jupyter servers)."""
        cap = validate.walltime_minutes("max_session_time", cluster.config.max_session_time)
        if validate.walltime_minutes("time_limit", spec.time_limit) > cap:
            raise PolicyError(f"time_limit {spec.time_limit} exceeds the session limit of "
                              f"{cluster.config.max_session_time} (max_session_time)")
        await cluster.check_feasible(JobRequest(
            script_content="true", partition=spec.partition, account=spec.account, nodes=spec.nodes,
            gpus=spec.gpus_per_node, gpu_type=spec.gpu_type, time_limit=spec.time_limit,
            cpus_per_task=spec.cpus_per_task, memory=spec.memory))

    # --- one-shot ---------------------------------------------------------------------------------
    async def run_command(self, cluster: Cluster, spec: AllocationSpec, command: str,
                          working_directory: str | None, timeout: float) -> CommandOutput:
        cluster.check_writable("run_interactive_command (it runs any command)")
        await self.check(cluster, spec)
        name = self.job_name(f"cmd-{secrets.token_hex(3)}")
        started = time.monotonic()
        try:
            result = await cluster.interactive("run_interactive_command").run_once(
                spec, command, name, working_directory, timeout)
        except CommandTimeout:
            await cluster.cancel_named(name)  # the command and its allocation go with it
            raise CommandTimeout(f"the command did not finish within {timeout:g}s; its allocation was "
                                 "cancelled") from None
        out, cut_out = _cap(result.stdout)
        err, cut_err = _cap(result.stderr)
        return CommandOutput(result.exit_status, out, err, cut_out or cut_err, time.monotonic() - started)

    # --- sessions ---------------------------------------------------------------------------------
    async def start(self, cluster: Cluster, spec: AllocationSpec, name: str | None, wait_limit: float,
                    on_timeout: str, progress: Progress) -> SessionInfo:
        if on_timeout not in ("cancel", "keep_waiting"):
            raise InvalidParameter("on_timeout", f"{on_timeout!r}", "'cancel' or 'keep_waiting'")
        cluster.check_writable("starting an interactive session")
        name = validate.name("session_name", name) if name else f"s{secrets.token_hex(3)}"
        await self.check(cluster, spec)
        now = time.time()
        row = SessionRow(secrets.token_hex(4), cluster.name, self.instance, name, "", "starting",
                         spec_to_dict(spec), now, now, None, "", principal.name())
        if not self.store.add_session(row, max_live=cluster.config.max_sessions):
            live = self.store.sessions(instance=self.instance, live_only=True)
            if any(s.name == name for s in live):
                raise InvalidParameter("session_name", f"{name!r} is already open", "a new name")
            mine = [s.name for s in live if s.principal == principal.name()]
            raise PolicyError(f"{len(live)} sessions are open (max_sessions = {cluster.config.max_sessions}); "
                              f"end one first" + (f": {', '.join(mine)}" if mine else ""))
        allocate = cluster.interactive("interactive sessions").allocate(spec, self.job_name(name), ALLOCATE_MAX_WAIT)
        return await self._await_grant(cluster, row, asyncio.create_task(allocate), wait_limit, on_timeout,
                                       progress)

    async def _await_grant(self, cluster: Cluster, row: SessionRow, allocating: asyncio.Task[Any],
                           wait_limit: float, on_timeout: str, progress: Progress) -> SessionInfo:
        deadline = time.monotonic() + wait_limit
        reported = ""
        while not allocating.done() and time.monotonic() < deadline:
            await asyncio.wait({allocating}, timeout=2.0)
            job = await self._watch(cluster, row, allocating)
            if job and not row.job_id:
                row = dataclasses.replace(row, job_id=job.job_id)
                self.store.update_session(row.id, job_id=job.job_id, status="pending")
            if job and job.state in WAITING and job.reason != reported:
                reported = job.reason
                await progress(f"allocation {job.job_id} pending: {job.reason}")
        if allocating.done():
            return await self._granted(cluster, row, allocating)
        job = await self._watch(cluster, row, allocating)
        reason = job.reason if job else "unknown"
        if on_timeout == "cancel":
            await cluster.cancel_named(self.job_name(row.name))
            allocating.cancel()
            self._mark_ended(row.id, f"cancelled after waiting {wait_limit:g}s (pending: {reason})")
            raise SchedulerError(f"the allocation was still pending after {wait_limit:g}s ({reason}: "
                                 f"{cluster.explain(reason)}); it was cancelled")
        self._waiters[row.id] = asyncio.create_task(self._finish_later(cluster, row, allocating))
        return dataclasses.replace(await self.info(row.id), pending_reason=reason,
                                   note="still pending; the server keeps waiting in the background")

    async def _finish_later(self, cluster: Cluster, row: SessionRow, allocating: asyncio.Task[Any]) -> None:
        try:
            await self._granted(cluster, row, allocating)
        except (HpcBridgeError, asyncio.CancelledError) as exc:
            log.info("session %s did not start: %s", row.name, exc)

    async def _granted(self, cluster: Cluster, row: SessionRow, allocating: asyncio.Task[Any]) -> SessionInfo:
        result = allocating.result()
        job_id = cluster.interactive("interactive sessions").granted_job_id(result)
        if not job_id:
            text = (result.stderr + result.stdout).strip()
            last = text.splitlines()[-1] if text else f"exit {result.exit_status}"
            self._mark_ended(row.id, f"the allocation failed: {last}")
            raise SchedulerError(f"the allocation failed: {last}")
        self.store.update_session(row.id, job_id=job_id, status="active", last_used=time.time())
        return await self.info(row.id)

    async def _watch(self, cluster: Cluster, row: SessionRow, allocating: asyncio.Task[Any]) -> Job | None:
        """The allocation in the queue while it is being granted. A controller that does not answer for a
        moment is "not seen yet"; any other failure ends the start and leaves no allocation behind."""
        try:
            return await self._queued(cluster, row.name)
        except HpcBridgeError as exc:
            if exc.transient:
                log.info("session %s: queue not readable for now (%s)", row.name, exc)
                return None
            allocating.cancel()
            with contextlib.suppress(HpcBridgeError):
                await cluster.cancel_named(self.job_name(row.name))
            self._mark_ended(row.id, f"the start was abandoned: {exc}")
            raise

    async def _queued(self, cluster: Cluster, name: str) -> Job | None:
        live = [j for j in await cluster.jobs_named(self.job_name(name)) if not j.state.final]
        return live[0] if live else None

    def _mark_ended(self, session_id: str, note: str) -> None:
        self.store.update_session(session_id, status="ended", ended=time.time(), note=note)

    def row(self, session_id: str) -> SessionRow:
        row = self.store.session(session_id)
        if row is None or row.instance != self.instance or row.principal != principal.name():
            # another principal's session is "not found": its existence is not ours to tell
            names = ", ".join(f"{s.id} ({s.name})" for s in self.store.sessions(
                instance=self.instance, live_only=True, principal=principal.name()))
            raise NotFound(f"no session {session_id!r} in this server; open sessions: {names or 'none'}")
        return row

    async def exec(self, session_id: str, command: str, working_directory: str | None,
                   timeout: float) -> CommandOutput:
        row = self.row(session_id)
        if row.status == "pending":
            row = self.row((await self.info(row.id)).session_id)  # granted since? info() notices
        if row.status != "active":
            raise SchedulerError(f"session {row.name} is {row.status}" + (f": {row.note}" if row.note else ""))
        cluster = self.registry.get(row.cluster)
        cluster.check_writable("exec_in_session (it runs any command)")
        ops = cluster.interactive("exec_in_session")
        spec = spec_from_dict(row.spec)
        step_name = f"hpcb-exec-{secrets.token_hex(3)}"
        started = time.monotonic()
        self.store.update_session(row.id, last_used=time.time())
        try:
            result = await ops.run_in_allocation(row.job_id, command, step_name, spec, working_directory, timeout)
        except CommandTimeout:
            await ops.cancel_step(row.job_id, step_name)
            raise CommandTimeout(f"the command did not finish within {timeout:g}s; its step was cancelled "
                                 "(the session stays open)") from None
        seconds = time.monotonic() - started
        if ops.allocation_gone(result):
            await self.info(row.id)  # the allocation is gone: info() records it as ended, with why
            ended = self.row(row.id)
            raise SchedulerError(f"session {row.name} is {ended.status}: {ended.note or result.stderr.strip()}")
        self.store.add_command(row.id, command, result.exit_status, seconds)
        self.store.update_session(row.id, last_used=time.time())
        out, cut_out = _cap(result.stdout)
        err, cut_err = _cap(result.stderr)
        return CommandOutput(result.exit_status, out, err, cut_out or cut_err, seconds, row.job_id)

    async def info(self, session_id: str) -> SessionInfo:
        row = self.row(session_id)
        spec = spec_from_dict(row.spec)
        job = None
        if row.status != "ended":
            cluster = self.registry.get(row.cluster)
            try:
                job = await self._queued(cluster, row.name)
            except HpcBridgeError as exc:
                if not exc.transient:
                    raise
                # the controller does not answer for now: say so, and never take the session for ended
                return self._view(row, spec, None, f"queue not readable now: {exc}")
            if job and job.state is JobState.RUNNING and row.status != "active":
                # granted while the allocation's answer is still on its way (or its channel was lost)
                self.store.update_session(row.id, job_id=job.job_id, status="active", last_used=time.time())
                row = self.row(session_id)
            if job is None and row.status == "active":
                details = await cluster.job_details(row.job_id) if row.job_id else None
                end = details.job.state.value if details else "gone"
                self._mark_ended(row.id, f"the allocation ended ({end})")
                row = self.row(session_id)
        return self._view(row, spec, job, row.note)

    def _view(self, row: SessionRow, spec: AllocationSpec, job: Job | None, note: str) -> SessionInfo:
        return SessionInfo(
            session_id=row.id, name=row.name, cluster=row.cluster, job_id=row.job_id,
            status=row.status, partition=spec.partition, nodes=spec.nodes, gpus_per_node=spec.gpus_per_node,
            time_limit=spec.time_limit, time_left=time_left(job.time_limit, job.time_used) if job else "",
            node_list=job.node_list if job else "", container_image=spec.container.image if spec.container else None,
            pending_reason=job.reason if job and job.state in WAITING else "", note=note,
            idle_seconds=int(time.time() - row.last_used), recent_commands=self.store.recent_commands(row.id))

    async def overview(self) -> list[SessionInfo]:
        rows = self.store.sessions(instance=self.instance, principal=principal.name())
        recent = [r for r in rows if r.status != "ended" or (r.ended or 0) > time.time() - 3600]
        return [await self.info(r.id) for r in recent]

    async def end(self, session_id: str, note: str = "ended by request") -> SessionInfo:
        row = self.row(session_id)
        cluster = self.registry.get(row.cluster)
        cluster.check_writable(f"ending session {row.name}")
        await cluster.cancel_named(self.job_name(row.name))
        if row.id in self._waiters:
            self._waiters.pop(row.id).cancel()
        self._mark_ended(row.id, note)
        return await self.info(row.id)

    # --- lifecycle --------------------------------------------------------------------------------
    async def end_idle(self) -> list[str]:
        ended = []
        for row in self.store.sessions(instance=self.instance, live_only=True):
            limit = self.registry.get(row.cluster).config.interactive_session_timeout
            if row.status == "active" and time.time() - row.last_used > limit:
                token = principal.current.set(row.principal)  # ended on its owner's behalf
                try:
                    await self.end(row.id, f"idle for more than {limit}s")
                finally:
                    principal.current.reset(token)
                ended.append(row.name)
        return ended

    async def cancel_all(self, instances: list[str] | None = None) -> int:
        """Cancel every allocation and Jupyter server job made by these instances (default: this one), by job
        name, so even an allocation whose id was never seen (still being granted) goes. Every scheduler's
        clusters are asked: a Jupyter server is a batch job, which every scheduler runs."""
        count = 0
        for tag in instances or [self.instance]:
            rows = self.store.sessions(instance=tag)
            for cluster_name in {r.cluster for r in rows} | ({*self.registry.names} if tag != self.instance else set()):
                cluster = self.registry.get(cluster_name)  # built lazily: no connection yet
                try:
                    cluster.check_writable("cancelling allocations left behind")  # logged below, left alone
                    count += len(await cluster.cancel_named(f"hpcb-{tag}-", prefix=True))
                except HpcBridgeError as exc:
                    log.warning("could not clean up allocations of %s on %s: %s", tag, cluster_name, exc)
            for row in rows:
                if row.status != "ended":
                    self._mark_ended(row.id, "cancelled when its hpcbridge stopped" if tag == self.instance
                                     else "reaped: the hpcbridge that made it died")
            self.store.end_instance(tag)
        return count

    async def reap_dead(self) -> int:
        dead = [t for t in self.store.dead_instances() if t != self.instance]
        return await self.cancel_all(dead) if dead else 0
