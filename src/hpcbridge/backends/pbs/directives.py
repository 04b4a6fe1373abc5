"""qsub's directive block (qsub(1B) reads `#PBS` lines up to the first executable line): its flags, the
`-l` resources hpcbridge models, what no directive may do, and the values a block sets (PBS Pro select
chunks, Torque nodes=N:ppn=C)."""

from __future__ import annotations

from ...errors import InvalidParameter
from ..directives import Directive, ScriptDirectives, read_block, refuse_line, render_kept, words
from ..merge import FromScript, add_value, whole_number

PREFIX = "#PBS"

PBS_MODELLED = frozenset({"-q", "-A", "-N", "-l", "-J", "-t", "-W", "-h", "-o", "-e"})
_PBS_NO_ARGUMENT = frozenset({"-h", "-V", "-z", "-f", "-X", "-I"})
_PBS_FORBIDDEN = {"-I": "starts an interactive job", "-X": "forwards X11 for an interactive job"}
# -l resources read into the request; others are kept unless they look like GPUs.
_PBS_RESOURCES = frozenset({"walltime", "select", "nodes", "ncpus", "ngpus", "mem", "place"})


def _pbs_options(words_: list[str], line_no: int, text: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(words_):
        word = words_[i]
        i += 1
        if not word.startswith("-") or len(word) < 2:
            raise refuse_line(line_no, text, f"has {word!r}, which is not an option", "#PBS -x value")
        flag, attached = word[:2], word[2:]
        if flag in _PBS_NO_ARGUMENT:
            out.append((flag, None))
        elif attached:
            out.append((flag, attached))
        elif i < len(words_):
            out.append((flag, words_[i]))
            i += 1
        else:
            raise refuse_line(line_no, text, f"gives {flag} without a value", f"{flag} VALUE")
    return out


def _pbs_resources(value: str, line_no: int, text: str) -> list[tuple[str, str]]:
    items = []
    for item in value.split(","):
        key, eq, val = item.partition("=")
        if not eq:
            raise refuse_line(line_no, text, f"has -l {item!r} without a value", "-l name=value")
        if key not in _PBS_RESOURCES and "gpu" in key.lower():
            raise refuse_line(line_no, text, f"asks for -l {key}, which hpcbridge cannot check against its limits",
                          "-l select=N:ngpus=G or the gpus parameter")
        items.append((key, val))
    return items


def _pbs_line(line_no: int, line: str, rest: str, kept: list[str], found: list[Directive]) -> None:
    for flag, value in _pbs_options(words(rest), line_no, line):
        if flag in _PBS_FORBIDDEN:
            raise refuse_line(line_no, line, f"uses {flag}, which {_PBS_FORBIDDEN[flag]}", "a batch script")
        if flag == "-l":
            for key, val in _pbs_resources(value or "", line_no, line):
                if key in _PBS_RESOURCES:
                    found.append(Directive(f"-l:{key}", val, line_no, line))
                else:
                    kept.append(render_kept("#PBS", "-l", f"{key}={val}", " "))
        elif flag == "-W" and not (value or "").startswith("depend="):
            kept.append(render_kept("#PBS", flag, value, " "))
        elif flag in PBS_MODELLED:
            found.append(Directive(flag, value, line_no, line))
        else:
            kept.append(render_kept("#PBS", flag, value, " "))


def read_pbs(script: str, foreign: tuple[str, ...]) -> ScriptDirectives:
    return read_block(script, PREFIX, foreign, _pbs_line)


def _chunk(d: Directive, out: FromScript, *, torque: bool) -> None:
    """select=N:ncpus=C:ngpus=G:mem=M (PBS Pro) or nodes=N:ppn=C:gpus=G (Torque): one chunk kind only."""
    if "+" in (d.value or ""):
        raise InvalidParameter("script_content", f"{d.where()} has several chunk kinds", "one chunk: N:ncpus=C")
    first, *rest = (d.value or "").split(":")
    if not first.isdigit():
        raise InvalidParameter("script_content", f"{d.where()} does not start with a node count",
                               "N:ncpus=C[:ngpus=G]" if not torque else "N:ppn=C[:gpus=G]")
    add_value(out, "nodes", int(first), d)
    names = {"ncpus": "cpus_per_task", "ppn": "cpus_per_task", "ngpus": "gpus", "gpus": "gpus", "mem": "memory"}
    for item in rest:
        key, _, value = item.partition("=")
        if key in names:
            add_value(out, names[key], value if key == "mem" else whole_number(Directive(key, value, d.line, d.text)), d)
        elif "gpu" in key:
            raise InvalidParameter("script_content", f"{d.where()} asks for {key}, which hpcbridge cannot check",
                                   "ngpus=G")


_PBS_TEXT = {"-q": "partition", "-A": "account", "-N": "job_name", "-o": "output_file", "-e": "error_file",
             "-J": "array", "-t": "array", "-l:walltime": "time_limit", "-l:mem": "memory"}


def pbs_values(sd: ScriptDirectives) -> FromScript:
    out: FromScript = {}
    for d in sd.directives:
        if d.option in _PBS_TEXT:
            add_value(out, _PBS_TEXT[d.option], d.value or "", d)
        elif d.option == "-h":
            add_value(out, "hold", True, d)
        elif d.option == "-W":
            add_value(out, "dependency", (d.value or "").removeprefix("depend="), d)
        elif d.option in ("-l:select", "-l:nodes"):
            _chunk(d, out, torque=d.option == "-l:nodes")
        elif d.option == "-l:ncpus":
            add_value(out, "cpus_per_task", whole_number(d), d)
        elif d.option == "-l:ngpus":
            add_value(out, "gpus", whole_number(d), d)
        elif d.option == "-l:place" and "excl" in (d.value or ""):
            add_value(out, "exclusive", True, d)
    return out
