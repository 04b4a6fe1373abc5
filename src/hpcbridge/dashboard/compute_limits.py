"""The compute page's part for: Association/QOS and queue limits, and what is in use against them (issue 28)."""

from __future__ import annotations

from collections.abc import Callable

from ..services.registry import Registry

Route = Callable[..., None]


def register(route: Route, registry: Registry) -> None:
    """Adds this part's routes (its template `_compute_limits.html` loads them lazily with htmx)."""
