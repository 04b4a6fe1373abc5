"""Cluster: scheduler backend + transport + policy + cache for one configured cluster."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .. import principal, validate
from ..backends import registry
from ..backends.base import (
    Capabilities,
    ContainerUse,
    InteractiveBackend,
    JobChanges,
    SchedulerBackend,
    refuse,
)
from ..backends.directives import ScriptDirectives
from ..backends.limits import AccountLimits
from ..backends.merge import FromScript
from ..config import ClusterConfig
from ..errors import (
    CommandTimeout,
    HpcBridgeError,
    InfeasibleRequest,
    InvalidParameter,
    NotFound,
    ReadOnlyCluster,
    SchedulerError,
    Unsupported,
)
from ..models import CommandResult, Job, JobDetails, JobRecord, JobRequest, JobState, Node, Partition
from ..quoting import shell_join
from ..standing import PriorityRow, ShareRow, StartEstimate
from ..transport.base import Transport
from ..watch.gpustats import ResourceUse
from . import feasibility
from .cache import SingleFlightCache
from .snapshot import SnapshotFacts

audit = logging.getLogger("hpcbridge.audit")

STATIC_TTL = 30.0  # partitions and the login user change rarely
LIMITS_TTL = 300.0  # association, QOS and queue limits: set by an administrator now and then


@dataclass(frozen=True)
class SubmitResult:
    job_id: str
    cluster: str
    partition: str
    script: str
    test_only: bool = False
    scheduler_message: str = ""
    from_script: list[str] = field(default_factory=list)  # values the script's own directives set
    notes: list[str] = field(default_factory=list)  # limits the job waits on until running jobs end


def refuse_if_read_only(config: ClusterConfig, action: str) -> None:
    """The one read-only rule, for every front door (tools, dashboard, CLI, history, Jupyter, TensorPool):
    a change asked of a `read_only = true` cluster or account is refused here, before anything is sent."""
    if config.read_only:
        raise ReadOnlyCluster(config.name, action)


def _observed(run: asyncio.Future[CommandResult]) -> None:
    """A run whose caller was cancelled (a closed page, a timeout around it) can still end in an error that
    nobody awaits: reading it here keeps asyncio from logging it as "Task exception was never retrieved"."""
    if not run.cancelled():
        run.exception()


class Cluster:
    def __init__(self, config: ClusterConfig, transport: Transport) -> None:
        self.config = config
        self.transport = transport
        self.backend: SchedulerBackend = registry.make_backend(config, self.run, self.write_file)
        self.cache = SingleFlightCache()
        self.facts = SnapshotFacts()  # counts per queue snapshot (services/snapshot.py)
        self.commands_run = 0
        self.submitted: list[Callable[[SubmitResult], None]] = []  # told of every real submission (history)

    @property
    def name(self) -> str:
        return self.config.name

    def check_writable(self, action: str) -> None:
        """Called first by every operation that changes something on the cluster (see refuse_if_read_only)."""
        refuse_if_read_only(self.config, action)

    async def run(
        self, argv: list[str], *, timeout: float | None = None, stdin: bytes | None = None,
        idempotent: bool = True,
    ) -> CommandResult:
        """The one runner: every command goes through here and into the audit log."""
        started = time.monotonic()
        self.commands_run += 1
        status = "error"
        seconds = timeout or self.config.command_timeout
        try:
            # The transport keeps to the timeout; this guard holds even where it cannot (a connect to a peer
            # that accepts TCP and never speaks): no call waits much past its timeout.
            run = asyncio.ensure_future(self.transport.run(argv, timeout=seconds, stdin=stdin, idempotent=idempotent))
            run.add_done_callback(_observed)
            result = await asyncio.wait_for(run, seconds + 0.5)
            status = str(result.exit_status)
            return result
        except TimeoutError as exc:
            status = "timeout"
            raise CommandTimeout(f"'{argv[0]}' did not finish within {seconds:g}s on {self.name} "
                                 f"({self.transport.description})") from exc
        finally:
            audit.info("cluster=%s principal=%s exit=%s %.3fs %s", self.name, principal.name(), status,
                       time.monotonic() - started, shell_join(argv))

    async def write_file(self, path: str, data: bytes) -> None:
        self.check_writable(f"writing {path}")
        audit.info("cluster=%s principal=%s write %s (%d bytes)", self.name, principal.name(), path, len(data))
        await self.transport.write_file(path, data, timeout=self.config.command_timeout)

    async def reach(self, host: str, port: int) -> tuple[str, int]:
        """A local address that reaches host:port as the login node sees it (see Transport.reach)."""
        return await self.transport.reach(host, port)

    def job_id(self, value: str | int, parameter: str = "job_id") -> str:
        """A job id in this scheduler's form (PBS: 1234.server, arrays 1234[]; Slurm: 1234_7, 1234.0)."""
        job, sep, named = str(value).strip().partition(";")
        if sep and named and named != self.name:
            # sbatch --parsable's 'id;cluster' on a multi-cluster site: that id was given by the cluster it names,
            # and the same number here may be somebody else's job, so it is not acted on here
            raise InvalidParameter(parameter, f"{value!r} is a job of cluster {named!r}, not of {self.name!r}",
                                   f"the job id alone ({job}) with cluster= naming the hpcbridge cluster it runs on")
        return self.backend.job_id(value, parameter)

    # --- what the scheduler is and says (services ask the cluster, never its backend) ----------------
    @property
    def scheduler(self) -> str:
        return self.backend.name

    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities

    @property
    def state_words(self) -> dict[str, frozenset[JobState]]:
        return self.backend.state_words

    @property
    def node_words(self) -> dict[str, tuple[str, ...]]:
        return self.backend.node_words

    def refuse(self, what: str, instead: str) -> Unsupported:
        """'<what> is not supported on <scheduler>: <instead>', for a capability this cluster lacks."""
        return refuse(self.backend.name, what, instead)

    def explain(self, reason: str) -> str:
        return self.backend.explain(reason)

    def test_start(self, message: str) -> str:
        return self.backend.test_start(message)

    def cancelled_by_uid(self, native_state: str) -> str:
        return self.backend.cancelled_by_uid(native_state)

    def history_time(self, parameter: str, value: str) -> str:
        return self.backend.history_time(parameter, value)

    def history_note(self, available: bool) -> str:
        return self.backend.history_note(available)

    def read_directives(self, script: str) -> tuple[ScriptDirectives, FromScript]:
        """The script's own directive block as this scheduler reads it; other schedulers' directives refused."""
        return self.backend.read_directives(script, registry.foreign_directives(self.backend.name))

    async def version(self) -> str:
        return await self.backend.version()

    async def batch_script(self, job_id: str) -> str:
        return await self.backend.batch_script(job_id)

    async def output_paths(self, job_ids: list[str]) -> dict[str, tuple[str, str]]:
        return await self.backend.output_paths(job_ids)

    async def estimated_start(self, job_id: str) -> str:
        return await self.backend.estimated_start(job_id)

    async def start_estimate(self, job_id: str) -> StartEstimate:
        return await self.backend.start_estimate(job_id)

    async def fairshare(self, user: str) -> tuple[list[ShareRow], str]:
        """The user's share tree and default account (services/standing.py says it)."""
        return await self.backend.fairshare(user)

    async def priority(self, job_ids: list[str] | None = None, partition: str | None = None) -> list[PriorityRow]:
        return await self.backend.priority(job_ids, partition)

    async def privileges(self, user: str) -> str:
        return await self.backend.privileges(user)

    async def accounting_available(self) -> bool:
        return await self.backend.accounting_available()

    async def check_containers(self, used_by: ContainerUse) -> None:
        """Refuse container options this cluster's scheduler cannot run for this use (asked once an hour)."""
        problem = await self.cache.get(f"containers:{used_by}", 3600,
                                       lambda: self.backend.container_problem(used_by))
        if problem:
            raise SchedulerError(f"{self.name}'s {problem}")

    def container_step(self, options: list[str], gpus: int | None) -> list[str]:
        return self.backend.container_step(options, gpus)

    async def resource_use(self, details: JobDetails, timeout: float) -> ResourceUse:
        """On a read_only cluster nothing is started inside the job: the GPU probe is a job step (Slurm
        `srun --overlap`) or a process the job's MoM adopts (PBS `pbs_attach`), i.e. something created in the
        user's job. Not refused either: reading use is what a look-only cluster is for, and CPU time and memory
        come without a step (sstat asks the nodes' slurmd; PBS's qstat -f carries resources_used), so the
        answer keeps those and says, in a note naming read_only, that GPU use is left out."""
        return await self.backend.resource_use(details, timeout, probe=not self.config.read_only)

    def interactive(self, what: str) -> InteractiveBackend:
        """This scheduler's interactive work, or one line saying it has none."""
        if self.backend.interactive is None or not self.capabilities.interactive:
            raise self.refuse(f"{what} on '{self.name}'", "submit a batch job with submit_job instead")
        return self.backend.interactive

    async def jobs_named(self, name: str, *, prefix: bool = False) -> list[Job]:
        """The login user's queued jobs named `name` (or whose name starts with it), asked now (not cached):
        how sessions, one-shot commands and Jupyter servers find their allocations, on every scheduler."""
        mine = await self.backend.jobs(user=await self.user())
        return [j for j in mine if (j.name.startswith(name) if prefix else j.name == name)]

    async def cancel_named(self, name: str, *, prefix: bool = False) -> list[str]:
        """Cancel the login user's jobs named `name` (an allocation whose id was never seen goes too); the
        ids cancelled. A job that ended meanwhile is not an error."""
        cancelled = []
        for job in await self.jobs_named(name, prefix=prefix):
            if job.state.final:
                continue
            try:
                await self.backend.cancel(job.job_id)
                cancelled.append(job.job_id)
            except HpcBridgeError as exc:
                audit.info("cluster=%s could not cancel %s (%s): %s", self.name, job.job_id, job.name, exc)
        self.cache.invalidate("jobs:")
        return cancelled

    async def close(self) -> None:
        await self.transport.close()

    # --- cached reads -------------------------------------------------------------------------------
    async def user(self) -> str:
        return await self.cache.get("user", 1e9, self.backend.whoami)

    async def partitions(self) -> list[Partition]:
        return await self.cache.get("partitions", STATIC_TTL, self.backend.partitions)

    async def nodes(self) -> list[Node]:
        return await self.cache.get("nodes", self.config.cache_ttl, self.backend.nodes)

    async def jobs(self, user: str | None = None, partition: str | None = None) -> list[Job]:
        key = f"jobs:{user or ''}:{partition or ''}"
        return await self.cache.get(key, self.config.cache_ttl, lambda: self.backend.jobs(user, partition))

    async def queue_now(self) -> list[Job]:
        """Every job in the queue, finished ones the scheduler still shows included, asked now (not cached):
        the queue watcher's one poll (services/waiting.py)."""
        return await self.backend.jobs(states=["all"])

    async def resolve_user(self, user: str | None) -> str | None:
        if user in (None, "", "all", "*"):
            return None
        if user in ("me", "current_user", "$USER"):
            return await self.user()
        return validate.name("user", user)  # type: ignore[arg-type]

    async def partition(self, name: str) -> Partition:
        parts = await self.partitions()
        for p in parts:
            if p.name == name:
                return p
        raise NotFound(f"partition '{name}' does not exist on {self.name}; partitions: "
                       f"{', '.join(p.name for p in parts)}")

    async def node(self, name: str) -> Node:
        nodes = await self.nodes()
        for n in nodes:
            if n.name == name:
                return n
        raise NotFound(f"node '{name}' does not exist on {self.name} ({len(nodes)} nodes; e.g. "
                       f"{', '.join(n.name for n in nodes[:8])})")

    # --- jobs ---------------------------------------------------------------------------------------
    async def job_details(self, job_id: str) -> JobDetails:
        details = await self.backend.job(job_id)
        if details is not None:
            return details
        records = await self.backend.history(job_ids=[job_id])
        if not records:
            raise NotFound(f"job {job_id} is unknown to {self.name}: not in the queue and not in accounting")
        return details_from_record(records[0])

    async def history(self, **filters: object) -> list[JobRecord]:
        return await self.backend.history(**filters)  # type: ignore[arg-type]

    async def cancel(self, job_id: str, signal: str | None = None, force: bool = False) -> None:
        self.check_writable(f"cancelling job {job_id}")
        await self.backend.cancel(job_id, signal, force)
        self.cache.invalidate("jobs:")

    async def hold(self, job_id: str) -> None:
        self.check_writable(f"holding job {job_id}")
        await self.backend.hold(job_id)
        self.cache.invalidate("jobs:")

    async def release(self, job_id: str) -> None:
        self.check_writable(f"releasing job {job_id}")
        await self.backend.release(job_id)
        self.cache.invalidate("jobs:")

    async def modify(self, job_id: str, changes: JobChanges) -> None:
        """Sent as given: services/modify.py checks the new values first (modify_job)."""
        self.check_writable(f"modifying job {job_id}")
        await self.backend.modify(job_id, changes)
        self.cache.invalidate("jobs:")

    async def submit(self, req: JobRequest, *, test_only: bool = False) -> SubmitResult:
        if not test_only:  # a test submission (sbatch --test-only) changes nothing: recommend_resources uses it
            self.check_writable("submitting a job")
        req = await self._complete_request(req)
        await self.backend.check_request(req)
        notes = await self.check_feasible(req)
        script = self.backend.render_script(req)
        output = await self.backend.submit(script, req, test_only=test_only)
        self.cache.invalidate("jobs:")
        if test_only:
            return SubmitResult("", self.name, req.partition or "", script, True, output, notes=notes)
        result = SubmitResult(output, self.name, req.partition or "", script, notes=notes)
        for listener in self.submitted:
            listener(result)
        return result

    async def _complete_request(self, req: JobRequest) -> JobRequest:
        partition = req.partition or self.config.default_partition
        if not partition:
            default = [p for p in await self.partitions() if p.is_default]
            partition = default[0].name if default else None
        if not partition and not self.backend.capabilities.server_chooses_queue:
            raise InfeasibleRequest(f"no partition given and {self.name} has no default partition; "
                                    f"partitions: {', '.join(p.name for p in await self.partitions())}")
        return replace(
            req,
            partition=partition,
            account=req.account or self.config.account,
            working_directory=req.working_directory or self.config.work_dir,
        )

    async def check_feasible(self, req: JobRequest) -> list[str]:
        """Refuse, before anything is sent, what can never run here, what policy forbids or a limit keeps
        pending forever (feasibility.py); notes of limits the request waits on."""
        return await feasibility.check(self, req)

    async def limits(self) -> AccountLimits:
        """The login user's scheduler limits (association/QOS, queue/server), cached: they change rarely."""
        user = await self.user()
        return await self.cache.get("limits", LIMITS_TTL, lambda: self.backend.limits(user))

def details_from_record(record: JobRecord) -> JobDetails:
    """A job that left the controller, described from accounting."""
    job = Job(
        job_id=record.job_id, name=record.name, user=record.user, state=record.state,
        native_state=record.native_state, partition=record.partition, account=record.account,
        num_nodes=record.num_nodes, node_list=record.node_list, reason=record.reason,
        time_used=record.elapsed, time_limit=record.time_limit, submit_time=record.submit_time,
        start_time=record.start_time, gpus=record.gpus,
    )
    return JobDetails(job=job, exit_code=record.exit_code, signal=record.signal, work_dir=record.work_dir,
                      end_time=record.end_time, memory=record.req_mem, tres=record.alloc_tres,
                      source="accounting")
