"""MCP resources. One scheme per scheduler, on the default cluster: slurm://job/{job_id},
slurm://queue/{queue_name}, slurm://system/status, slurm://user/jobs (PBS clusters will answer the same
paths under pbs://). Each is JSON: what the matching tool returns as structured content."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from pydantic import TypeAdapter

from .. import validate
from ..errors import HpcBridgeError
from ..services.resources import partition_status
from .app import ToolKit

_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def _json(data: Any) -> str:
    return json.dumps(_ANY.dump_python(data, mode="json"), indent=1)


def register(kit: ToolKit) -> None:
    mcp, registry = kit.mcp, kit.registry

    async def guarded(fn: Any) -> str:
        try:
            return _json(await fn())
        except HpcBridgeError as exc:
            return json.dumps({"error": exc.message})

    @mcp.resource("slurm://job/{job_id}", mime_type="application/json")
    async def job_resource(job_id: str) -> str:
        """One job (as get_job_details)."""
        cluster = registry.get()
        return await guarded(lambda: cluster.job_details(validate.job_id(job_id)))

    @mcp.resource("slurm://queue/{queue_name}", mime_type="application/json")
    async def queue_resource(queue_name: str) -> str:
        """One partition (queue): limits, nodes, CPU and GPU use, and its jobs by state."""
        cluster = registry.get()

        async def build() -> dict[str, Any]:
            part = await cluster.partition(validate.name("queue_name", queue_name))
            status = partition_status(part, await cluster.nodes(), cluster.config.gpu_partitions)
            jobs = await cluster.jobs(partition=part.name)
            return {"partition": part, "status": status, "jobs_by_state": dict(Counter(j.state.value for j in jobs))}

        return await guarded(build)

    @mcp.resource("slurm://system/status", mime_type="application/json")
    async def system_resource() -> str:
        """Every partition's status and the queue's jobs by state."""
        cluster = registry.get()

        async def build() -> dict[str, Any]:
            nodes = await cluster.nodes()
            parts = [partition_status(p, nodes, cluster.config.gpu_partitions) for p in await cluster.partitions()]
            jobs = await cluster.jobs()
            return {"cluster": cluster.name, "partitions": parts,
                    "jobs_by_state": dict(Counter(j.state.value for j in jobs))}

        return await guarded(build)

    @mcp.resource("slurm://user/jobs", mime_type="application/json")
    async def user_jobs_resource() -> str:
        """The SSH user's jobs in the queue."""
        cluster = registry.get()

        async def mine() -> list[Any]:
            return list(await cluster.jobs(user=await cluster.user()))

        return await guarded(mine)
