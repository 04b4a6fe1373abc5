"""A batch script's own directive block, read the way sbatch and qsub read it. Pure: text in, values out.

sbatch(1): "sbatch will stop processing further #SBATCH directives once the first non-comment non-whitespace
line has been reached in the script". Verified on 22.05: a directive must start in column 0; a later directive
overrides an earlier one; long options may be abbreviated to any unique prefix (`--part=gpu`); a `#` word ends
the line; values may be double-quoted. sbatch also obeys `#PBS` and `#BSUB` lines (and `#PBS` wins over
`#SBATCH`) unless run with --ignore-pbs, which hpcbridge always passes. qsub(1B) reads `#PBS` lines up to the
first executable line the same way.

Options that policy and feasibility judge (partition, account, GPUs, nodes, time, ...) are taken out of the
block and returned as values, so the service merges them into the request and checks the *effective* job;
the rest stay in the script. Options that would escape those checks (another cluster, another user, waiting
inside sbatch, GPU forms hpcbridge does not model) are refused, naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidParameter
from ..quoting import directive

# sbatch 22.05 `--help` long options (Pyxis's --container-* included), to resolve abbreviations as getopt does.
SBATCH_OPTIONS = frozenset("""
account array bb bbf begin chdir cluster-constraint clusters comment constraint container container-env
container-image container-mount-home container-mounts container-name container-remap-root container-save
container-workdir container-writable contiguous core-spec cores-per-socket cpu-freq cpus-per-gpu cpus-per-task
deadline delay-boot dependency distribution error exclude exclusive export export-file extra-node-info
get-user-env gid gpu-bind gpu-freq gpus gpus-per-node gpus-per-socket gpus-per-task gres gres-flags help hold
ignore-pbs input job-name kill-on-invalid-dep licenses mail-type mail-user mcs-label mem mem-per-cpu mem-per-gpu
mincpus nice no-container-mount-home no-container-remap-root no-kill no-requeue nodefile nodelist nodes ntasks
ntasks-per-core ntasks-per-gpu ntasks-per-node ntasks-per-socket open-mode output overcommit oversubscribe
parsable partition power priority profile propagate qos quiet reboot requeue reservation signal
sockets-per-node spread-job switches test-only thread-spec threads-per-core time time-min tmp tres-per-task uid
usage use-min-nodes verbose version wait wait-all-nodes wckey wrap
""".split())
_NO_ARGUMENT = frozenset("""
contiguous hold overcommit oversubscribe requeue no-requeue parsable quiet verbose wait spread-job use-min-nodes
ignore-pbs reboot help usage version test-only container-mount-home no-container-mount-home container-remap-root
no-container-remap-root container-writable
""".split())
_OPTIONAL_ARGUMENT = frozenset({"exclusive", "get-user-env", "no-kill", "nice", "propagate"})
SBATCH_SHORT = {
    "a": "array", "A": "account", "b": "begin", "c": "cpus-per-task", "C": "constraint", "d": "dependency",
    "D": "chdir", "e": "error", "F": "nodefile", "G": "gpus", "H": "hold", "i": "input", "J": "job-name",
    "k": "no-kill", "L": "licenses", "M": "clusters", "m": "distribution", "n": "ntasks", "N": "nodes",
    "o": "output", "O": "overcommit", "p": "partition", "q": "qos", "Q": "quiet", "s": "oversubscribe",
    "S": "core-spec", "t": "time", "v": "verbose", "W": "wait", "w": "nodelist", "x": "exclude",
}
# Taken out of the script and merged into the request (the service checks the effective values).
SBATCH_MODELLED = frozenset("""
partition account qos nodes ntasks cpus-per-task mem time gres gpus gpus-per-node gpus-per-task exclusive hold
job-name output error chdir array dependency constraint container-image container-mounts container-workdir
container-env container-name container-mount-home no-container-mount-home container-remap-root
no-container-remap-root
""".split())
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

PBS_MODELLED = frozenset({"-q", "-A", "-N", "-l", "-J", "-t", "-W", "-h", "-o", "-e"})
_PBS_NO_ARGUMENT = frozenset({"-h", "-V", "-z", "-f", "-X", "-I"})
_PBS_FORBIDDEN = {"-I": "starts an interactive job", "-X": "forwards X11 for an interactive job"}
# -l resources read into the request; others are kept unless they look like GPUs.
_PBS_RESOURCES = frozenset({"walltime", "select", "nodes", "ncpus", "ngpus", "mem", "place"})

_FOREIGN = {"slurm": ("#PBS", "#BSUB"), "pbs": ("#SBATCH", "#BSUB")}


@dataclass(frozen=True)
class Directive:
    option: str  # sbatch: the long option name ("partition"); PBS: the flag ("-q"), "-l" items as "-l:walltime"
    value: str | None
    line: int  # 1-based, in the script as given
    text: str  # the line as written, for messages

    def where(self) -> str:
        return f"line {self.line} '{self.text.strip()[:80]}'"


@dataclass(frozen=True)
class ScriptDirectives:
    """The modelled directives (in order: a later one wins) and the script without them."""

    directives: tuple[Directive, ...]
    script: str  # the user's script with modelled directive lines taken out (kept options re-written)

    def last(self, option: str) -> Directive | None:
        found = [d for d in self.directives if d.option == option]
        return found[-1] if found else None


def _refuse(line_no: int, text: str, problem: str, form: str) -> InvalidParameter:
    return InvalidParameter("script_content", f"line {line_no} '{text.strip()[:80]}' {problem}", form)


def words(rest: str) -> list[str]:
    """sbatch/qsub split a directive on blanks, honour double quotes (no escapes) and stop at a `#` word."""
    out: list[str] = []
    for match in re.finditer(r'(?:"[^"]*"|[^\s"])+|"[^"]*$', rest):
        word = match.group(0)
        if word.startswith("#"):
            break
        out.append(word.replace('"', ""))
    return out


def head_end(lines: list[str]) -> int:
    """Index of the first line after the directive block (the first command), counting a shebang as part."""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return i
    return len(lines)


def _long_name(given: str, line_no: int, text: str) -> str:
    if given in SBATCH_OPTIONS:
        return given
    matches = sorted(o for o in SBATCH_OPTIONS if o.startswith(given))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise _refuse(line_no, text, f"abbreviates several sbatch options ({', '.join(matches[:6])})",
                      "the option's full name")
    if _RESOURCE_WORD.search(given):
        raise _refuse(line_no, text, f"uses --{given}, which hpcbridge cannot check against its limits",
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
                raise _refuse(line_no, text, f"gives --{name} without a value", f"--{name}=VALUE")
            out.append((name, words_[i]))
            i += 1
        elif word.startswith("-") and len(word) > 1:
            letter, attached = word[1], word[2:]
            if letter not in SBATCH_SHORT:
                raise _refuse(line_no, text, f"uses -{letter}, which sbatch does not have", "a known sbatch option")
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
                raise _refuse(line_no, text, f"gives -{letter} without a value", f"-{letter} VALUE")
        else:
            raise _refuse(line_no, text, f"has {word!r}, which is not an option (heterogeneous jobs are not "
                          "supported)", "#SBATCH --option=value")
    return out


def _render_kept(prefix: str, flag: str, value: str | None, sep: str) -> str:
    return directive(flag, value, prefix, sep)


LineReader = Callable[[int, str, str, list[str], list[Directive]], None]


def _read_block(script: str, prefix: str, scheduler: str, read_line: LineReader) -> ScriptDirectives:
    """The directive block (up to the first command): foreign directives refused, `prefix` lines handed to
    read_line (which appends what it models to `found` and what stays to `kept`), other lines kept as they are."""
    lines = script.replace("\r\n", "\n").split("\n")
    end = head_end(lines)
    kept: list[str] = []
    found: list[Directive] = []
    for i, line in enumerate(lines[:end]):
        _refuse_foreign(line, i + 1, scheduler)
        if line.startswith(prefix):
            read_line(i + 1, line, line[len(prefix):], kept, found)
        else:
            kept.append(line)
    return ScriptDirectives(tuple(found), "\n".join(kept + lines[end:]))


def _sbatch_line(line_no: int, line: str, rest: str, kept: list[str], found: list[Directive]) -> None:
    if rest and not rest[0].isspace():
        raise _refuse(line_no, line, "is not a directive sbatch accepts", "#SBATCH --option=value")
    for name, value in _sbatch_options(words(rest), line_no, line):
        if name in SBATCH_FORBIDDEN:
            raise _refuse(line_no, line, f"uses --{name}, which {SBATCH_FORBIDDEN[name]}",
                          "a script without it (see the tool's parameters)")
        if name in SBATCH_MODELLED and not (name == "exclusive" and value):  # --exclusive=user stays
            found.append(Directive(name, value, line_no, line))
        else:
            kept.append(_render_kept("#SBATCH", f"--{name}", value, "="))


def read_sbatch(script: str) -> ScriptDirectives:
    return _read_block(script, "#SBATCH", "slurm", _sbatch_line)


def _refuse_foreign(line: str, line_no: int, scheduler: str) -> None:
    for prefix in _FOREIGN[scheduler]:
        if line.startswith(prefix):
            native = "#SBATCH" if scheduler == "slurm" else "#PBS"
            raise _refuse(line_no, line, f"is a {prefix} directive, which this {scheduler.upper()} cluster would "
                          "not apply as written", f"{native} lines or the tool parameters")


def _pbs_options(words_: list[str], line_no: int, text: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(words_):
        word = words_[i]
        i += 1
        if not word.startswith("-") or len(word) < 2:
            raise _refuse(line_no, text, f"has {word!r}, which is not an option", "#PBS -x value")
        flag, attached = word[:2], word[2:]
        if flag in _PBS_NO_ARGUMENT:
            out.append((flag, None))
        elif attached:
            out.append((flag, attached))
        elif i < len(words_):
            out.append((flag, words_[i]))
            i += 1
        else:
            raise _refuse(line_no, text, f"gives {flag} without a value", f"{flag} VALUE")
    return out


def _pbs_resources(value: str, line_no: int, text: str) -> list[tuple[str, str]]:
    items = []
    for item in value.split(","):
        key, eq, val = item.partition("=")
        if not eq:
            raise _refuse(line_no, text, f"has -l {item!r} without a value", "-l name=value")
        if key not in _PBS_RESOURCES and "gpu" in key.lower():
            raise _refuse(line_no, text, f"asks for -l {key}, which hpcbridge cannot check against its limits",
                          "-l select=N:ngpus=G or the gpus parameter")
        items.append((key, val))
    return items


def _pbs_line(line_no: int, line: str, rest: str, kept: list[str], found: list[Directive]) -> None:
    for flag, value in _pbs_options(words(rest), line_no, line):
        if flag in _PBS_FORBIDDEN:
            raise _refuse(line_no, line, f"uses {flag}, which {_PBS_FORBIDDEN[flag]}", "a batch script")
        if flag == "-l":
            for key, val in _pbs_resources(value or "", line_no, line):
                if key in _PBS_RESOURCES:
                    found.append(Directive(f"-l:{key}", val, line_no, line))
                else:
                    kept.append(_render_kept("#PBS", "-l", f"{key}={val}", " "))
        elif flag == "-W" and not (value or "").startswith("depend="):
            kept.append(_render_kept("#PBS", flag, value, " "))
        elif flag in PBS_MODELLED:
            found.append(Directive(flag, value, line_no, line))
        else:
            kept.append(_render_kept("#PBS", flag, value, " "))


def read_pbs(script: str) -> ScriptDirectives:
    return _read_block(script, "#PBS", "pbs", _pbs_line)
