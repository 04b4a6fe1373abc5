"""The contract every scheduler backend implements, what each can do, and which class serves `scheduler = "..."`.

Services ask a backend's capabilities instead of asking which scheduler it is: a capability a backend lacks
is refused with "not supported on <scheduler>: <what to do instead>", never answered with another
scheduler's command. Adding a scheduler is its own modules (schedulers/<name>*.py, services/<name>.py) plus
one line in BACKENDS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from ..config import SECRET_ENV
from ..errors import Unsupported
from ..models import CommandResult, EnvSpec, Job, JobDetails, JobRecord, JobRequest, JobState, Node, Partition
from ..schedulers.directives import ScriptDirectives
from ..schedulers.merge import FromScript

if TYPE_CHECKING:
    from ..config import ClusterConfig

Runner = Callable[..., Awaitable[CommandResult]]
Writer = Callable[[str, bytes], Awaitable[None]]


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


class SchedulerBackend(Protocol):
    """The methods every backend implements. Lists are parsed into shared models (models.py)."""

    name: str
    capabilities: Capabilities
    state_words: dict[str, frozenset[JobState]]  # the scheduler's own state codes as list filters
    node_words: dict[str, tuple[str, ...]]  # the scheduler's node words in hpcbridge's node vocabulary

    @staticmethod
    def command_env(config: ClusterConfig) -> EnvSpec: ...
    def job_id(self, value: str | int, parameter: str = "job_id") -> str: ...
    async def version(self) -> str: ...
    async def whoami(self) -> str: ...
    async def partitions(self) -> list[Partition]: ...
    async def nodes(self) -> list[Node]: ...
    async def jobs(self, user: str | None = None, partition: str | None = None,
                   states: list[str] | None = None) -> list[Job]: ...
    async def job(self, job_id: str) -> JobDetails | None: ...
    async def estimated_start(self, job_id: str) -> str: ...
    async def batch_script(self, job_id: str) -> str: ...  # the job's script as the scheduler keeps it, or ''

    async def history(self, job_ids: list[str] | None = None, user: str | None = None, all_users: bool = False,
                      start_time: str | None = None, end_time: str | None = None) -> list[JobRecord]: ...
    def read_directives(self, script: str) -> tuple[ScriptDirectives, FromScript]: ...
    async def check_request(self, req: JobRequest) -> None: ...
    def render_script(self, req: JobRequest) -> str: ...
    async def submit(self, script: str, req: JobRequest | None = None, *, test_only: bool = False) -> str: ...
    async def cancel(self, job_id: str, signal: str | None = None, force: bool = False) -> None: ...
    async def hold(self, job_id: str) -> None: ...
    async def release(self, job_id: str) -> None: ...
    def explain(self, reason: str) -> str: ...
    def test_start(self, message: str) -> str: ...  # the start time a test submission's message gives, or ''
    def cancelled_by_uid(self, native_state: str) -> str: ...  # the uid a final state names as canceller, or ''

    async def privileges(self, user: str) -> str: ...
    async def accounting_available(self) -> bool: ...
    def history_note(self, available: bool) -> str: ...
    def history_time(self, parameter: str, value: str) -> str: ...


def refuse(backend: SchedulerBackend, what: str, instead: str) -> Unsupported:
    return Unsupported(f"{what} is not supported on {backend.name}: {instead}")


BackendFactory = Callable[["ClusterConfig", Runner, Writer], SchedulerBackend]


def _slurm(config: ClusterConfig, run: Runner, write: Writer) -> SchedulerBackend:
    from .slurm import SlurmBackend

    return SlurmBackend(run)


def _pbs(config: ClusterConfig, run: Runner, write: Writer) -> SchedulerBackend:
    from .pbs import PbsBackend

    return PbsBackend(run, write, config.pbs_flavor)


def _slurm_env(config: ClusterConfig) -> EnvSpec:
    from .slurm import SlurmBackend

    return SlurmBackend.command_env(config)


def _pbs_env(config: ClusterConfig) -> EnvSpec:
    from .pbs import PbsBackend

    return PbsBackend.command_env(config)


# scheduler name -> (backend factory, the environment its commands need). One line per scheduler.
BACKENDS: dict[str, tuple[BackendFactory, Callable[[ClusterConfig], EnvSpec]]] = {
    "slurm": (_slurm, _slurm_env),
    "pbs": (_pbs, _pbs_env),
}


def make_backend(config: ClusterConfig, run: Runner, write: Writer) -> SchedulerBackend:
    factory, _ = BACKENDS[config.scheduler]
    return factory(config, run, write)


def command_env(config: ClusterConfig) -> EnvSpec:
    """What the scheduler's commands need, and hpcbridge's own secrets kept from every child."""
    _, env = BACKENDS[config.scheduler]
    return replace(env(config), private=SECRET_ENV)
