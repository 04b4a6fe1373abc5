"""Slurm (22.05 to 25.11): builders (build.py), parsers (text.py, jsonout.py, records.py, gres.py, states.py,
messages.py, ids.py), the #SBATCH block (directives.py), the backend (backend.py) and interactive work
(interactive.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..base import Runner, SchedulerBackend, SchedulerEntry, Writer
from .backend import SlurmBackend
from .build import OUTPUT_ENV
from .directives import PREFIX

if TYPE_CHECKING:
    from ...config import ClusterConfig


def _make(config: ClusterConfig, run: Runner, write: Writer) -> SchedulerBackend:
    return SlurmBackend(run)


ENTRY = SchedulerEntry(name="slurm", description="Slurm", directive_prefix=PREFIX, make=_make,
                       output_env=OUTPUT_ENV)

__all__ = ["ENTRY", "SlurmBackend"]
