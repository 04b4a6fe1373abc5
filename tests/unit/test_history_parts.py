"""Pure parts of the history and of what reads it: the GPU sample a poll stores, and how recorded queue waits
rank recommend_submission's options."""

from __future__ import annotations

from hpcbridge.history.recorder import gpu_samples
from hpcbridge.history.store import GpuSample
from hpcbridge.models import GpuCount, Job, JobState, Node
from hpcbridge.services.recommend import Option, rank, wait_step


def _running(job_id: str, user: str, account: str, partition: str, gpus: tuple[GpuCount, ...]) -> Job:
    return Job(job_id=job_id, name="x", state=JobState.RUNNING, native_state="RUNNING", user=user,
               account=account, partition=partition, gpus=gpus)


def test_gpu_samples_count_each_node_once_and_the_users_share() -> None:
    nodes = [Node("n1", "MIXED", partitions=("gpu", "interactive"), gpus=(GpuCount("a100", 4),),
                  gpus_used=(GpuCount("a100", 2),)),
             Node("n2", "MIXED", partitions=("gpu",), gpus=(GpuCount("h100", 8),), gpus_used=(GpuCount("h100", 3),)),
             Node("c1", "IDLE", partitions=("cpu",))]
    running = [_running("1", "alice", "proj", "gpu", (GpuCount("a100", 1),)),
               _running("2", "bob", "proj", "gpu", (GpuCount("a100", 1),)),
               _running("3", "carol", "other", "gpu", (GpuCount("h100", 3),)),
               _running("4", "alice", "proj", "cpu", ())]
    got = {(s.partition, s.gpu_type): (s.total, s.allocated, s.mine, s.account)
           for s in gpu_samples("c", nodes, running, "alice")}
    assert got == {
        ("*", "*"): (12, 5, 1, 2), ("*", "a100"): (4, 2, 1, 2), ("*", "h100"): (8, 3, 0, 0),
        ("gpu", "*"): (12, 5, 1, 2), ("gpu", "a100"): (4, 2, 1, 2), ("gpu", "h100"): (8, 3, 0, 0),
        ("interactive", "*"): (4, 2, 0, 0), ("interactive", "a100"): (4, 2, 0, 0),
    }  # no cpu rows: a partition without GPUs has nothing to chart
    assert all(isinstance(s, GpuSample) and s.cluster == "c" for s in gpu_samples("c", nodes, running, "alice"))


def test_gpu_samples_of_a_cluster_without_gpus_are_empty() -> None:
    assert gpu_samples("c", [Node("c1", "IDLE", partitions=("cpu",))], [], "alice") == []


def _option(cluster: str, partition: str, wait: float | None, *, now: bool = False, free: int = 4,
            feasible: bool = True) -> Option:
    return Option(0, cluster, partition, feasible, now, "", free, free, "fits", recent_wait_minutes=wait)


def test_shorter_recorded_waits_rank_first_among_equals() -> None:
    options = [_option("a", "gpu", 300, free=8), _option("b", "gpu", 5, free=1), _option("c", "gpu", None, free=2),
               _option("d", "gpu", 2000, now=True), _option("e", "gpu", 1, feasible=False)]
    ranked = rank(options, set(), set())
    assert [(o.rank, o.cluster) for o in ranked] == [(1, "d"), (2, "c"), (3, "b"), (4, "a"), (5, "e")]


def test_a_few_minutes_of_wait_do_not_outweigh_free_gpus() -> None:
    ranked = rank([_option("a", "gpu", 8, free=1), _option("b", "gpu", 2, free=0), _option("c", "gpu", 40, free=8)],
                  set(), set())
    assert [o.cluster for o in ranked] == ["a", "b", "c"]
    assert [wait_step(m) for m in (None, 0, 9.9, 10, 59, 60, 359, 360, 10_000)] == [0, 0, 0, 1, 1, 2, 2, 3, 3]
