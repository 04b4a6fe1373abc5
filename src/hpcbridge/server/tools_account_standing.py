"""Fairshare, priority factors and start estimates (issue 28)."""

from __future__ import annotations

from .toolkit import ToolKit


def register(kit: ToolKit) -> None:
    """Adds this part's tools to the `account` toolset."""
