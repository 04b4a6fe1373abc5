"""Fairshare, priority factors and start estimates (issue 28)."""

from __future__ import annotations

from typing import Annotated

from fastmcp.tools.base import ToolResult
from pydantic import Field

from ..services import standing
from ..standing import Fairshare, JobStanding
from .params import ClusterArg, JobId
from .toolkit import ToolKit, reply


def register(kit: ToolKit) -> None:
    """Adds this part's tools to the `account` toolset."""
    registry = kit.registry

    @kit.tool(read_only=True, output=Fairshare, title="Fairshare per account")
    async def get_fairshare(
        cluster: ClusterArg = None,
        user: Annotated[str | None, Field(description="A user name; omit for the SSH user")] = None,
    ) -> ToolResult:
        """The user's fairshare factor in each of its accounts (0..1: 1 = used nothing lately; it weighs most in
        a pending job's priority on most sites), its usage and shares there, and the account's own usage and
        standing among its siblings (Slurm sshare). The default account comes first."""
        c = registry.get(cluster)
        found = await standing.fairshare(c, user)
        return reply(found, standing.render_fairshare(found))

    @kit.tool(read_only=True, output=JobStanding, title="Priority, rank and expected start of a pending job")
    async def get_job_priority(job_id: JobId, cluster: ClusterArg = None) -> ToolResult:
        """Why a pending job waits its turn: its priority in parts (fairshare, age, size, partition, QOS; biggest
        first, Slurm sprio), its rank among the pending jobs of its partition, and the scheduler's expected start
        and nodes (Slurm squeue --start; PBS estimated.start_time where the server computes it)."""
        c = registry.get(cluster)
        found = await standing.job_standing(c, c.job_id(job_id))
        return reply(found, standing.render_standing(found))
