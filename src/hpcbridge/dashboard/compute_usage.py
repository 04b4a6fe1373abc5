"""The compute page's part for: Storage quotas and team/account usage now (issue 28)."""

from __future__ import annotations

from collections.abc import Callable

from ..services.registry import Registry

Route = Callable[..., None]


def register(route: Route, registry: Registry) -> None:
    """Adds this part's routes (its template `_compute_usage.html` loads them lazily with htmx)."""
