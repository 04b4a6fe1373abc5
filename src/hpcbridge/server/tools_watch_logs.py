"""Logs an agent can page, search and follow (issue 27)."""

from __future__ import annotations

from .toolkit import ToolKit


def register(kit: ToolKit) -> None:
    """Adds this part's tools to the `watch` toolset."""
