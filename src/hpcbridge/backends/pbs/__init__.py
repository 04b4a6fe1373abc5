"""PBS Professional, OpenPBS and Torque: builders (build.py), parsers (parse.py, jsonfix.py, ids.py,
messages.py), the #PBS block (directives.py) and the backend (backend.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..base import Runner, SchedulerBackend, SchedulerEntry, Writer
from .backend import PbsBackend
from .build import server_env
from .directives import PREFIX

if TYPE_CHECKING:
    from ...config import ClusterConfig


def _make(config: ClusterConfig, run: Runner, write: Writer) -> SchedulerBackend:
    return PbsBackend(run, write, config.pbs_flavor)


ENTRY = SchedulerEntry(name="pbs", description="PBS Pro, OpenPBS, Torque", directive_prefix=PREFIX, make=_make,
                       assign_env=lambda config: server_env(config.pbs_server))

__all__ = ["ENTRY", "PbsBackend"]
