"""The one list of schedulers. Config's accepted `scheduler` values, the CLI's choices, the MCP resource URI
schemes, the directive prefixes a script may not carry and the backend each cluster gets all come from here.

A new scheduler is a folder backends/<name>/ whose package exports `ENTRY` (a base.SchedulerEntry), plus its
line below. `register` adds one at run time (a plugin, or a test's toy scheduler) without editing this file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..models import EnvSpec
from . import pbs, slurm
from .base import Runner, SchedulerBackend, SchedulerEntry, Writer

if TYPE_CHECKING:
    from ..config import ClusterConfig

_ENTRIES: dict[str, SchedulerEntry] = {e.name: e for e in (slurm.ENTRY, pbs.ENTRY)}

# Directives of schedulers hpcbridge does not drive that a submit command may still obey (sbatch reads
# `#BSUB` lines unless --ignore-pbs): refused in every script, like another registered scheduler's.
UNDRIVEN_DIRECTIVES = ("#BSUB",)


def register(entry: SchedulerEntry) -> None:
    _ENTRIES[entry.name] = entry


def unregister(name: str) -> None:
    _ENTRIES.pop(name, None)


def names() -> tuple[str, ...]:
    return tuple(_ENTRIES)


def entry(name: str) -> SchedulerEntry:
    try:
        return _ENTRIES[name]
    except KeyError:
        raise KeyError(f"unknown scheduler {name!r}; known: {', '.join(_ENTRIES)}") from None


def make_backend(config: ClusterConfig, run: Runner, write: Writer) -> SchedulerBackend:
    return entry(config.scheduler).make(config, run, write)


def command_env(config: ClusterConfig) -> EnvSpec:
    """LC_ALL=C, every registered scheduler's output-format variables removed, and what this one sets."""
    unset = tuple(dict.fromkeys(v for e in _ENTRIES.values() for v in e.output_env))
    return EnvSpec(unset=unset, assign=(("LC_ALL", "C"), *entry(config.scheduler).assign_env(config)))


def foreign_directives(name: str) -> tuple[str, ...]:
    """The directive prefixes a script for `name` may not carry: every other scheduler's."""
    own = entry(name).directive_prefix
    return tuple(e.directive_prefix for e in _ENTRIES.values() if e.directive_prefix != own) + UNDRIVEN_DIRECTIVES
