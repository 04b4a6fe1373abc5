"""Who is calling: the name of the HTTP token that authenticated the request, or "local" (stdio, CLI).

The server layer sets it at the tool boundary; sessions, profiles and the audit log read it, so one server
shared by several named tokens keeps each principal's sessions and profiles apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

LOCAL = "local"
current: ContextVar[str] = ContextVar("hpcbridge_principal", default=LOCAL)


def name() -> str:
    return current.get()


@contextmanager
def acting_as(who: str) -> Iterator[None]:
    """One request's work done as `who` (a tool call, a resource read, a dashboard page): every front door
    sets it the same way, so the audit log, sessions and profiles name the caller."""
    token = current.set(who)
    try:
        yield
    finally:
        current.reset(token)
