"""Association/QOS and queue limits, and what is in use against them (issue 28): get_limits."""

from __future__ import annotations

from fastmcp.tools.base import ToolResult

from ..backends.limits import AccountLimits
from ..services import limits
from .params import ClusterArg
from .toolkit import ToolKit, reply


def register(kit: ToolKit) -> None:
    """Adds this part's tools to the `account` toolset."""
    registry = kit.registry

    @kit.tool(read_only=True, output=AccountLimits, title="Limits before submitting")
    async def get_limits(cluster: ClusterArg = None) -> ToolResult:
        """Your scheduler limits and what is in use against them now: Slurm association and QOS limits
        (GrpTRES, MaxTRES, MaxTRESPU, MaxJobs, MaxSubmitJobs, MaxWall, ...; each named by the pending reason
        it gives, e.g. AssocGrpGRES), PBS server/queue max_run, max_queued, max_run_res. submit_job refuses a
        job a limit would keep pending forever."""
        c = registry.get(cluster)
        found = await limits.current(c)
        return reply(found, limits.render(found, c.name))
