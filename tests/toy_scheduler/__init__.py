"""toyq: a scheduler that exists only in this test tree, to prove the seam. Four files, as a real new
scheduler needs: build.py (argv and script builders), parse.py (output parsers), backend.py (the backend) and
this package's ENTRY (its registration). A real scheduler adds one line to backends/registry.py; this one
is registered at run time by tests/unit/test_toy_scheduler.py, touching nothing under src/."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpcbridge.backends.base import Runner, SchedulerBackend, SchedulerEntry, Writer

from .backend import ToyBackend
from .build import PREFIX

if TYPE_CHECKING:
    from hpcbridge.config import ClusterConfig


def _make(config: ClusterConfig, run: Runner, write: Writer) -> SchedulerBackend:
    return ToyBackend(run)


ENTRY = SchedulerEntry(name="toyq", description="a toy queue (tests only)", directive_prefix=PREFIX, make=_make,
                       output_env=("TOYQ_FORMAT",), assign_env=lambda config: (("TOYQ_SERVER", "toy01"),))
