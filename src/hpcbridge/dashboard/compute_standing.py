"""The compute page's part for: Fairshare, priority factors and start estimates (issue 28)."""

from __future__ import annotations

from collections.abc import Callable

from ..services.registry import Registry

Route = Callable[..., None]


def register(route: Route, registry: Registry) -> None:
    """Adds this part's routes (its template `_compute_standing.html` loads them lazily with htmx)."""
