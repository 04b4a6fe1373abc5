"""sbatch's directive block: its options (sbatch 22.05 `--help`, Pyxis's --container-* included), how
abbreviations resolve, what hpcbridge models, what no directive may do, and the values a block sets.

sbatch(1): "sbatch will stop processing further #SBATCH directives once the first non-comment non-whitespace
line has been reached in the script". Verified on 22.05: a directive must start in column 0; a later directive
overrides an earlier one; long options may be abbreviated to any unique prefix (`--part=gpu`); a `#` word ends
the line; values may be double-quoted. sbatch also obeys `#PBS` and `#BSUB` lines (and `#PBS` wins over
`#SBATCH`) unless run with --ignore-pbs, which hpcbridge always passes.
"""

from __future__ import annotations

import re

from ...errors import InvalidParameter
from ..directives import Directive, ScriptDirectives, read_block, refuse_line, render_kept, words
from ..merge import FromScript, add_value, whole_number

PREFIX = "#SBATCH"

# sbatch 22.05 `--help` long options (Pyxis's --container-* included), to resolve abbreviations as getopt does.
SBATCH_OPTIONS = frozenset(["account", "array", "bb", "bbf", "begin", "chdir", "cluster-constraint", "clusters", "comment", "constraint", "container", "container-env", "container-image", "container-mount-home", "container-mounts", "container-name", "container-remap-root", "container-save", "container-workdir", "container-writable", "contiguous", "core-spec", "cores-per-socket", "cpu-freq", "cpus-per-gpu", "cpus-per-task", "deadline", "delay-boot", "dependency", "distribution", "error", "exclude", "exclusive", "export", "export-file", "extra-node-info", "get-user-env", "gid", "gpu-bind", "gpu-freq", "gpus", "gpus-per-node", "gpus-per-socket", "gpus-per-task", "gres", "gres-flags", "help", "hold", "ignore-pbs", "input", "job-name", "kill-on-invalid-dep", "licenses", "mail-type", "mail-user", "mcs-label", "mem", "mem-per-cpu", "mem-per-gpu", "mincpus", "nice", "no-container-mount-home", "no-container-remap-root", "no-kill", "no-requeue", "nodefile", "nodelist", "nodes", "ntasks", "ntasks-per-core", "ntasks-per-gpu", "ntasks-per-node", "ntasks-per-socket", "open-mode", "output", "overcommit", "oversubscribe", "parsable", "partition", "power", "priority", "profile", "propagate", "qos", "quiet", "reboot", "requeue", "reservation", "signal", "sockets-per-node", "spread-job", "switches", "test-only", "thread-spec", "threads-per-core", "time", "time-min", "tmp", "tres-per-task", "uid", "usage", "use-min-nodes", "verbose", "version", "wait", "wait-all-nodes", "wckey", "wrap"])
_NO_ARGUMENT = frozenset(["contiguous", "hold", "overcommit", "oversubscribe", "requeue", "no-requeue", "parsable", "quiet", "verbose", "wait", "spread-job", "use-min-nodes", "ignore-pbs", "reboot", "help", "usage", "version", "test-only", "container-mount-home", "no-container-mount-home", "container-remap-root", "no-container-remap-root", "container-writable"])
_OPTIONAL_ARGUMENT = frozenset({"exclusive", "get-user-env", "no-kill", "nice", "propagate"})
SBATCH_SHORT = {
    "a": "array", "A": "account", "b": "begin", "c": "cpus-per-task", "C": "constraint", "d": "dependency",
    "D": "chdir", "e": "error", "F": "nodefile", "G": "gpus", "H": "hold", "i": "input", "J": "job-name",
    "k": "no-kill", "L": "licenses", "M": "clusters", "m": "distribution", "n": "ntasks", "N": "nodes",
    "o": "output", "O": "overcommit", "p": "partition", "q": "qos", "Q": "quiet", "s": "oversubscribe",
    "S": "core-spec", "t": "time", "v": "verbose", "W": "wait", "w": "nodelist", "x": "exclude",
}
# Taken out of the script and merged into the request (the service checks the effective values).
SBATCH_MODELLED = frozenset(["partition", "account", "qos", "nodes", "ntasks", "cpus-per-task", "mem", "time", "gres", "gpus", "gpus-per-node", "gpus-per-task", "exclusive", "hold", "job-name", "output", "error", "chdir", "array", "dependency", "constraint", "container-image", "container-mounts", "container-workdir", "container-env", "container-name", "container-mount-home", "no-container-mount-home", "container-remap-root", "no-container-remap-root"])
# What no directive may do through hpcbridge, and why.
SBATCH_FORBIDDEN = {
    "clusters": "sends the job to another cluster, past this cluster's policy",
    "cluster-constraint": "selects another cluster, past this cluster's policy",
    "uid": "submits as another user", "gid": "submits as another group",
    "wait": "makes sbatch wait for the job to end", "test-only": "is the test_only parameter",
    "wrap": "replaces the script", "parsable": "changes sbatch's answer",
    "gpus-per-socket": "asks for GPUs in a form hpcbridge's GPU limits cannot count",
    "tres-per-task": "asks for resources in a form hpcbridge's limits cannot count",
    "container": "runs an OCI bundle outside the approved image directories",
    "container-save": "writes a container image (images are read-only to hpcbridge)",
}
# A newer sbatch may know options this table lacks: those that look like resources are refused, not guessed.
_RESOURCE_WORD = re.compile(r"gpu|gres|tres|cluster")


def _long_name(given: str, line_no: int, text: str) -> str:
    if given in SBATCH_OPTIONS:
        return given
    matches = sorted(o for o in SBATCH_OPTIONS if o.startswith(given))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise refuse_line(line_no, text, f"abbreviates several sbatch options ({', '.join(matches[:6])})",
                      "the option's full name")
    if _RESOURCE_WORD.search(given):
        raise refuse_line(line_no, text, f"uses --{given}, which hpcbridge cannot check against its limits",
                      "the tool parameters (gpus, gpu_type, partition, ...) or --gres=gpu[:TYPE]:N")
    return given  # an option this table does not know and that names no resource: sbatch judges it


def _sbatch_options(words_: list[str], line_no: int, text: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(words_):
        word = words_[i]
        i += 1
        if word.startswith("--"):
            given, eq, value = word[2:].partition("=")
            name = _long_name(given, line_no, text)
            if eq or name in _NO_ARGUMENT or name in _OPTIONAL_ARGUMENT or name not in SBATCH_OPTIONS:
                out.append((name, value if eq else None))
                continue
            if i >= len(words_):
                raise refuse_line(line_no, text, f"gives --{name} without a value", f"--{name}=VALUE")
            out.append((name, words_[i]))
            i += 1
        elif word.startswith("-") and len(word) > 1:
            letter, attached = word[1], word[2:]
            if letter not in SBATCH_SHORT:
                raise refuse_line(line_no, text, f"uses -{letter}, which sbatch does not have", "a known sbatch option")
            name = SBATCH_SHORT[letter]
            if name in _NO_ARGUMENT or name in _OPTIONAL_ARGUMENT:
                out.append((name, None))
                if attached:
                    words_.insert(i, "-" + attached)  # -Hk: more flags in one word
            elif attached:
                out.append((name, attached))
            elif i < len(words_):
                out.append((name, words_[i]))
                i += 1
            else:
                raise refuse_line(line_no, text, f"gives -{letter} without a value", f"-{letter} VALUE")
        else:
            raise refuse_line(line_no, text, f"has {word!r}, which is not an option (heterogeneous jobs are not "
                          "supported)", "#SBATCH --option=value")
    return out


def _sbatch_line(line_no: int, line: str, rest: str, kept: list[str], found: list[Directive]) -> None:
    if rest and not rest[0].isspace():
        raise refuse_line(line_no, line, "is not a directive sbatch accepts", "#SBATCH --option=value")
    for name, value in _sbatch_options(words(rest), line_no, line):
        if name in SBATCH_FORBIDDEN:
            raise refuse_line(line_no, line, f"uses --{name}, which {SBATCH_FORBIDDEN[name]}",
                          "a script without it (see the tool's parameters)")
        if name in SBATCH_MODELLED and not (name == "exclusive" and value):  # --exclusive=user stays
            found.append(Directive(name, value, line_no, line))
        else:
            kept.append(render_kept("#SBATCH", f"--{name}", value, "="))


def read_sbatch(script: str, foreign: tuple[str, ...]) -> ScriptDirectives:
    return read_block(script, PREFIX, foreign, _sbatch_line)


_GPU_SPEC = re.compile(r"^(?:([A-Za-z0-9_.+-]+):)?([0-9]+)$")


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
            add_value(out, _SLURM_TEXT[d.option], d.value or "", d)
        elif d.option in _SLURM_INT:
            add_value(out, _SLURM_INT[d.option], whole_number(d), d)
        elif d.option in _SLURM_FLAG:
            name, value = _SLURM_FLAG[d.option]
            add_value(out, name, value, d)
        elif d.option in ("gres", "gpus-per-node"):
            kind, count = _gres(d) if d.option == "gres" else _gpu_spec(d)
            add_value(out, "gpus", count, d)
            if kind:
                add_value(out, "gpu_type", kind, d)
        elif d.option in ("gpus", "gpus-per-task"):
            kind, count = _gpu_spec(d)
            add_value(out, "gpus_total" if d.option == "gpus" else "gpus_per_task", count, d)
            if kind:
                add_value(out, "gpu_type", kind, d)
    return out
