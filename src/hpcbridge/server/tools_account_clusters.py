"""list_clusters (issue 28), in the `account` toolset: the configured clusters for an agent that does not know
the configuration, each tried with one quick command (services/everywhere.py)."""

from __future__ import annotations

from dataclasses import dataclass

from fastmcp.tools.base import ToolResult

from ..services import everywhere
from .toolkit import ToolKit, reply


@dataclass(frozen=True)
class ClusterList:
    clusters: list[everywhere.ClusterLine]
    default: str


def render(listing: ClusterList) -> str:
    lines = [f"{len(listing.clusters)} clusters (default {listing.default}):"]
    for c in listing.clusters:
        where = f" {c.host}" if c.host else ""
        state = "reachable" if c.reachable else f"NOT reachable: {c.problem}"
        lines.append(f"  {c.name}{' (default)' if c.default else ''}: {c.scheduler} over {c.transport}{where}; "
                     f"{state}{'; read-only' if c.read_only else ''}")
    return "\n".join(lines)


def register(kit: ToolKit) -> None:
    registry = kit.registry

    @kit.tool(read_only=True, output=ClusterList)
    async def list_clusters() -> ToolResult:
        """The configured clusters: name, scheduler, transport, host, default, and whether each answers now
        (one quick command each, concurrently, at most 10 s). Pass a name as any tool's `cluster`."""
        listing = ClusterList(await everywhere.clusters(registry), registry.settings.default_cluster)
        return reply(listing, render(listing))
