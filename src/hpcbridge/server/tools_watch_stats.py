"""Live resource use of a running job: GPUs, CPU, memory (issue 27)."""

from __future__ import annotations

from .toolkit import ToolKit


def register(kit: ToolKit) -> None:
    """Adds this part's tools to the `watch` toolset."""
