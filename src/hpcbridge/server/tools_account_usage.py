"""Storage quotas and team/account usage now (issue 28): get_quotas, get_team_usage, in the `account` toolset."""

from __future__ import annotations

from typing import Annotated

from fastmcp.tools.base import ToolResult
from pydantic import Field

from ..services import quotas, team_usage
from .params import ClusterArg
from .toolkit import ToolKit, reply


def register(kit: ToolKit) -> None:
    """Adds this part's tools to the `account` toolset."""
    registry = kit.registry

    @kit.tool(read_only=True, output=quotas.QuotaReport)
    async def get_quotas(cluster: ClusterArg = None) -> ToolResult:
        """Your user, group and project storage quotas on the file systems of the configured directories
        (lfs quota, quota, the site's quota_command): used/limit/grace, warning at 90% or over a limit."""
        c = registry.get(cluster)
        report = await quotas.get_quotas(c)
        return reply(report, quotas.render(report))

    @kit.tool(read_only=True, output=team_usage.TeamUsage)
    async def get_team_usage(
        limit: Annotated[int, Field(description="Rows per table in the text answer", ge=1, le=200)] = 15,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """GPUs and jobs running and pending now per user and per account, who holds each GPU type, your
        share; the configured team highlighted. From the queue listing: no extra scheduler command."""
        c = registry.get(cluster)
        usage = await team_usage.team_usage(c)
        return reply(usage, team_usage.render(usage, limit))
