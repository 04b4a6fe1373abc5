"""Metric series users already write: TensorBoard event files, JSONL/CSV logs (issue 27)."""

from __future__ import annotations

from .toolkit import ToolKit


def register(kit: ToolKit) -> None:
    """Adds this part's tools to the `watch` toolset."""
