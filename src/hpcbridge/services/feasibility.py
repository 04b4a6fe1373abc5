"""Feasibility and policy of a request: what can never run on a cluster (no such partition, too long, too many
CPUs, GPUs or memory per node, no such GPU type) and what policy forbids (partitions, accounts, GPUs, nodes,
walltime) are refused before anything is sent, saying what is possible instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import validate
from ..errors import InfeasibleRequest, PolicyError
from ..models import JobRequest, Partition
from . import limits
from .resources import gpu_types_in

if TYPE_CHECKING:
    from .cluster import Cluster


async def check(c: Cluster, req: JobRequest) -> list[str]:
    """Refuse, before anything is sent, what can never run here, what policy forbids or what a scheduler limit
    keeps pending forever, saying what is possible; notes for a request that waits on a limit (limits.py)."""
    await _check(c, req)
    return await limits.check(c, req)


async def _check(c: Cluster, req: JobRequest) -> None:
    policy = c.config.policy
    if not req.partition:  # the server chooses (qsub without -q): only the policy can be checked here
        if policy.allowed_partitions:
            raise PolicyError(f"policy allows only the partitions {', '.join(policy.allowed_partitions)}; "
                              "name one (this cluster reports no default queue)")
        _check_policy(c, req)
        return
    part = await c.partition(req.partition)
    if policy.allowed_partitions and part.name not in policy.allowed_partitions:
        raise PolicyError(f"partition '{part.name}' is not allowed by policy; allowed: "
                          f"{', '.join(policy.allowed_partitions)}")
    gpus_per_node, minutes = _check_policy(c, req)
    if minutes and part.max_time_minutes is not None and minutes > part.max_time_minutes:
        raise InfeasibleRequest(
            f"time_limit {req.time_limit} exceeds partition '{part.name}' limit of "
            f"{validate.format_minutes(part.max_time_minutes)}; " + await _partitions_allowing(c, minutes)
        )
    if req.nodes and part.total_nodes and req.nodes > part.total_nodes:
        raise InfeasibleRequest(f"partition '{part.name}' has {part.total_nodes} nodes; {req.nodes} requested")
    await _check_node_size(c, part, req)
    if gpus_per_node or req.gpu_type or req.gpus_per_task:
        await _check_gpus(c, part, req, gpus_per_node)


def _check_policy(c: Cluster, req: JobRequest) -> tuple[int, int | None]:
    """Accounts, GPUs, nodes and walltime against policy; (GPUs per node, minutes) for the other checks."""
    policy = c.config.policy
    if policy.allowed_accounts and req.account not in policy.allowed_accounts:
        raise PolicyError(f"account '{req.account}' is not allowed by policy; allowed: "
                          f"{', '.join(policy.allowed_accounts)}")
    gpus_per_node = req.gpus or (req.gpus_total if (req.nodes or 1) == 1 else 0) or 0
    total_gpus = max(gpus_per_node * (req.nodes or 1), req.gpus_total or 0,
                     (req.gpus_per_task or 0) * (req.ntasks or 1))
    if policy.max_gpus is not None and total_gpus > policy.max_gpus:
        raise PolicyError(f"{total_gpus} GPUs exceed the policy limit of {policy.max_gpus} per job")
    if policy.max_nodes is not None and (req.nodes or 1) > policy.max_nodes:
        raise PolicyError(f"{req.nodes} nodes exceed the policy limit of {policy.max_nodes} per job")
    minutes = validate.walltime_minutes("time_limit", req.time_limit) if req.time_limit else None
    if minutes and policy.max_time and minutes > validate.walltime_minutes("policy.max_time", policy.max_time):
        raise PolicyError(f"time_limit {req.time_limit} exceeds the policy limit of {policy.max_time}")
    return gpus_per_node, minutes


async def _check_node_size(c: Cluster, part: Partition, req: JobRequest) -> None:
    members = [n for n in await c.nodes() if n.name in part.nodes]
    if not members:
        return
    cpus = max(n.cpus_total for n in members)
    tasks_per_node = -(-(req.ntasks or 1) // (req.nodes or 1))
    want_cpus = (req.cpus_per_task or 1) * tasks_per_node
    if want_cpus > cpus:
        raise InfeasibleRequest(f"{want_cpus} CPUs per node requested, but nodes in '{part.name}' have at "
                                f"most {cpus}; spread tasks over more nodes or use fewer CPUs")
    mem = max(n.memory_mb for n in members)
    if req.memory and mem and validate.memory_mb("memory", req.memory) > mem:
        raise InfeasibleRequest(f"memory {req.memory} per node requested, but nodes in '{part.name}' have "
                                f"at most {mem}M")


async def _check_gpus(c: Cluster, part: Partition, req: JobRequest, gpus_per_node: int) -> None:
    nodes = await c.nodes()
    types = gpu_types_in(part, nodes)
    if not types:
        where = await _gpu_summary(c)
        raise InfeasibleRequest(f"partition '{part.name}' has no GPUs; {where}")
    if req.gpu_type and req.gpu_type not in types:
        raise InfeasibleRequest(
            f"GPU type '{req.gpu_type}' does not exist in partition '{part.name}'; it has "
            + ", ".join(f"{t} (up to {n} per node)" for t, n in sorted(types.items()))
        )
    best = types[req.gpu_type] if req.gpu_type else max(types.values())
    if gpus_per_node > best:
        kind = f"{req.gpu_type} " if req.gpu_type else ""
        raise InfeasibleRequest(
            f"{gpus_per_node} {kind}GPUs per node requested, but nodes in '{part.name}' have at most "
            f"{best}; use nodes={-(-gpus_per_node // best)} with gpus={best}, or fewer GPUs"
        )


async def _partitions_allowing(c: Cluster, minutes: int) -> str:
    ok = [p.name for p in await c.partitions() if p.max_time_minutes is None or p.max_time_minutes >= minutes]
    return f"partitions allowing it: {', '.join(ok)}" if ok else "no partition allows that long"


async def _gpu_summary(c: Cluster) -> str:
    nodes = await c.nodes()
    parts = [(p.name, gpu_types_in(p, nodes)) for p in await c.partitions()]
    with_gpus = [f"{name} ({', '.join(f'{t}:{n}' for t, n in types.items())} per node)"
                 for name, types in parts if types]
    return f"partitions with GPUs: {', '.join(with_gpus)}" if with_gpus else "this cluster has no GPUs"
