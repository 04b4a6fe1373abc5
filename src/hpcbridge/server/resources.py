"""MCP resources. One scheme per scheduler: slurm://job/{job_id}, slurm://queue/{queue_name},
slurm://system/status, slurm://user/jobs, slurm://user/privileges, and the same paths under pbs://. A scheme
answers from the default cluster when it runs that scheduler, else from the first configured cluster that
does. Each is JSON: what the matching tool returns as structured content. A read that fails is an MCP error
carrying the message (never a JSON body that says error)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

from fastmcp.exceptions import ResourceError
from pydantic import TypeAdapter

from .. import principal, validate
from ..backends import registry as scheduler_registry
from ..errors import HpcBridgeError
from ..services.cluster import Cluster
from ..services.resources import partition_status
from .toolkit import ToolKit, caller

_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def _json(data: Any) -> str:
    return json.dumps(_ANY.dump_python(data, mode="json"), indent=1)


def register(kit: ToolKit) -> None:
    for scheme in scheduler_registry.names():  # one URI scheme per scheduler: slurm://, pbs://, ...
        _register_scheme(kit, scheme)


def _register_scheme(kit: ToolKit, scheme: str) -> None:
    mcp, registry = kit.mcp, kit.registry

    def cluster_for() -> Cluster:
        """The default cluster if it runs this scheduler, else the first configured one that does."""
        return registry.get(registry.first_with_scheduler(scheme))

    async def guarded(fn: Any) -> str:
        try:
            with principal.acting_as(caller()):  # as for tools: the audit log names the token's principal
                return _json(await fn())
        except HpcBridgeError as exc:  # ResourceError's message reaches the client as is (not masked)
            raise ResourceError(exc.message) from exc

    @mcp.resource(f"{scheme}://job/{{job_id}}", name=f"{scheme}_job", mime_type="application/json")
    async def job_resource(job_id: str) -> str:
        """One job (as get_job_details)."""

        async def build() -> Any:
            cluster = cluster_for()
            return await cluster.job_details(cluster.job_id(job_id))

        return await guarded(build)

    @mcp.resource(f"{scheme}://queue/{{queue_name}}", name=f"{scheme}_queue", mime_type="application/json")
    async def queue_resource(queue_name: str) -> str:
        """One partition (queue): limits, nodes, CPU and GPU use, and its jobs by state."""

        async def build() -> dict[str, Any]:
            cluster = cluster_for()
            part = await cluster.partition(validate.name("queue_name", queue_name))
            status = partition_status(part, await cluster.nodes(), cluster.config.gpu_partitions)
            jobs = await cluster.jobs(partition=part.name)
            return {"cluster": cluster.name, "partition": part, "status": status,
                    "jobs_by_state": dict(Counter(j.state.value for j in jobs))}

        return await guarded(build)

    @mcp.resource(f"{scheme}://system/status", name=f"{scheme}_system_status", mime_type="application/json")
    async def system_resource() -> str:
        """Every partition's (queue's) status and the queue's jobs by state."""

        async def build() -> dict[str, Any]:
            cluster = cluster_for()
            nodes = await cluster.nodes()
            parts = [partition_status(p, nodes, cluster.config.gpu_partitions) for p in await cluster.partitions()]
            jobs = await cluster.jobs()
            return {"cluster": cluster.name, "scheduler": cluster.config.scheduler, "partitions": parts,
                    "jobs_by_state": dict(Counter(j.state.value for j in jobs))}

        return await guarded(build)

    @mcp.resource(f"{scheme}://user/jobs", name=f"{scheme}_user_jobs", mime_type="application/json")
    async def user_jobs_resource() -> str:
        """The login user's jobs in the queue."""

        async def mine() -> list[Any]:
            cluster = cluster_for()
            return list(await cluster.jobs(user=await cluster.user()))

        return await guarded(mine)

    @mcp.resource(f"{scheme}://user/privileges", name=f"{scheme}_user_privileges",
                  mime_type="application/json")
    async def privileges_resource() -> str:
        """What the login user may do: owner-only, or operator/manager (administrator) rights."""

        async def build() -> dict[str, str]:
            cluster = cluster_for()
            user = await cluster.user()
            return {"cluster": cluster.name, "user": user, "privileges": await cluster.privileges(user)}

        return await guarded(build)


def register_history(kit: ToolKit, history: Any) -> None:
    """jobs://summary (clausius' name): recorded jobs per cluster and state over the last day, and which
    clusters do not answer. Reading it counts as looking, so the recorder runs."""

    @kit.mcp.resource("jobs://summary", name="jobs_summary", mime_type="application/json")
    async def summary_resource() -> str:
        history.activity.touch()
        rows = await asyncio.to_thread(history.reader.summary, kit.registry.names, _day_ago())
        return _json(rows)


def _day_ago() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 86400))
