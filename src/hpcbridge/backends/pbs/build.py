"""PBS argv and qsub script builders (pure). qsub(1B), qdel(1B), qhold(1B), qrls(1B), qsig(1B), qalter(1B),
qstat(1B), pbsnodes(8B). Directives go through slurm_build.directive, the one quoting function.

Two flavours: PBS Pro / OpenPBS (`-l select=`, `-J` arrays, `-F json` output, script on stdin) and Torque
(`-l nodes=N:ppn=C`, `-t` arrays, text output only, the script as a file). Torque-style qsub wrappers (Debian's
slurm-wlm-torque) ignore `#PBS` lines and paste their options into a shell command line, so for Torque the
options go on qsub's command line and every value must be free of shell syntax.
"""

from __future__ import annotations

import re
from typing import Literal

from ... import validate
from ...errors import InvalidParameter
from ...models import JobRequest
from ...quoting import directive, shell_join
from ..directives import split_script

Flavor = Literal["pbspro", "torque"]
Option = tuple[str, str | None]

# Characters a Torque option value may hold: the Debian wrapper builds `sbatch ...` as shell text, so
# nothing the shell reads specially (no blanks, quotes, $, ;, globs such as [ ] * ?).
_ARGV_SAFE = re.compile(r"^[A-Za-z0-9_.,:/=+@%\-]+$")


def server_env(server: str | None = None) -> tuple[tuple[str, str], ...]:
    """PBS_SERVER (PBS Pro reads pbs.conf keys from the environment) and PBS_DEFAULT (Torque) select the
    server; every registered scheduler's output variables are removed too (registry.command_env), which the
    Torque-style wrappers, calling Slurm's clients, need."""
    return (("PBS_SERVER", server), ("PBS_DEFAULT", server)) if server else ()


def _walltime(text: str) -> str:
    minutes = validate.walltime_minutes("time_limit", text)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def _tasks_per_node(req: JobRequest) -> int:
    return max(1, -(-(req.ntasks or 1) // (req.nodes or 1)))


def select_statement(req: JobRequest) -> str:
    """-l select=N:ncpus=C[:ngpus=G][:mem=Mmb] (PBS Pro chunks; one chunk per node)."""
    parts = [f"{req.nodes or 1}", f"ncpus={(req.cpus_per_task or 1) * _tasks_per_node(req)}"]
    if req.gpus:
        parts.append(f"ngpus={req.gpus}")
    if req.memory:
        parts.append(f"mem={validate.memory_mb('memory', req.memory)}mb")
    return ":".join(parts)


def nodes_statement(req: JobRequest) -> str:
    """-l nodes=N:ppn=C[:gpus=G] (Torque)."""
    spec = f"{req.nodes or 1}:ppn={(req.cpus_per_task or 1) * _tasks_per_node(req)}"
    return spec + (f":gpus={req.gpus}" if req.gpus else "")


def unsupported(req: JobRequest, flavor: Flavor) -> list[str]:
    """Parameters set on req that PBS cannot express; the service refuses them rather than drop them."""
    names = [("gpu_type", req.gpu_type), ("gpus_per_task", req.gpus_per_task), ("gpus (total)", req.gpus_total), ("constraint", req.constraint),
             ("qos", req.qos), ("container_image", req.container)]
    if flavor == "torque":
        names.append(("exclusive", req.exclusive))
    return [name for name, value in names if value]


def qsub_options(req: JobRequest, flavor: Flavor = "pbspro") -> list[Option]:
    torque = flavor == "torque"
    opts: list[Option] = [(flag, value) for flag, value in (
        ("-N", req.job_name), ("-q", req.partition), ("-A", req.account), ("-o", req.output_file),
        ("-e", req.error_file)) if value]
    opts.append(("-l", f"nodes={nodes_statement(req)}" if torque else f"select={select_statement(req)}"))
    if torque and req.memory:
        opts.append(("-l", f"mem={validate.memory_mb('memory', req.memory)}mb"))
    if req.exclusive and not torque:
        opts.append(("-l", "place=excl"))
    if req.time_limit:
        opts.append(("-l", f"walltime={_walltime(req.time_limit)}"))
    if req.dependency:
        opts.append(("-W", f"depend={req.dependency}"))
    if req.array:
        opts.append(("-t" if torque else "-J", req.array))
    if not req.error_file and req.output_file:
        opts.append(("-j", "oe"))
    if req.hold:
        opts.append(("-h", None))
    return opts


def render_script(req: JobRequest, flavor: Flavor = "pbspro", *, directives: bool = True) -> str:
    """Shebang, #PBS directives (unless they travel as qsub arguments), exported variables, then the body."""
    shebang, head, body = split_script(req.script_content)
    lines = [shebang]
    if directives:
        lines += [directive(flag, value, "#PBS", " ") for flag, value in qsub_options(req, flavor)]
    else:  # the options travel on qsub's command line; say so, so the script shown is the whole story
        lines.append("# submitted as: " + shell_join([*qsub_argv(qsub_options(req, flavor)), "SCRIPT"]))
    lines += head  # the script's own remaining #PBS lines, before the first command
    if req.working_directory:
        lines.append(shell_join(["cd", req.working_directory]) + " || exit 1")
    lines += [shell_join(["export", f"{validate.env_name(k)}={v}"]) for k, v in req.env.items()]
    return "\n".join([*lines, *body]) + "\n"


def qsub_argv(options: list[Option] | None = None, script_path: str | None = None) -> list[str]:
    """PBS Pro reads the script from stdin when none is named; Torque (and its wrappers) need a file."""
    argv = ["qsub"]
    for flag, value in options or []:
        if value is not None and not _ARGV_SAFE.match(value):
            raise InvalidParameter(_PARAMETER.get(flag, flag.lstrip("-")),
                                   f"{value!r} holds characters this cluster's qsub cannot take safely",
                                   "letters, digits and . _ , : / = + @ % - (no spaces)")
        argv += [flag] if value is None else [flag, value]
    return argv + ([script_path] if script_path else [])


_PARAMETER = {"-N": "job_name", "-q": "partition", "-A": "account", "-o": "output_file", "-e": "error_file",
              "-W": "dependency", "-t": "array", "-J": "array", "-l": "resources"}


def qdel_argv(job_id: str, force: bool = False, flavor: Flavor = "pbspro") -> list[str]:
    """Forced deletion: PBS Pro `qdel -W force`, Torque `qdel -p` (purge)."""
    if not force:
        return ["qdel", job_id]
    return ["qdel", "-p", job_id] if flavor == "torque" else ["qdel", "-W", "force", job_id]


def qsig_argv(job_id: str, signal: str) -> list[str]:
    return ["qsig", "-s", signal, job_id]


def qhold_argv(job_id: str) -> list[str]:
    # -h u explicitly: a user hold is all an ordinary user may set (o and s need operator/manager rights)
    return ["qhold", "-h", "u", job_id]


def qrls_argv(job_id: str) -> list[str]:
    return ["qrls", "-h", "u", job_id]


def qalter_argv(job_id: str, time_limit: str | None = None, job_name: str | None = None,
                select: str | None = None, *, account: str | None = None,
                dependency: str | None = None) -> list[str] | None:
    """qalter for modify_job (None: nothing for qalter to change). The queue is qmove's (qalter has no -q)."""
    options = [*(["-N", job_name] if job_name else []),
               *(["-A", account] if account else []),
               *(["-W", f"depend={dependency}"] if dependency else []),
               *(["-l", f"walltime={_walltime(time_limit)}"] if time_limit else []),
               *(["-l", f"select={select}"] if select else [])]
    return ["qalter", *options, job_id] if options else None


def qmove_argv(queue: str, job_id: str) -> list[str]:
    return ["qmove", queue, job_id]


def altered_select(current: str, nodes: int | None, gpus: int | None) -> str:
    """The job's select statement with a new chunk count and/or ngpus per chunk. qalter replaces the whole
    statement, so the rest (ncpus, mem, ...) is kept from the job's Resource_List.select; a statement of
    several chunk kinds (`1:ncpus=4+2:ncpus=1`) is not guessed at."""
    if "+" in current or not current:
        raise InvalidParameter("nodes" if nodes else "gpus", f"the job's select statement {current!r} is not one "
                               "kind of chunk, so a new node or GPU count cannot be placed in it",
                               "cancel the job and submit it again with the new values")
    count, _, rest = current.partition(":")
    if not count.isdigit():  # `select=ncpus=4` means one chunk
        count, rest = "1", current
    resources = [r for r in rest.split(":") if r and not (gpus is not None and r.startswith("ngpus="))]
    if gpus is not None:
        resources.append(f"ngpus={gpus}")
    return ":".join([str(nodes or count), *resources])


def qstat_argv(job_id: str | None = None, history: bool = False, json: bool = True,
               subjobs: bool = False) -> list[str]:
    """-t lists an array's subjobs one per record (PBS Pro; Torque's qstat too, not its wrappers)."""
    return ["qstat", "-f", *(["-t"] if subjobs else []), *(["-x"] if history else []),
            *(["-F", "json"] if json else []), *([job_id] if job_id else [])]


def queues_argv(json: bool = True) -> list[str]:
    return ["qstat", "-Q", "-f", *(["-F", "json"] if json else [])]


def nodes_argv(json: bool = True) -> list[str]:
    return ["pbsnodes", "-a", *(["-F", "json"] if json else [])]


def server_argv(json: bool = True) -> list[str]:
    return ["qstat", "-B", "-f", *(["-F", "json"] if json else [])]


def server_list_argv() -> list[str]:
    """qmgr's server listing: what the PBS plan reads privileges from; a user may list (not set) the server."""
    return ["qmgr", "-c", "list server"]


def version_argv() -> list[str]:
    return ["qstat", "--version"]
