"""Tools about the cluster itself: partitions, nodes, GPUs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated

from fastmcp.tools.base import ToolResult
from pydantic import Field

from .. import validate
from ..models import Node, Page, Partition
from ..services.cluster import Cluster
from ..services.resources import GpuPool, gpu_pools, partition_status
from . import render
from .outputs import ClusterStatus
from .params import ClusterArg, Limit, Offset
from .toolkit import ToolKit, reply


@dataclass(frozen=True)
class PartitionList:
    cluster: str
    partitions: list[Partition]
    gpu_types: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class GpuInfo:
    cluster: str
    by_type: dict[str, int]
    pools: list[GpuPool]
    nodes: list[Node]


@dataclass(frozen=True)
class GpuAvailability:
    cluster: str
    pools: list[GpuPool]
    free_by_type: dict[str, int]
    min_gpus: int | None




def register(kit: ToolKit) -> None:
    registry = kit.registry

    @kit.tool(read_only=True, output=ClusterStatus)
    async def get_cluster_status(
        partition: Annotated[str | None, Field(description="Only this partition")] = None,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Overall health: partitions with node states, CPU and GPU usage, and job counts by state."""
        c = registry.get(cluster)
        parts = await c.partitions()
        if partition:
            parts = [await c.partition(validate.name("partition", partition))]
        nodes = await c.nodes()
        jobs = await c.jobs(partition=partition)
        statuses = [partition_status(p, nodes, c.config.gpu_partitions, c.config.cpu_partitions) for p in parts]
        names = {n for p in parts for n in p.nodes}
        members = [n for n in nodes if n.name in names]
        status = ClusterStatus(
            cluster=c.name,
            scheduler_version=await c.cache.get("version", 1e9, c.version),
            partitions=statuses,
            nodes_by_state=dict(Counter(n.state for n in members)),
            jobs_by_state=dict(Counter(j.state.value for j in jobs)),
            gpus_total=sum(n.gpu_total for n in members),
            gpus_allocated=sum(n.gpu_used for n in members),
        )
        return reply(status, render.cluster_status(status))

    @kit.tool(read_only=True, output=PartitionList)
    async def get_partition_info(
        partition_name: Annotated[str | None, Field(description="One partition, or all when omitted")] = None,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Partition limits and sizes: max time, nodes, CPUs, GPUs and GPU types, default partition."""
        c = registry.get(cluster)
        if partition_name:
            parts = [await c.partition(validate.name("partition_name", partition_name))]
        else:
            parts = await c.partitions()
        nodes = await c.nodes()
        types = {p.name: sorted({g.type or "gpu" for n in nodes if n.name in p.nodes for g in n.gpus})
                 for p in parts}
        result = PartitionList(c.name, parts, types)
        return reply(result, render.partitions(result.partitions, types))

    @kit.tool(read_only=True, output=Page[Node])
    async def get_node_info(
        node_name: Annotated[str | None, Field(description="One node")] = None,
        partition: Annotated[str | None, Field(description="Only nodes of this partition")] = None,
        state: Annotated[str | None, Field(description="Only nodes in this state: idle, mixed, allocated, "
                                                       "down, drain, ... (PBS words free, busy, offline; "
                                                       "'all')")] = None,
        limit: Limit = 50,
        offset: Offset = 0,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Nodes with state, CPUs, memory and GPUs (total and in use), paged."""
        c = registry.get(cluster)
        if node_name:
            nodes = [await c.node(validate.name("node_name", node_name))]
        else:
            nodes = await c.nodes()
        if partition:
            part = await c.partition(validate.name("partition", partition))
            nodes = [n for n in nodes if n.name in part.nodes]
        if state and state.lower() != "all":
            words = c.node_words.get(validate.name("state", state).upper(), (state.upper(),))
            nodes = [n for n in nodes if any(n.state.startswith(w) or w in n.flags for w in words)]
        page = Page.of(nodes, offset, limit, dict(Counter(n.state for n in nodes)))
        return reply(page, render.nodes_page(page))

    @kit.tool(read_only=True, output=GpuInfo)
    async def get_gpu_info(
        partition: Annotated[str | None, Field(description="Only this partition")] = None,
        gpu_type: Annotated[str | None, Field(description="Only this GPU type, e.g. a100")] = None,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """GPU inventory: types and counts per partition and per node, with how many are in use."""
        c = registry.get(cluster)
        pools = await _pools(c, partition, gpu_type)
        nodes = [n for n in await c.nodes() if n.gpus]
        if partition:
            part = await c.partition(partition)
            nodes = [n for n in nodes if n.name in part.nodes]
        if gpu_type:
            nodes = [n for n in nodes if any((g.type or "gpu") == gpu_type for g in n.gpus)]
        by_type: Counter[str] = Counter()
        for n in nodes:
            for g in n.gpus:
                by_type[g.type or "gpu"] += g.count
        info = GpuInfo(c.name, dict(by_type), pools, nodes)
        return reply(info, render.gpu_info(info.by_type, pools, nodes))

    @kit.tool(read_only=True, output=GpuAvailability)
    async def get_gpu_availability(
        partition: Annotated[str | None, Field(description="Only this partition")] = None,
        gpu_type: Annotated[str | None, Field(description="Only this GPU type, e.g. a100")] = None,
        min_gpus: Annotated[int | None, Field(description="Only pools with at least this many free GPUs "
                                                          "on one node", ge=1)] = None,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Free vs allocated GPUs per type and partition, right now; use before submitting GPU jobs."""
        c = registry.get(cluster)
        pools = await _pools(c, partition, gpu_type)
        if min_gpus:
            pools = [p for p in pools if p.largest_free_on_one_node >= min_gpus or p.free >= min_gpus]
        nodes = await c.nodes()
        if partition:
            members = (await c.partition(partition)).nodes
            nodes = [n for n in nodes if n.name in members]
        free = _free_by_type(nodes, gpu_type)
        result = GpuAvailability(c.name, pools, dict(free), min_gpus)
        return reply(result, render.gpu_availability(result.pools, result.free_by_type, min_gpus))


async def _pools(c: Cluster, partition: str | None, gpu_type: str | None) -> list[GpuPool]:
    parts = await c.partitions()
    if partition:
        parts = [await c.partition(validate.name("partition", partition))]
    if gpu_type:
        validate.name("gpu_type", gpu_type)
    pools = gpu_pools(await c.nodes(), parts)
    return [p for p in pools if not gpu_type or p.gpu_type == gpu_type]


def _free_by_type(nodes: list[Node], gpu_type: str | None) -> Counter[str]:
    free: Counter[str] = Counter()
    for n in nodes:
        if not n.available:
            continue
        used = {g.type or "gpu": g.count for g in n.gpus_used}
        for g in n.gpus:
            t = g.type or "gpu"
            if not gpu_type or t == gpu_type:
                free[t] += max(g.count - used.get(t, 0), 0)
    return free
