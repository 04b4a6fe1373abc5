"""Where to submit: every partition of every configured cluster, ranked by whether the request can run
there at all, whether it could start now, and the scheduler's own start estimate (sbatch --test-only)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
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
        await cluster.check_feasible(req)
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
    start = cluster.backend.test_start(test.scheduler_message)
    try:
        soon = datetime.strptime(start, "%Y-%m-%dT%H:%M:%S") <= now + timedelta(seconds=60)
    except ValueError:
        soon = not cluster.backend.capabilities.start_estimate  # no test submission: judged by what is free
    starts_now = soon and (not need.gpus or best >= (req.gpus or 0))
    parts = [f"{free} free {need.gpu_type or 'GPU'}s now, up to {best} on one node"] if need.gpus else ["fits"]
    if start:
        parts.append(f"scheduler estimate: start {start}")
    elif not cluster.backend.capabilities.start_estimate:
        parts.append(f"{cluster.backend.name.upper()} gives no start estimate")
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


async def recommend(clusters: list[Cluster], need: Need) -> tuple[list[Option], list[Unreachable]]:
    """Every cluster is asked at once; those that do not answer are named with why, not waited for in turn."""
    answers = await asyncio.gather(*(_answer_or_why(c, need) for c in clusters))
    unreachable = [a for a in answers if isinstance(a, Unreachable)]
    options = [o for a in answers if not isinstance(a, Unreachable) for o in a]
    configured = {(c.name, p) for c in clusters for p in c.config.gpu_partitions}
    interactive = {(c.name, c.config.interactive_partition) for c in clusters}
    options.sort(key=lambda o: o.estimated_start or "~")  # earliest estimate first among equals
    options.sort(key=lambda o: (o.feasible, o.starts_now, (o.cluster, o.partition) in configured,
                                (o.cluster, o.partition) not in interactive, o.free_gpus), reverse=True)
    return [replace(o, rank=i + 1) for i, o in enumerate(options)], unreachable
