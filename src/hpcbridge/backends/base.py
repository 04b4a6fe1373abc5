"""The contract every scheduler backend implements, what each can do, and the neutral helpers they share.

Services ask a backend's capabilities instead of asking which scheduler it is: a capability a backend lacks
is refused with "not supported on <scheduler>: <what to do instead>", never answered with another
scheduler's command. A scheduler is one folder (backends/<name>/) whose `ENTRY` the registry lists.
Imports point down only: a backend imports this module, never the registry, a service or a transport.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from .. import validate
from ..errors import SchedulerError, Unsupported
from ..models import (
    AllocationSpec,
    CommandResult,
    Job,
    JobDetails,
    JobRecord,
    JobRequest,
    JobState,
    Node,
    Partition,
)
from ..standing import PriorityRow, ShareRow, StartEstimate
from ..timewords import absolute_time
from ..watch.gpustats import ResourceUse
from .directives import ScriptDirectives
from .limits import AccountLimits
from .merge import FromScript

if TYPE_CHECKING:
    from ..config import ClusterConfig

Runner = Callable[..., Awaitable[CommandResult]]
Writer = Callable[[str, bytes], Awaitable[None]]
ContainerUse = Literal["batch", "step"]  # a batch script's directives, or a step (session, one-shot, Jupyter)


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do. Services and tools test these, never the scheduler's name."""

    interactive: bool  # allocations that stay (sessions) and one-shot commands on compute nodes
    containers: bool  # Pyxis/enroot container options on jobs
    gpu_types: bool  # a job can ask for a GPU model (gpu_type)
    start_estimate: bool  # a test submission says when a job would start
    arrays: bool  # job arrays
    forced_delete: bool  # deleting a job whose node does not answer
    history: str  # where finished jobs come from, said to users ("sacct", "qstat -x", ...)
    server_chooses_queue: bool = False  # with no partition and no known default, submit and let the server pick
    fairshare: bool = False  # the user's fairshare per account (get_fairshare)
    priority_factors: bool = False  # a pending job's priority in parts and its rank (get_job_priority)


@dataclass(frozen=True)
class JobChanges:
    """What modify_job changes on a queued job; None leaves a value as it is. Validated before it gets here."""

    time_limit: str | None = None  # Slurm's time words (validate.walltime_minutes)
    partition: str | None = None  # a PBS queue
    job_name: str | None = None
    nodes: int | None = None
    gpus: int | None = None  # per node
    qos: str | None = None
    account: str | None = None
    dependency: str | None = None  # validate.dependency's form (afterok:12, singleton)
    comment: str | None = None  # validate.directive_text
    array_throttle: int | None = None  # most array tasks running at once (0: no limit)

    def named(self) -> list[str]:
        return [k for k, v in vars(self).items() if v is not None]


class InteractiveBackend(Protocol):
    """Allocations that stay and commands run in them (capability `interactive`). Finding and cancelling an
    allocation by its job name is the cluster's (Cluster.jobs_named), the same for every scheduler."""

    async def run_once(self, spec: AllocationSpec, command: str, job_name: str, working_directory: str | None,
                       timeout: float) -> CommandResult: ...
    async def allocate(self, spec: AllocationSpec, job_name: str, timeout: float) -> CommandResult: ...
    def granted_job_id(self, result: CommandResult) -> str: ...  # the allocation allocate() answered, or ''
    async def run_in_allocation(self, job_id: str, command: str, step_name: str, spec: AllocationSpec,
                                working_directory: str | None, timeout: float) -> CommandResult: ...
    def allocation_gone(self, result: CommandResult) -> bool: ...  # a step failed because the allocation ended
    async def cancel_step(self, job_id: str, step_name: str) -> None: ...


class SchedulerBackend(Protocol):
    """The methods every backend implements. Lists are parsed into shared models (models.py)."""

    name: str
    capabilities: Capabilities
    state_words: dict[str, frozenset[JobState]]  # the scheduler's own state codes as list filters
    node_words: dict[str, tuple[str, ...]]  # the scheduler's node words in hpcbridge's node vocabulary
    interactive: InteractiveBackend | None  # None: the scheduler offers no sessions (capabilities.interactive)

    def job_id(self, value: str | int, parameter: str = "job_id") -> str: ...
    async def version(self) -> str: ...
    async def whoami(self) -> str: ...
    async def partitions(self) -> list[Partition]: ...
    async def nodes(self) -> list[Node]: ...
    async def jobs(self, user: str | None = None, partition: str | None = None,
                   states: list[str] | None = None) -> list[Job]: ...
    async def job(self, job_id: str) -> JobDetails | None: ...
    async def estimated_start(self, job_id: str) -> str: ...
    async def start_estimate(self, job_id: str) -> StartEstimate: ...  # when and where a pending job should start
    async def fairshare(self, user: str) -> tuple[list[ShareRow], str]: ...  # the share tree, the default account
    # pending jobs' priority in parts: these jobs, or every pending job of a partition (capability priority_factors)
    async def priority(self, job_ids: list[str] | None = None, partition: str | None = None) -> list[PriorityRow]: ...
    async def batch_script(self, job_id: str) -> str: ...  # the job's script as the scheduler keeps it, or ''
    # job id -> (stdout, stderr) absolute paths of these running jobs, in one command (progress and trouble)
    async def output_paths(self, job_ids: list[str]) -> dict[str, tuple[str, str]]: ...

    async def history(self, job_ids: list[str] | None = None, user: str | None = None, all_users: bool = False,
                      start_time: str | None = None, end_time: str | None = None) -> list[JobRecord]: ...
    def read_directives(self, script: str, foreign: tuple[str, ...]) -> tuple[ScriptDirectives, FromScript]: ...
    async def check_request(self, req: JobRequest) -> None: ...
    def render_script(self, req: JobRequest) -> str: ...
    async def submit(self, script: str, req: JobRequest | None = None, *, test_only: bool = False) -> str: ...
    async def cancel(self, job_id: str, signal: str | None = None, force: bool = False) -> None: ...
    async def hold(self, job_id: str) -> None: ...
    async def release(self, job_id: str) -> None: ...
    async def modify(self, job_id: str, changes: JobChanges) -> None: ...  # a queued job's values (modify_job)
    def explain(self, reason: str) -> str: ...
    def test_start(self, message: str) -> str: ...  # the start time a test submission's message gives, or ''
    def cancelled_by_uid(self, native_state: str) -> str: ...  # the uid a final state names as canceller, or ''
    async def container_problem(self, used_by: ContainerUse) -> str: ...  # why containers cannot run, or ''
    def container_step(self, options: list[str], gpus: int | None) -> list[str]: ...  # a step running in one
    # a running job's GPUs, CPU, RSS; probe=False: only what the scheduler reports, nothing started in the job
    async def resource_use(self, details: JobDetails, timeout: float, probe: bool) -> ResourceUse: ...

    async def privileges(self, user: str) -> str: ...
    async def limits(self, user: str) -> AccountLimits: ...  # association/QOS or queue/server limits
    async def accounting_available(self) -> bool: ...
    def history_note(self, available: bool) -> str: ...
    def history_time(self, parameter: str, value: str) -> str: ...


BackendFactory = Callable[["ClusterConfig", Runner, Writer], SchedulerBackend]


@dataclass(frozen=True)
class SchedulerEntry:
    """One scheduler, as the registry lists it: the value of `scheduler = "..."`, the resource URI scheme
    (`<name>://job/ID`), its directive prefix (refused in other schedulers' scripts), how its backend is made,
    and the environment its commands need."""

    name: str
    description: str  # for the config reference and the CLI
    directive_prefix: str  # "#SBATCH"
    make: BackendFactory
    # client variables that change what the scheduler's commands print (SQUEUE_FORMAT, ...): every cluster's
    # commands run without those of every registered scheduler (PBS's Torque wrappers call Slurm's clients)
    output_env: tuple[str, ...] = ()
    assign_env: Callable[[ClusterConfig], tuple[tuple[str, str], ...]] = lambda config: ()


def refuse(backend_name: str, what: str, instead: str) -> Unsupported:
    return Unsupported(f"{what} is not supported on {backend_name}: {instead}")


def command_failure(what: str, result: CommandResult, down: str | None = None) -> SchedulerError:
    """A command that failed, in one line an agent can act on. `down`, when the scheduler's own words say
    its server does not answer, names that server ("the Slurm controller (slurmctld)"): temporary."""
    message = (result.stderr or result.stdout).strip().splitlines()
    detail = message[-1] if message else f"exit status {result.exit_status}"
    if result.exit_status == 127 or "command not found" in detail:
        return SchedulerError(f"{what}: '{program(result)}' is not installed or not on PATH on the cluster")
    if down:
        return SchedulerError(f"{what}: {down} does not answer ({detail}); the cluster's scheduler is down or "
                              "unreachable from the login node", transient=True)
    return SchedulerError(f"{what} failed: {detail}")


def program(result: CommandResult) -> str:
    """The program a command ran, past an `env -u NAME ... NAME=value` prefix."""
    argv = list(result.argv)
    if argv and argv[0] == "env":
        rest = argv[1:]
        while rest and (rest[0].startswith("-") or "=" in rest[0]):
            rest = rest[2:] if rest[0] == "-u" else rest[1:]
        argv = rest
    return argv[0] if argv else "?"


class BasicBackend:
    """What a scheduler without the optional features answers, so a new backend writes only what its
    scheduler has (as dask-jobqueue's classes are small declarative subclasses): no interactive work, no
    containers, no start estimates or kept scripts, accounting words as sacct reads them. Slurm and PBS
    implement every member themselves; a new scheduler subclasses this and overrides what it can do."""

    name = "basic"
    state_words: dict[str, frozenset[JobState]] = {}  # noqa: RUF012 - never mutated: a subclass replaces it
    node_words: dict[str, tuple[str, ...]] = {}  # noqa: RUF012 - never mutated: a subclass replaces it
    interactive: InteractiveBackend | None = None

    @staticmethod
    def job_id(value: str | int, parameter: str = "job_id") -> str:
        return validate.job_id(value, parameter)

    async def estimated_start(self, job_id: str) -> str:
        return ""

    async def start_estimate(self, job_id: str) -> StartEstimate:
        return StartEstimate("")

    async def fairshare(self, user: str) -> tuple[list[ShareRow], str]:
        raise refuse(self.name, "fairshare", "ask the site how it shares the machine")

    async def priority(self, job_ids: list[str] | None = None, partition: str | None = None) -> list[PriorityRow]:
        raise refuse(self.name, "priority factors", "list_jobs shows the queue's order")

    async def batch_script(self, job_id: str) -> str:
        return ""

    async def check_request(self, req: JobRequest) -> None:
        return None

    async def output_paths(self, job_ids: list[str]) -> dict[str, tuple[str, str]]:
        raise refuse(self.name, "reading running jobs' output paths", "read_job_output on one job")

    async def modify(self, job_id: str, changes: JobChanges) -> None:
        raise refuse(self.name, "changing a queued job", "cancel it and submit it again with the new values")

    @staticmethod
    def explain(reason: str) -> str:
        return reason

    @staticmethod
    def test_start(message: str) -> str:
        return ""

    @staticmethod
    def cancelled_by_uid(native_state: str) -> str:
        return ""

    async def container_problem(self, used_by: ContainerUse) -> str:
        return "scheduler has no container options"

    @staticmethod
    def container_step(options: list[str], gpus: int | None) -> list[str]:
        return []

    async def privileges(self, user: str) -> str:
        return "unknown (this scheduler reports no privilege levels)"

    async def limits(self, user: str) -> AccountLimits:
        return AccountLimits(user=user, notes=(f"{self.name} reports no limits",))

    async def resource_use(self, details: JobDetails, timeout: float, probe: bool) -> ResourceUse:
        raise refuse(self.name, "live resource use of a running job", "read the job's output or ask the site")

    async def accounting_available(self) -> bool:
        return True

    def history_note(self, available: bool) -> str:
        return "job history available" if available else "job history is not available"

    @staticmethod
    def history_time(parameter: str, value: str) -> str:
        """Checked in sacct's words (timewords.FORMS); passed on as given."""
        absolute_time(parameter, value, "the history bound")
        return value
