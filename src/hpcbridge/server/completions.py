"""`completion/complete`: candidate values for prompt arguments and resource-template parameters, by the
argument's name: job ids (the user's queue), partitions (queues), clusters, notebooks, profiles.

MCP completes only prompts and resource templates (tools have no completion), so these are what a client's
picker offers when a person fills in `diagnose_job_failure`'s job_id or `slurm://queue/{queue_name}`.
A completion must never fail the client's typing: a cluster that does not answer gives no candidates."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types

from .. import principal
from ..errors import HpcBridgeError
from ..services import profiles
from ..services.cluster import Cluster
from ..services.registry import Registry
from ..store import Store
from .toolkit import ToolKit, caller

log = logging.getLogger("hpcbridge.server")

JOB_ARGS = {"job_id"}
PARTITION_ARGS = {"partition", "queue", "queue_name"}
CLUSTER_ARGS = {"cluster"}
NOTEBOOK_ARGS = {"notebook"}
PROFILE_ARGS = {"profile", "profile_name"}

Notebooks = Callable[[Cluster], Awaitable[list[str]]]


def _cluster_of(registry: Registry, ref: Any, context: mcp_types.CompletionContext | None) -> Cluster:
    """The cluster named by an argument already given, else the one a resource's scheme answers from, else
    the default."""
    given = (context.arguments or {}).get("cluster") if context is not None else None
    if given:
        return registry.get(given)
    if isinstance(ref, mcp_types.ResourceTemplateReference) and "://" in ref.uri:
        return registry.get(registry.first_with_scheduler(ref.uri.split("://", 1)[0]))
    return registry.get()


def register(kit: ToolKit, store: Store, notebooks: Notebooks | None = None) -> None:
    registry = kit.registry

    async def candidates(name: str, c: Cluster) -> list[str]:
        if name in JOB_ARGS:
            return [j.job_id for j in await c.jobs(user=await c.user())]
        if name in PARTITION_ARGS:
            return [p.name for p in await c.partitions()]
        if name in NOTEBOOK_ARGS and notebooks is not None:
            return await notebooks(c)
        if name in PROFILE_ARGS:
            return list(profiles.all_profiles(store, c))
        return []

    @kit.mcp.completion
    async def complete(ref: Any, argument: mcp_types.CompletionArgument,
                       context: mcp_types.CompletionContext | None) -> list[str] | None:
        typed = argument.value or ""
        if argument.name in CLUSTER_ARGS:
            return [n for n in registry.names if n.startswith(typed)]
        if argument.name not in JOB_ARGS | PARTITION_ARGS | NOTEBOOK_ARGS | PROFILE_ARGS:
            return None
        try:
            with principal.acting_as(caller()):
                found = await candidates(argument.name, _cluster_of(registry, ref, context))
        except HpcBridgeError as exc:
            log.info("no completions for %s: %s", argument.name, exc.message)
            return None
        return [v for v in dict.fromkeys(found) if v.startswith(typed)]
