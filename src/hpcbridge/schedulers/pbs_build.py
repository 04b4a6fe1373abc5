"""PBS argv and qsub script builders (pure), for the PBS backend (issue 5). qsub(1B), qdel(1B), qhold(1B),
qrls(1B), qalter(1B). Directives go through slurm_build.directive, the one quoting function."""

from __future__ import annotations

from .. import validate
from ..quoting import shell_join
from .slurm_build import JobRequest, directive


def _walltime(text: str) -> str:
    minutes = validate.walltime_minutes("time_limit", text)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def select_statement(req: JobRequest) -> str:
    """-l select=N:ncpus=C[:ngpus=G][:mem=Mmb] (PBS Pro chunks; one chunk per node)."""
    tasks_per_node = max(1, -(-(req.ntasks or 1) // (req.nodes or 1)))
    parts = [f"{req.nodes or 1}", f"ncpus={(req.cpus_per_task or 1) * tasks_per_node}"]
    if req.gpus:
        parts.append(f"ngpus={req.gpus}")
    if req.memory:
        parts.append(f"mem={validate.memory_mb('memory', req.memory)}mb")
    return ":".join(parts)


def render_script(req: JobRequest, torque: bool = False) -> str:
    """#PBS directives, exported variables, then the body. Torque spells arrays -t, PBS Pro -J."""
    body = req.script_content.replace("\r\n", "\n")
    shebang = "#!/bin/bash"
    if body.startswith("#!"):
        shebang, _, body = body.partition("\n")
    d = []
    for flag, value in (("-N", req.job_name), ("-q", req.partition), ("-A", req.account), ("-o", req.output_file),
                        ("-e", req.error_file)):
        if value:
            d.append(directive(flag, value, "#PBS", " "))
    d.append(directive("-l", f"select={select_statement(req)}", "#PBS", " ") if not torque else
             directive("-l", f"nodes={req.nodes or 1}:ppn={req.cpus_per_task or 1}", "#PBS", " "))
    if req.time_limit:
        d.append(directive("-l", f"walltime={_walltime(req.time_limit)}", "#PBS", " "))
    if req.dependency:
        d.append(directive("-W", f"depend={req.dependency}", "#PBS", " "))
    if req.array:
        d.append(directive("-t" if torque else "-J", req.array, "#PBS", " "))
    if not req.error_file and req.output_file:
        d.append(directive("-j", "oe", "#PBS", " "))
    if req.hold:
        d.append(directive("-h", None, "#PBS"))
    lines = [shebang, *d]
    if req.working_directory:
        lines.append(shell_join(["cd", req.working_directory]) + " || exit 1")
    lines += [shell_join(["export", f"{validate.env_name(k)}={v}"]) for k, v in req.env.items()]
    return "\n".join(lines) + "\n" + body.rstrip("\n") + "\n"


def qsub_argv(script_path: str | None = None) -> list[str]:
    """PBS Pro reads the script from stdin when none is named; Torque wrappers need a file."""
    return ["qsub", *([script_path] if script_path else [])]


def qdel_argv(job_id: str, force: bool = False) -> list[str]:
    return ["qdel", *(["-W", "force"] if force else []), job_id]


def qhold_argv(job_id: str) -> list[str]:
    return ["qhold", job_id]


def qrls_argv(job_id: str) -> list[str]:
    return ["qrls", job_id]


def qalter_walltime_argv(job_id: str, time_limit: str) -> list[str]:
    return ["qalter", "-l", f"walltime={_walltime(time_limit)}", job_id]


def qstat_argv(job_id: str | None = None, history: bool = False, json: bool = True) -> list[str]:
    return ["qstat", "-f", *(["-x"] if history else []), *(["-F", "json"] if json else []),
            *([job_id] if job_id else [])]
