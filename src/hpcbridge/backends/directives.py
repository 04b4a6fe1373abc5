"""A batch script's own directive block, read the way sbatch and qsub read it: the parts every scheduler
shares (the block ends at the first command, words honour double quotes, a `#` word ends the line, a later
directive wins, another scheduler's directives are refused). Pure: text in, values out. Each scheduler's
folder holds its own option tables and line reader (backends/slurm/directives.py, backends/pbs/directives.py).

Options that policy and feasibility judge (partition, account, GPUs, nodes, time, ...) are taken out of the
block and returned as values, so the service merges them into the request and checks the *effective* job;
the rest stay in the script. Options that would escape those checks are refused, naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidParameter
from ..quoting import directive


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


def refuse_line(line_no: int, text: str, problem: str, form: str) -> InvalidParameter:
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


def split_script(script: str) -> tuple[str, list[str], list[str]]:
    """(shebang, the rest of the directive block, the body from the first command on)."""
    lines = script.replace("\r\n", "\n").rstrip("\n").split("\n")
    shebang = "#!/bin/bash"
    if lines and lines[0].startswith("#!"):
        shebang, lines = lines[0], lines[1:]
    end = head_end(lines)
    return shebang, lines[:end], lines[end:]


def render_kept(prefix: str, flag: str, value: str | None, sep: str) -> str:
    return directive(flag, value, prefix, sep)


LineReader = Callable[[int, str, str, list[str], list[Directive]], None]


def read_block(script: str, prefix: str, foreign: tuple[str, ...], read_line: LineReader) -> ScriptDirectives:
    """The directive block (up to the first command): `foreign` directives (other schedulers' prefixes, which
    this scheduler's submit command would ignore or, worse, obey) refused, `prefix` lines handed to read_line
    (which appends what it models to `found` and what stays to `kept`), other lines kept as they are."""
    lines = script.replace("\r\n", "\n").split("\n")
    end = head_end(lines)
    kept: list[str] = []
    found: list[Directive] = []
    for i, line in enumerate(lines[:end]):
        _refuse_foreign(line, i + 1, prefix, foreign)
        if line.startswith(prefix):
            read_line(i + 1, line, line[len(prefix):], kept, found)
        else:
            kept.append(line)
    return ScriptDirectives(tuple(found), "\n".join(kept + lines[end:]))


def _refuse_foreign(line: str, line_no: int, native: str, foreign: tuple[str, ...]) -> None:
    for prefix in foreign:
        if line.startswith(prefix) and not line.startswith(native):
            raise refuse_line(line_no, line, f"is a {prefix} directive, which this cluster's scheduler would "
                              "not apply as written", f"{native} lines or the tool parameters")
