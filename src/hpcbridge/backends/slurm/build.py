"""Slurm argv and batch-script builders. Pure: every function returns argv lists or script text."""

from __future__ import annotations

import re

from ... import validate
from ...errors import InvalidParameter
from ...models import AllocationSpec, ContainerSpec, JobRequest
from ...quoting import directive, shell_join
from ..directives import split_script
from .records import split_sep_records
from .text import JOB_TEXT_FIELDS, RS, SACCT_FIELDS, SEP, SQUEUE_FIELDS

# Users' own output settings must not change what we parse (squeue(1), sinfo(1), sacct(1) ENVIRONMENT):
# removed from every command (registry.command_env).
OUTPUT_ENV = (
    "SQUEUE_FORMAT", "SQUEUE_FORMAT2", "SQUEUE_SORT", "SQUEUE_ALL", "SQUEUE_STATES", "SQUEUE_USERS",
    "SQUEUE_PARTITION", "SINFO_FORMAT", "SINFO_SORT", "SINFO_PARTITION", "SACCT_FORMAT",
    "SLURM_TIME_FORMAT", "SLURM_CLUSTERS", "SLURM_CONF_OUT",
)


def version_argv() -> list[str]:
    return ["sinfo", "--version"]


def nodes_argv(node: str | None = None) -> list[str]:
    return ["scontrol", "show", "node", "-o", "-d", *([node] if node else [])]


def partitions_argv(partition: str | None = None) -> list[str]:
    return ["scontrol", "show", "partition", "-o", *([partition] if partition else [])]


def start_argv(job_id: str) -> list[str]:
    """The scheduler's expected start time of a pending job (squeue(1) --start; N/A when unknown)."""
    return ["squeue", "--start", "--noheader", "--jobs", job_id, "--format", "%S"]


def job_argv(job_id: str) -> list[str]:
    return ["scontrol", "show", "job", "-o", "-d", job_id]


def batch_script_argv(job_id: str) -> list[str]:
    """`scontrol write batch_script ID -` prints the script to stdout (the owner or an operator may)."""
    return ["scontrol", "write", "batch_script", job_id, "-"]


def squeue_argv(
    user: str | None = None,
    partition: str | None = None,
    states: list[str] | None = None,
    job_ids: list[str] | None = None,
) -> list[str]:
    argv = ["squeue", "--noheader", "--array", "--Format", squeue_format()]
    if user:
        argv += ["--user", user]
    if partition:
        argv += ["--partition", partition]
    if states:
        argv += ["--states", ",".join(states)]
    if job_ids:
        argv += ["--jobs", ",".join(job_ids)]
    return argv


def squeue_format(fields: tuple[tuple[str, str], ...] = SQUEUE_FIELDS) -> str:
    """`--Format` with every field `Name:0<SEP>` (width 0: never padded or truncated; the suffix is the
    separator) and RS after the last: see slurm_records for how records are framed."""
    return ",".join(f"{name}:0{RS if i == len(fields) - 1 else SEP}" for i, (_, name) in enumerate(fields))


def job_text_argv(job_id: str) -> list[str]:
    """A queued job's free-text fields byte-exact (scontrol's Key=value text cannot carry them exactly)."""
    return ["squeue", "--noheader", "--states=all", "--jobs", job_id, "--Format", squeue_format(JOB_TEXT_FIELDS)]


_SACCT_TIME = re.compile(
    r"^(?:now(?:[-+][0-9]+(?:seconds|minutes|hours|days|weeks)?)?|today|midnight|noon|"
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}(?::[0-9]{2}(?::[0-9]{2})?)?)?|"
    r"[0-9]{1,2}/[0-9]{1,2}(?:/[0-9]{2,4})?)$"
)


def sacct_time(parameter: str, value: str) -> str:
    if not _SACCT_TIME.match(value):
        raise InvalidParameter(
            parameter, f"{value!r} is not a time sacct understands",
            "YYYY-MM-DD[THH:MM[:SS]], MM/DD[/YY], now, now-7days, today, midnight",
        )
    return value


def sacct_argv(
    job_ids: list[str] | None = None,
    user: str | None = None,
    all_users: bool = False,
    start_time: str | None = None,
    end_time: str | None = None,
    states: list[str] | None = None,
    partition: str | None = None,
) -> list[str]:
    # with its header: it tells the parser the layout (slurm_text.sacct_layout)
    argv = ["sacct", "--parsable2", "--delimiter", SEP, "--format", ",".join(SACCT_FIELDS)]
    if job_ids:
        argv += ["--jobs", ",".join(job_ids)]
    if user:
        argv += ["--user", user]
    elif all_users:
        argv += ["--allusers"]
    if start_time:
        argv += ["--starttime", start_time]
    elif not job_ids:
        argv += ["--starttime", "now-7days"]
    if end_time:
        argv += ["--endtime", end_time]
    if states:
        argv += ["--state", ",".join(states)]
    if partition:
        argv += ["--partition", partition]
    return argv


def admin_level_argv(user: str) -> list[str]:
    return ["sacctmgr", "--noheader", "--parsable2", "show", "user", user, "format=AdminLevel"]


def accounting_probe_argv() -> list[str]:
    """A cheap sacct call that fails when accounting is off or slurmdbd does not answer."""
    return ["sacct", "--noheader", "-X", "--starttime", "now-1hours", "-o", "JobID"]


def scancel_argv(job_id: str, signal: str | None = None) -> list[str]:
    # scancel exits 0 even for unknown jobs (22.05); --verbose makes it say "error: ... Invalid job id"
    return ["scancel", "--verbose", *(["--signal", signal] if signal else []), job_id]


def hold_argv(job_id: str) -> list[str]:
    return ["scontrol", "hold", job_id]


def release_argv(job_id: str) -> list[str]:
    return ["scontrol", "release", job_id]


def update_argv(job_id: str, time_limit: str | None = None, partition: str | None = None,
                job_name: str | None = None, nodes: int | None = None, gres: str | None = None, *,
                qos: str | None = None, account: str | None = None, dependency: str | None = None,
                comment: str | None = None, array_throttle: int | None = None) -> list[str]:
    """scontrol update for modify_job. JobId comes first: a JobName= before it would *select* jobs by name
    (every user's, for an operator) instead of renaming this one. The time limit goes as minutes. A comment
    with spaces is one argv word (`Comment=two words`): scontrol takes the value up to the end of the word."""
    values = [("TimeLimit", str(validate.walltime_minutes("time_limit", time_limit)) if time_limit else None),
              ("Partition", partition), ("JobName", job_name), ("NumNodes", str(nodes) if nodes else None),
              ("Gres", gres), ("QOS", qos), ("Account", account), ("Dependency", dependency),
              ("Comment", comment), ("ArrayTaskThrottle", None if array_throttle is None else str(array_throttle))]
    return ["scontrol", "update", f"JobId={job_id}", *(f"{k}={v}" for k, v in values if v is not None)]


def sbatch_argv(test_only: bool = False) -> list[str]:
    """The script is sent on stdin, so no temporary file is left on the cluster. --ignore-pbs: sbatch obeys
    #PBS and #BSUB lines otherwise, and #PBS overrides #SBATCH (seen on 22.05), past hpcbridge's checks."""
    return ["sbatch", "--parsable", "--ignore-pbs", *(["--test-only"] if test_only else [])]


def gres_value(gpus: int, gpu_type: str | None) -> str:
    return f"gpu:{gpu_type}:{gpus}" if gpu_type else f"gpu:{gpus}"


def render_script(req: JobRequest) -> str:
    """Shebang, hpcbridge's directives, the script's own remaining directive block, exported variables, then
    the body. Exports come after the block: sbatch stops reading directives at the first command."""
    shebang, head, body = split_script(req.script_content)
    lines = [shebang, *_directives(req), *head]
    for name, value in req.env.items():
        lines.append(shell_join(["export", f"{validate.env_name(name)}={value}"]))
    return "\n".join([*lines, *body]) + "\n"


def _directives(req: JobRequest) -> list[str]:
    d: list[str] = []
    text_options = (
        ("--job-name", req.job_name), ("--partition", req.partition), ("--account", req.account),
        ("--qos", req.qos), ("--output", req.output_file), ("--error", req.error_file),
        ("--chdir", req.working_directory), ("--constraint", req.constraint),
        ("--array", req.array), ("--dependency", req.dependency), ("--mem", req.memory),
        ("--time", req.time_limit),
    )
    number_options = (
        ("--nodes", req.nodes), ("--ntasks", req.ntasks), ("--cpus-per-task", req.cpus_per_task),
    )
    for flag, value in text_options:
        if value:
            d.append(directive(flag, value))
    for flag, number in number_options:
        if number:
            d.append(directive(flag, str(number)))
    if req.gpus:
        d.append(directive("--gres", gres_value(req.gpus, req.gpu_type)))
    if req.gpus_total:
        d.append(directive("--gpus", f"{req.gpu_type}:{req.gpus_total}" if req.gpu_type else str(req.gpus_total)))
    if req.gpus_per_task:
        gpt = f"{req.gpu_type}:{req.gpus_per_task}" if req.gpu_type else str(req.gpus_per_task)
        d.append(directive("--gpus-per-task", gpt))
    if req.exclusive:
        d.append(directive("--exclusive"))
    if req.hold:
        d.append(directive("--hold"))
    if req.container:
        d.extend(directive(flag, value) for flag, value in req.container.options())
    return d


def allocation_args(spec: AllocationSpec) -> list[str]:
    """salloc/srun resource options of an allocation."""
    argv = ["--partition", spec.partition, "--nodes", str(spec.nodes), "--time", spec.time_limit]
    if spec.account:
        argv += ["--account", spec.account]
    if spec.gpus_per_node:
        argv += ["--gres", gres_value(spec.gpus_per_node, spec.gpu_type)]
    if spec.cpus_per_task:
        argv += ["--cpus-per-task", str(spec.cpus_per_task)]
    if spec.memory:
        argv += ["--mem", spec.memory]
    return argv


def salloc_argv(spec: AllocationSpec, job_name: str) -> list[str]:
    """salloc(1) --no-shell: returns once the allocation is granted and leaves it in place."""
    return ["salloc", "--no-shell", "--job-name", job_name, *allocation_args(spec)]


def srun_argv(spec: AllocationSpec, command: str, job_name: str, working_directory: str | None = None) -> list[str]:
    """One-shot: srun allocates, runs `bash -c command` once, and releases."""
    chdir = ["--chdir", working_directory] if working_directory else []
    container = spec.container.argv() if spec.container else []
    return ["srun", "--job-name", job_name, *allocation_args(spec), "--ntasks", "1", *chdir, *container,
            "bash", "-c", command]


def srun_in_allocation_argv(job_id: str, command: str, step_name: str, container: ContainerSpec | None = None,
                            working_directory: str | None = None, gpus_per_node: int | None = None) -> list[str]:
    """A step in an existing allocation; --overlap lets it share CPUs with steps already running there.
    Slurm >= 21.08 gives a step no GRES unless asked, so the session's GPUs are asked for again. The step
    is named so that a timed-out step alone can be cancelled (signalling the job would end the allocation).
    Since 22.05, plain --overlap sets overlap_force (src/common/slurm_opt.c, arg_set_overlap: "overlap all
    resources (CPUs, memory, GRES)"), so a second step does not wait for the GPU a first step holds; the
    optional argument (`--overlap=force`) is accepted and ignored, and 21.08's no-argument --overlap shared
    CPUs only. Plain --overlap is right on every version we support (22.05-25.11)."""
    argv = ["srun", "--jobid", job_id, "--job-name", step_name, "--overlap", "--nodes", "1", "--ntasks", "1"]
    if gpus_per_node:
        argv += ["--gres", f"gpu:{gpus_per_node}"]
    if working_directory:
        argv += ["--chdir", working_directory]
    argv += container.argv() if container else []
    return [*argv, "bash", "-c", command]


def names_argv(job_ids: list[str]) -> list[str]:
    """The jobs' names as slurmctld holds them (a finished job stays there for MinJobAge, 300 s by default)."""
    return ["squeue", "--noheader", "--states=all", "--jobs", ",".join(job_ids), "--format", f"%i{SEP}%j{RS}"]


def job_names(text: str) -> dict[str, str]:
    """job id -> name from names_argv's answer (framed as squeue's records are: a name may hold a line break)."""
    return {row[0].strip(): row[1] for row in split_sep_records(text, 2, RS + "\n")}


def steps_argv(job_id: str) -> list[str]:
    return ["squeue", "--steps", "--noheader", "--jobs", job_id, "--format", f"%i{SEP}%j"]


def step_ids_named(text: str, step_name: str) -> list[str]:
    """Step ids from steps_argv's answer whose name is step_name."""
    rows = (line.split(SEP, 1) for line in text.splitlines())
    return [row[0] for row in rows if len(row) == 2 and row[1] == step_name]


def scancel_steps_argv(step_ids: list[str]) -> list[str]:
    return ["scancel", *step_ids]


def help_argv(command: str) -> list[str]:
    """sbatch/srun --help: plugins' options (Pyxis's --container-*) appear in it."""
    return [command, "--help"]


def container_step_argv(options: list[str], gpus: int | None) -> list[str]:
    """Pyxis containerizes job steps, not the batch script (its README): a containerized program in a batch
    job runs as one srun step with the container options; the step asks for the GPUs again (a step gets no
    GRES it does not ask for since Slurm 21.08)."""
    gres = ["--gres", f"gpu:{gpus}"] if gpus else []
    return ["srun", "--ntasks", "1", "--nodes", "1", *gres, *options]
