"""Where to submit: every partition of every configured cluster, ranked by whether the request can run
there at all, whether it could start now, how long jobs recently waited there (the history), and the
scheduler's own start estimate (sbatch --test-only)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ..errors import HpcBridgeError
from ..models import JobRequest
from .cluster import Cluster
from .resources import gpu_pools


@dataclass(frozen=True)
class Need:
    gpus: int = 0
    gpu_type: str | None = None
    nodes: int = 1
    time_limit: str | None = None
    memory: str | None = None
    cpus_per_task: int | None = None

    def request(self, partition: str) -> JobRequest:
        per_node = -(-self.gpus // max(self.nodes, 1)) if self.gpus else None
        return JobRequest(script_content="true", partition=partition, nodes=self.nodes, gpus=per_node,
                          gpu_type=self.gpu_type, time_limit=self.time_limit, memory=self.memory,
                          cpus_per_task=self.cpus_per_task)


@dataclass(frozen=True)
class Option:
    rank: int
    cluster: str
    partition: str
    feasible: bool
    starts_now: bool
    estimated_start: str
    free_gpus: int
    free_on_best_node: int
    why: str
    recent_wait_minutes: float | None = None  # median submit-to-start of recorded jobs in this partition


async def _cluster_clock(cluster: Cluster) -> datetime:
    """sbatch --test-only prints the cluster's local time; compare it with the cluster's own clock."""
    result = await cluster.run(["date", "+%Y-%m-%dT%H:%M:%S"])
    try:
        return datetime.strptime(result.stdout.strip(), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return datetime.now()


async def _option(cluster: Cluster, partition: str, need: Need, now: datetime) -> Option:
    req = need.request(partition)
    try:
        waits = await cluster.check_feasible(req)  # a limit that keeps it pending forever refuses it here
    except HpcBridgeError as exc:
        return Option(0, cluster.name, partition, False, False, "", 0, 0, str(exc))
    pools = [p for p in gpu_pools(await cluster.nodes(), [await cluster.partition(partition)])
             if not need.gpu_type or p.gpu_type == need.gpu_type]
    free = sum(p.free for p in pools)
    best = max((p.largest_free_on_one_node for p in pools), default=0)
    try:
        test = await cluster.submit(req, test_only=True)
    except HpcBridgeError as exc:
        return Option(0, cluster.name, partition, False, False, "", free, best, f"the scheduler refused: {exc}")
    start = cluster.test_start(test.scheduler_message)
    try:
        soon = datetime.strptime(start, "%Y-%m-%dT%H:%M:%S") <= now + timedelta(seconds=60)
    except ValueError:
        soon = not cluster.capabilities.start_estimate  # no test submission: judged by what is free
    # a limit the request waits on (running jobs of the account hold it) ranks it below those that can start
    starts_now = soon and (not need.gpus or best >= (req.gpus or 0)) and not waits
    parts = [f"{free} free {need.gpu_type or 'GPU'}s now, up to {best} on one node"] if need.gpus else ["fits"]
    parts += waits
    if start:
        parts.append(f"scheduler estimate: start {start}")
    elif not cluster.capabilities.start_estimate:
        parts.append(f"{cluster.scheduler.upper()} gives no start estimate")
    return Option(0, cluster.name, partition, True, starts_now, start, free, best, "; ".join(parts))


@dataclass(frozen=True)
class Unreachable:
    cluster: str
    why: str


async def _cluster_options(cluster: Cluster, need: Need) -> list[Option]:
    now = await _cluster_clock(cluster)
    tasks: list[Coroutine[Any, Any, Option]] = [_option(cluster, p.name, need, now) for p in await cluster.partitions()]
    return list(await asyncio.gather(*tasks))


async def _answer_or_why(cluster: Cluster, need: Need) -> list[Option] | Unreachable:
    """One cluster's options, or why it did not answer: a cluster that is down never fails the others."""
    limit = cluster.config.connect_timeout + cluster.config.command_timeout
    try:
        return await asyncio.wait_for(_cluster_options(cluster, need), limit)
    except TimeoutError:
        return Unreachable(cluster.name, f"no answer within {limit:g}s")
    except HpcBridgeError as exc:
        return Unreachable(cluster.name, exc.message)


# Recorded waits count in coarse steps (under 10 minutes, an hour, 6 hours, longer): a few minutes' difference
# in a median says nothing, a queue that held jobs for hours does. No record counts as no known wait.
WAIT_STEPS = (10.0, 60.0, 360.0)


def wait_step(minutes: float | None) -> int:
    return sum(minutes >= step for step in WAIT_STEPS) if minutes is not None else 0


def _with_wait(option: Option, waits: dict[str, float]) -> Option:
    wait = waits.get(option.partition)
    if wait is None or not option.feasible:
        return option
    return replace(option, recent_wait_minutes=wait, why=f"{option.why}; recent queue wait here: {wait:g} min")


async def recommend(clusters: list[Cluster], need: Need,
                    queue_waits: Callable[[str], dict[str, float]] = lambda cluster: {}
                    ) -> tuple[list[Option], list[Unreachable]]:
    """Every cluster is asked at once; those that do not answer are named with why, not waited for in turn.
    Among options equally able to start, shorter recorded queue waits rank first."""
    answers = await asyncio.gather(*(_answer_or_why(c, need) for c in clusters))
    unreachable = [a for a in answers if isinstance(a, Unreachable)]
    waits = dict(zip([c.name for c in clusters],
                     await asyncio.gather(*(asyncio.to_thread(queue_waits, c.name) for c in clusters)), strict=True))
    options = [_with_wait(o, waits[o.cluster]) for a in answers if not isinstance(a, Unreachable) for o in a]
    configured = {(c.name, p) for c in clusters for p in c.config.gpu_partitions}
    interactive = {(c.name, c.config.interactive_partition) for c in clusters}
    return rank(options, configured, interactive), unreachable


def rank(options: list[Option], configured: set[tuple[str, str]], interactive: set[tuple[str, str]]) -> list[Option]:
    """Feasible first, then those that can start now, the configured GPU partitions, not the interactive one,
    a shorter recorded wait, more free GPUs; the scheduler's earliest estimate among equals."""
    ordered = sorted(options, key=lambda o: o.estimated_start or "~")
    ordered.sort(key=lambda o: (o.feasible, o.starts_now, (o.cluster, o.partition) in configured,
                                (o.cluster, o.partition) not in interactive, -wait_step(o.recent_wait_minutes),
                                o.free_gpus), reverse=True)
    return [replace(o, rank=i + 1) for i, o in enumerate(ordered)]
