"""A script's directives as submit_job parameters, merged with the parameters the caller gave. Pure.

The result is the *effective* request: what the scheduler will really apply. Policy and feasibility are
checked on it, and the script is rendered from it, so a `#SBATCH --partition=gpu` line cannot take a job
past `allowed_partitions`. A directive that disagrees with an explicit parameter is refused naming both.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .. import validate
from ..errors import InvalidParameter
from .directives import Directive, ScriptDirectives

FromScript = dict[str, tuple[Any, Directive]]  # parameter -> (value, the directive it came from)

_GPU_SPEC = re.compile(r"^(?:([A-Za-z0-9_.+-]+):)?([0-9]+)$")


def _int(d: Directive) -> int:
    value = (d.value or "").strip()
    if not value.isdigit() or int(value) < 1:
        raise InvalidParameter("script_content", f"{d.where()} needs a whole number", "a count like 2")
    return int(value)


def _gpu_spec(d: Directive) -> tuple[str | None, int]:
    """'[type:]N' as --gpus, --gpus-per-node and --gpus-per-task take it."""
    m = _GPU_SPEC.match((d.value or "").strip())
    if not m:
        raise InvalidParameter("script_content", f"{d.where()} is not a GPU count", "[TYPE:]N, e.g. a100:4")
    return m.group(1), int(m.group(2))


def _gres(d: Directive) -> tuple[str | None, int]:
    """--gres=gpu[:type][:N] (gres.conf(5)); N defaults to 1. Only GPU GRES can be checked, one item."""
    items = (d.value or "").split(",")
    m = re.match(r"^gpu(?::([A-Za-z0-9_.+-]+?))?(?::([0-9]+))?$", items[0].strip())
    if len(items) != 1 or not m:
        raise InvalidParameter("script_content", f"{d.where()} asks for GRES hpcbridge cannot check",
                               "--gres=gpu[:TYPE]:N (one item)")
    return m.group(1), int(m.group(2) or 1)


def _add(out: FromScript, name: str, value: Any, d: Directive) -> None:
    out[name] = (value, d)  # later directives win, as in sbatch and qsub


_SLURM_TEXT = {
    "partition": "partition", "account": "account", "qos": "qos", "mem": "memory", "time": "time_limit",
    "job-name": "job_name", "output": "output_file", "error": "error_file", "chdir": "working_directory",
    "array": "array", "dependency": "dependency", "constraint": "constraint",
    "container-image": "container_image", "container-mounts": "container_mounts",
    "container-workdir": "container_workdir", "container-env": "container_env", "container-name": "container_name",
}
_SLURM_INT = {"nodes": "nodes", "ntasks": "ntasks", "cpus-per-task": "cpus_per_task"}
_SLURM_FLAG = {"exclusive": ("exclusive", True), "hold": ("hold", True),
               "container-mount-home": ("no_container_mount_home", False),
               "no-container-mount-home": ("no_container_mount_home", True),
               "container-remap-root": ("container_remap_root", True),
               "no-container-remap-root": ("container_remap_root", False)}


def slurm_values(sd: ScriptDirectives) -> FromScript:
    out: FromScript = {}
    for d in sd.directives:
        if d.option in _SLURM_TEXT:
            if d.option == "partition" and "," in (d.value or ""):
                raise InvalidParameter("script_content", f"{d.where()} names several partitions",
                                       "one partition")
            _add(out, _SLURM_TEXT[d.option], d.value or "", d)
        elif d.option in _SLURM_INT:
            _add(out, _SLURM_INT[d.option], _int(d), d)
        elif d.option in _SLURM_FLAG:
            name, value = _SLURM_FLAG[d.option]
            _add(out, name, value, d)
        elif d.option in ("gres", "gpus-per-node"):
            kind, count = _gres(d) if d.option == "gres" else _gpu_spec(d)
            _add(out, "gpus", count, d)
            if kind:
                _add(out, "gpu_type", kind, d)
        elif d.option in ("gpus", "gpus-per-task"):
            kind, count = _gpu_spec(d)
            _add(out, "gpus_total" if d.option == "gpus" else "gpus_per_task", count, d)
            if kind:
                _add(out, "gpu_type", kind, d)
    return out


def _chunk(d: Directive, out: FromScript, *, torque: bool) -> None:
    """select=N:ncpus=C:ngpus=G:mem=M (PBS Pro) or nodes=N:ppn=C:gpus=G (Torque): one chunk kind only."""
    if "+" in (d.value or ""):
        raise InvalidParameter("script_content", f"{d.where()} has several chunk kinds", "one chunk: N:ncpus=C")
    first, *rest = (d.value or "").split(":")
    if not first.isdigit():
        raise InvalidParameter("script_content", f"{d.where()} does not start with a node count",
                               "N:ncpus=C[:ngpus=G]" if not torque else "N:ppn=C[:gpus=G]")
    _add(out, "nodes", int(first), d)
    names = {"ncpus": "cpus_per_task", "ppn": "cpus_per_task", "ngpus": "gpus", "gpus": "gpus", "mem": "memory"}
    for item in rest:
        key, _, value = item.partition("=")
        if key in names:
            _add(out, names[key], value if key == "mem" else _int(Directive(key, value, d.line, d.text)), d)
        elif "gpu" in key:
            raise InvalidParameter("script_content", f"{d.where()} asks for {key}, which hpcbridge cannot check",
                                   "ngpus=G")


_PBS_TEXT = {"-q": "partition", "-A": "account", "-N": "job_name", "-o": "output_file", "-e": "error_file",
             "-J": "array", "-t": "array", "-l:walltime": "time_limit", "-l:mem": "memory"}


def pbs_values(sd: ScriptDirectives) -> FromScript:
    out: FromScript = {}
    for d in sd.directives:
        if d.option in _PBS_TEXT:
            _add(out, _PBS_TEXT[d.option], d.value or "", d)
        elif d.option == "-h":
            _add(out, "hold", True, d)
        elif d.option == "-W":
            _add(out, "dependency", (d.value or "").removeprefix("depend="), d)
        elif d.option in ("-l:select", "-l:nodes"):
            _chunk(d, out, torque=d.option == "-l:nodes")
        elif d.option == "-l:ncpus":
            _add(out, "cpus_per_task", _int(d), d)
        elif d.option == "-l:ngpus":
            _add(out, "gpus", _int(d), d)
        elif d.option == "-l:place" and "excl" in (d.value or ""):
            _add(out, "exclusive", True, d)
    return out


def _same(name: str, a: Any, b: Any) -> bool:
    if name in ("time_limit",):
        return validate.walltime_minutes(name, str(a)) == validate.walltime_minutes(name, str(b))
    if name == "memory":
        return validate.memory_mb(name, str(a)) == validate.memory_mb(name, str(b))
    return bool(a == b)


def merge(explicit: dict[str, Any], from_script: FromScript,
          defaults: Callable[[str], Any] = lambda name: None) -> dict[str, Any]:
    """explicit (the caller's parameters; None or the default means 'not given') plus the script's values.
    A parameter given both ways with different values is refused, naming the parameter and the line."""
    merged = dict(explicit)
    for name, (value, d) in from_script.items():
        given = explicit.get(name)
        if given is not None and given != defaults(name) and not _same(name, given, value):
            raise InvalidParameter(name, f"{name}={given!r} conflicts with the script's {d.where()}",
                                   "the same value in both places, or only one of them")
        merged[name] = value
    return merged


def provenance(from_script: FromScript) -> list[str]:
    """'partition=gpu (line 2)' for each value the script set: shown in the answer."""
    return [f"{name}={value} (line {d.line})" for name, (value, d) in from_script.items()]
