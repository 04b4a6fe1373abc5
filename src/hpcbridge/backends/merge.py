"""A script's directives as submit_job parameters (each scheduler's folder turns its directives into them), merged with the parameters the caller gave. Pure.

The result is the *effective* request: what the scheduler will really apply. Policy and feasibility are
checked on it, and the script is rendered from it, so a `#SBATCH --partition=gpu` line cannot take a job
past `allowed_partitions`. A directive that disagrees with an explicit parameter is refused naming both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import validate
from ..errors import InvalidParameter
from .directives import Directive

FromScript = dict[str, tuple[Any, Directive]]  # parameter -> (value, the directive it came from)


def whole_number(d: Directive) -> int:
    value = (d.value or "").strip()
    if not value.isdigit() or int(value) < 1:
        raise InvalidParameter("script_content", f"{d.where()} needs a whole number", "a count like 2")
    return int(value)


def add_value(out: FromScript, name: str, value: Any, d: Directive) -> None:
    out[name] = (value, d)  # later directives win, as in sbatch and qsub


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
