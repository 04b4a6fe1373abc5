"""What the cluster has and what is free: pure computations over parsed nodes and partitions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..models import Node, Partition
from ..validate import format_minutes


@dataclass(frozen=True)
class GpuPool:
    """GPUs of one type in one partition."""

    partition: str
    gpu_type: str
    total: int
    allocated: int
    free: int
    unavailable: int  # on nodes that are down or drained
    nodes: int
    max_per_node: int
    largest_free_on_one_node: int
    nodes_with_free: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PartitionStatus:
    name: str
    state: str
    is_default: bool
    max_time: str
    nodes_total: int
    nodes_by_state: dict[str, int]
    cpus_total: int
    cpus_allocated: int
    gpus_total: int
    gpus_allocated: int
    gpu_types: list[str]
    kind: str  # gpu | cpu


def _type(name: str | None) -> str:
    return name or "gpu"


def gpu_pools(nodes: list[Node], partitions: list[Partition]) -> list[GpuPool]:
    by_name = {n.name: n for n in nodes}
    pools: list[GpuPool] = []
    for part in partitions:
        members = [by_name[n] for n in part.nodes if n in by_name]
        types = sorted({_type(g.type) for n in members for g in n.gpus})
        for gpu_type in types:
            total = allocated = unavailable = max_per_node = largest = count = 0
            with_free: list[str] = []
            for node in members:
                have = sum(g.count for g in node.gpus if _type(g.type) == gpu_type)
                if not have:
                    continue
                used = sum(g.count for g in node.gpus_used if _type(g.type) == gpu_type)
                count += 1
                total += have
                allocated += used
                max_per_node = max(max_per_node, have)
                if node.available:
                    free_here = max(have - used, 0)
                    largest = max(largest, free_here)
                    if free_here:
                        with_free.append(node.name)
                else:
                    unavailable += max(have - used, 0)
            pools.append(GpuPool(part.name, gpu_type, total, allocated, total - allocated - unavailable,
                                 unavailable, count, max_per_node, largest, with_free))
    return pools


def partition_status(part: Partition, nodes: list[Node], gpu_partitions: list[str],
                     cpu_partitions: list[str] = ()) -> PartitionStatus:  # type: ignore[assignment]
    by_name = {n.name: n for n in nodes}
    members = [by_name[n] for n in part.nodes if n in by_name]
    states = Counter(n.state + ("+DRAIN" if "DRAIN" in n.flags else "") for n in members)
    gpus_total = sum(n.gpu_total for n in members)
    types = sorted({_type(g.type) for n in members for g in n.gpus})
    is_gpu = part.name in gpu_partitions or (gpus_total > 0 and part.name not in cpu_partitions)
    return PartitionStatus(
        name=part.name,
        state=part.state,
        is_default=part.is_default,
        max_time=format_minutes(part.max_time_minutes),
        nodes_total=len(members) or part.total_nodes,
        nodes_by_state=dict(states),
        cpus_total=sum(n.cpus_total for n in members) or part.total_cpus,
        cpus_allocated=sum(n.cpus_alloc for n in members),
        gpus_total=gpus_total,
        gpus_allocated=sum(n.gpu_used for n in members),
        gpu_types=types,
        kind="gpu" if is_gpu else "cpu",
    )


def gpu_types_in(part: Partition, nodes: list[Node]) -> dict[str, int]:
    """GPU type -> the most GPUs of that type on one node of the partition."""
    by_name = {n.name: n for n in nodes}
    best: dict[str, int] = {}
    for name in part.nodes:
        node = by_name.get(name)
        if node is None:
            continue
        for g in node.gpus:
            best[_type(g.type)] = max(best.get(_type(g.type), 0), g.count)
    return best
