"""What every caller derives from one queue snapshot, derived once per snapshot instead of once per call.

Cluster.jobs hands every caller within cache_ttl the same list (single-flight), so the list's identity names
the snapshot: with a 10,000-task array queued, 64 agents polling list_jobs at once count the states once,
not 64 times. Only the few newest snapshots are kept (each key of Cluster.jobs has its own)."""

from __future__ import annotations

from collections import Counter
from operator import attrgetter

from ..models import Job

KEPT = 8
_STATE = attrgetter("state")


class SnapshotFacts:
    def __init__(self) -> None:
        # id -> (the list itself, so the id cannot be reused while kept; its counts per state)
        self._counts: dict[int, tuple[list[Job], dict[str, int]]] = {}

    def counts(self, jobs: list[Job]) -> dict[str, int]:
        """Jobs per JobState value (a copy: a caller may change its own)."""
        known = self._counts.get(id(jobs))
        if known is None or known[0] is not jobs:
            known = (jobs, {s.value: n for s, n in Counter(map(_STATE, jobs)).items()})  # map: 3x a generator
            if len(self._counts) >= KEPT:
                del self._counts[next(iter(self._counts))]  # the oldest
            self._counts[id(jobs)] = known
        return dict(known[1])
