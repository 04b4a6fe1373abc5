"""services/snapshot.py: a queue snapshot (the list Cluster.jobs shares within cache_ttl) is counted once,
however many list_jobs calls read it; a new snapshot is counted anew."""

from __future__ import annotations

from hpcbridge.models import Job, JobState
from hpcbridge.services.snapshot import KEPT, SnapshotFacts


def _queue(pending: int, running: int) -> list[Job]:
    return ([Job(f"7_{i}", "a", "alice", JobState.PENDING, "PD") for i in range(pending)]
            + [Job(f"8_{i}", "b", "alice", JobState.RUNNING, "R") for i in range(running)])


def test_one_count_per_snapshot() -> None:
    facts, snapshot = SnapshotFacts(), _queue(10_000, 3)
    assert facts.counts(snapshot) == {"PENDING": 10_000, "RUNNING": 3}
    # the same snapshot again: the memo answers (a recount would see the job appended behind its back)
    snapshot.append(Job("9", "c", "alice", JobState.HELD, "PD"))
    assert facts.counts(snapshot) == {"PENDING": 10_000, "RUNNING": 3}
    # a caller changing its copy changes nobody else's
    facts.counts(snapshot)["PENDING"] = 0
    assert facts.counts(snapshot)["PENDING"] == 10_000
    # the next snapshot (a new list from the next squeue) is counted
    assert facts.counts(list(snapshot)) == {"PENDING": 10_000, "RUNNING": 3, "HELD": 1}


def test_only_the_newest_snapshots_are_kept() -> None:
    facts = SnapshotFacts()
    snapshots = [_queue(i, 0) for i in range(KEPT + 3)]
    for s in snapshots:
        facts.counts(s)
    assert len(facts._counts) == KEPT
    assert id(snapshots[-1]) in facts._counts and id(snapshots[0]) not in facts._counts
