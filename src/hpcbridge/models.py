"""Shared models: frozen dataclasses used by every layer. Pydantic serialises them at the tool edge."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Generic, TypeVar


class JobState(str, enum.Enum):
    """One job-state vocabulary over Slurm and PBS. The scheduler's own word is kept beside it."""

    PENDING = "PENDING"
    HELD = "HELD"
    CONFIGURING = "CONFIGURING"
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"
    SUSPENDED = "SUSPENDED"
    REQUEUED = "REQUEUED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    ENDED = "ENDED"  # finished, but the scheduler did not say how (Torque without exit_status)
    UNKNOWN = "UNKNOWN"

    @property
    def final(self) -> bool:
        return self in _FINAL

    @property
    def failed(self) -> bool:
        return self in _FINAL and self not in (JobState.COMPLETED, JobState.ENDED)


_FINAL = frozenset(
    {
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMEOUT,
        JobState.OUT_OF_MEMORY,
        JobState.NODE_FAIL,
        JobState.PREEMPTED,
        JobState.BOOT_FAIL,
        JobState.DEADLINE,
        JobState.ENDED,
    }
)


@dataclass(frozen=True)
class EnvSpec:
    """The environment scheduler commands need: variables removed and variables set (e.g. LC_ALL=C).

    Schedulers declare it; transports apply it (an `env` prefix, a worker shell's preamble, or the
    environment of a local process)."""

    unset: tuple[str, ...] = ()
    assign: tuple[tuple[str, str], ...] = ()
    # hpcbridge's own secrets (config_env.SECRET_ENV: names and fnmatch patterns), kept from every local child:
    # a local sbatch/srun's environment is the job's (Slurm's default --export=ALL). Not in argv_prefix: a
    # remote command's environment is the remote login's, which never held them.
    private: tuple[str, ...] = ()

    def argv_prefix(self) -> list[str]:
        if not self.unset and not self.assign:
            return []
        prefix = ["env"]
        for name in self.unset:
            prefix += ["-u", name]
        return prefix + [f"{k}={v}" for k, v in self.assign]

    def inherited(self, environ: Mapping[str, str]) -> dict[str, str]:
        """environ without hpcbridge's secrets: what any local child process (sbatch, srun, ssh) may see."""
        return {k: v for k, v in environ.items() if not any(fnmatchcase(k, p) for p in self.private)}

    def apply(self, environ: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in self.inherited(environ).items() if k not in self.unset}
        env.update(self.assign)
        return env


# Nothing removed, set or kept back: a transport's default. EnvSpec is frozen with tuple fields, so one
# shared instance is safe as a default argument.
NO_ENV = EnvSpec()


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    stdout: str
    stderr: str
    exit_status: int
    duration_s: float
    # stdout as the command wrote it (b"" when not kept): `stdout` is it decoded as UTF-8 with replacement,
    # which loses bytes a scheduler printed its own way (OpenPBS's '^' notation: backends/pbs/nonprint.py)
    stdout_bytes: bytes = b""

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass(frozen=True)
class GpuCount:
    """GPUs of one type (type None when the site does not type its GRES)."""

    type: str | None
    count: int

    def __str__(self) -> str:
        return f"{self.type}:{self.count}" if self.type else str(self.count)


@dataclass(frozen=True)
class Node:
    name: str
    state: str  # base state, upper case: IDLE, MIXED, ALLOCATED, DOWN, ...
    flags: tuple[str, ...] = ()  # DRAIN, RESERVED, NOT_RESPONDING, PLANNED, ...
    partitions: tuple[str, ...] = ()
    cpus_total: int = 0
    cpus_alloc: int = 0
    memory_mb: int = 0
    memory_alloc_mb: int = 0
    gpus: tuple[GpuCount, ...] = ()
    gpus_used: tuple[GpuCount, ...] = ()
    features: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def available(self) -> bool:
        """Can take new work now (up, not drained, not down)."""
        blocked = {"DRAIN", "DRAINING", "DRAINED", "NOT_RESPONDING", "MAINTENANCE", "POWERED_DOWN", "FAIL"}
        return self.state in {"IDLE", "MIXED", "ALLOCATED", "COMPLETING"} and not blocked & set(self.flags)

    @property
    def gpu_total(self) -> int:
        return sum(g.count for g in self.gpus)

    @property
    def gpu_used(self) -> int:
        return sum(g.count for g in self.gpus_used)


@dataclass(frozen=True)
class Partition:
    name: str
    state: str
    is_default: bool = False
    max_time_minutes: int | None = None  # None = unlimited
    default_time_minutes: int | None = None
    node_list: str = ""
    nodes: tuple[str, ...] = ()
    total_cpus: int = 0
    total_nodes: int = 0
    total_gpus: int = 0
    max_nodes: int | None = None
    allow_accounts: tuple[str, ...] = ()  # empty = all
    allow_qos: tuple[str, ...] = ()


@dataclass(frozen=True)
class Job:
    job_id: str  # "123", or "123_4" for an array task
    name: str
    user: str
    state: JobState
    native_state: str
    partition: str = ""
    account: str = ""
    qos: str = ""
    num_nodes: int = 0
    num_cpus: int = 0
    node_list: str = ""
    reason: str = ""
    time_used: str = ""
    time_limit: str = ""
    submit_time: str = ""
    start_time: str = ""
    gpus: tuple[GpuCount, ...] = ()
    array_job_id: str | None = None
    array_task_id: str | None = None
    priority: int | None = None
    dependency: str = ""  # as the scheduler prints it (afterok:12(unfulfilled)); Slurm drops it once met


@dataclass(frozen=True)
class JobDetails:
    """One job as the controller knows it (scontrol show job) or, once gone, as accounting does."""

    job: Job
    exit_code: int | None = None
    signal: int | None = None
    work_dir: str = ""
    stdout_path: str = ""
    stderr_path: str = ""
    command: str = ""
    dependency: str = ""
    end_time: str = ""
    memory: str = ""
    tres: str = ""
    gpu_indices: str = ""  # "0-1" on one node; "gpu1:1-2 gpu2:0-1" when the nodes of a job hold different devices
    reason_explained: str = ""
    source: str = "controller"  # controller | accounting
    raw: dict[str, str] = field(default_factory=dict)
    comment: str = ""  # free text, byte-exact (sbatch --comment)


@dataclass(frozen=True)
class JobStep:
    step_id: str
    name: str
    state: JobState
    native_state: str
    exit_code: int | None
    signal: int | None
    elapsed: str = ""
    max_rss: str = ""


@dataclass(frozen=True)
class JobRecord:
    """One job from accounting (sacct / qstat -x)."""

    job_id: str
    name: str
    user: str
    state: JobState
    native_state: str
    partition: str = ""
    account: str = ""
    exit_code: int | None = None
    signal: int | None = None
    submit_time: str = ""
    start_time: str = ""
    end_time: str = ""
    elapsed: str = ""
    time_limit: str = ""
    num_nodes: int = 0
    node_list: str = ""
    alloc_tres: str = ""
    gpus: tuple[GpuCount, ...] = ()  # from the allocated TRES (the scheduler's parser reads it)
    req_mem: str = ""
    max_rss: str = ""
    reason: str = ""
    work_dir: str = ""
    steps: tuple[JobStep, ...] = ()
    comment: str = ""


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """A page of a longer list, with the totals an agent needs to decide whether to read on."""

    items: list[T]
    total: int
    offset: int
    limit: int
    counts: dict[str, int] = field(default_factory=dict)
    next_offset: int | None = None

    @classmethod
    def of(cls, everything: list[T], offset: int, limit: int, counts: dict[str, int]) -> Page[T]:
        items = everything[offset : offset + limit]
        return cls(items=items, total=len(everything), offset=offset, limit=limit, counts=counts,
                   next_offset=next_offset(offset, len(items), len(everything)))


def next_offset(offset: int, shown: int, total: int) -> int | None:
    """Where the next page starts, or None when this one reaches the end: every paged answer says it so."""
    end = offset + shown
    return end if end < total else None


# --- requests (scheduler-neutral; each backend renders them in its own words) ---------------------------
@dataclass(frozen=True)
class ContainerSpec:
    """Pyxis options (https://github.com/NVIDIA/pyxis, `srun --help` with Pyxis installed)."""

    image: str
    mounts: str | None = None
    workdir: str | None = None
    env_names: tuple[str, ...] = ()
    name: str | None = None
    mount_home: bool | None = None  # None: Pyxis's default
    remap_root: bool | None = None

    def options(self) -> list[tuple[str, str | None]]:
        """(flag, value) pairs; the same list renders #SBATCH directives and srun arguments."""
        opts: list[tuple[str, str | None]] = [("--container-image", self.image)]
        if self.mounts:
            opts.append(("--container-mounts", self.mounts))
        if self.workdir:
            opts.append(("--container-workdir", self.workdir))
        if self.env_names:
            opts.append(("--container-env", ",".join(self.env_names)))
        if self.name:
            opts.append(("--container-name", self.name))
        if self.mount_home is not None:
            opts.append(("--container-mount-home" if self.mount_home else "--no-container-mount-home", None))
        if self.remap_root is not None:
            opts.append(("--container-remap-root" if self.remap_root else "--no-container-remap-root", None))
        return opts

    def argv(self) -> list[str]:
        return [flag if value is None else f"{flag}={value}" for flag, value in self.options()]


@dataclass(frozen=True)
class JobRequest:
    """A batch job as hpcbridge renders it. Values are validated by the service before rendering."""

    script_content: str
    job_name: str | None = None
    partition: str | None = None
    account: str | None = None
    nodes: int | None = None
    ntasks: int | None = None
    cpus_per_task: int | None = None
    memory: str | None = None
    time_limit: str | None = None
    output_file: str | None = None
    error_file: str | None = None
    working_directory: str | None = None
    gpus: int | None = None
    gpus_per_task: int | None = None
    gpu_type: str | None = None
    gpus_total: int | None = None  # sbatch --gpus: GPUs for the whole job (from a script's directive)
    array: str | None = None
    dependency: str | None = None
    constraint: str | None = None
    qos: str | None = None
    exclusive: bool = False
    hold: bool = False
    env: dict[str, str] = field(default_factory=dict)
    container: ContainerSpec | None = None


@dataclass(frozen=True)
class AllocationSpec:
    """Resources of an interactive allocation or one-shot srun (the Slurm plan's interactive tools)."""

    partition: str
    nodes: int = 1
    gpus_per_node: int | None = None
    gpu_type: str | None = None
    time_limit: str = "1:00:00"
    account: str | None = None
    cpus_per_task: int | None = None
    memory: str | None = None
    container: ContainerSpec | None = None
