"""The job page's part for: Metric series users already write: TensorBoard event files, JSONL/CSV logs (issue 27)."""

from __future__ import annotations

from collections.abc import Callable

from ..services.registry import Registry

Route = Callable[..., None]


def register(route: Route, registry: Registry, hold: Callable[[], None], release: Callable[[], None]) -> None:
    """Adds this part's routes; `hold`/`release` mark someone looking (sampling only then)."""
