"""The compute page's part for storage quotas and team/account usage now (issue 28).

_compute_usage.html sits on the compute page as a shell that htmx fills from /compute/usage once the page has
loaded, so the page itself costs no quota command: per cluster, the user's quotas (services/quotas.py; rows
near or over a limit marked) and who runs what now (services/team_usage.py: the queue listing, the
configured team highlighted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..errors import HpcBridgeError
from ..services import quotas, team_usage
from ..services.cluster import Cluster
from ..services.registry import Registry
from . import web

Route = Callable[..., None]
TEMPLATE = "_compute_usage.html"


async def _quietly(what: Any) -> Any:
    try:
        return await what
    except HpcBridgeError as exc:  # one cluster that cannot answer is said in its own box
        return exc.message


async def cluster_view(c: Cluster) -> dict[str, Any]:
    report, usage = await asyncio.gather(_quietly(quotas.get_quotas(c)), _quietly(team_usage.team_usage(c)))
    return {"name": c.name, "quotas": report, "usage": usage}


def register(route: Route, registry: Registry) -> None:
    """Adds this part's route (its template `_compute_usage.html` loads it lazily with htmx)."""

    async def usage_part(request: Request, login: Any) -> Response:
        clusters = [registry.get(n) for n in registry.names]
        views = await asyncio.gather(*(cluster_view(c) for c in clusters if c.config.provider is None))
        return HTMLResponse(web.fragment(TEMPLATE, part="body", views=views, human=quotas.human),
                            headers=web.HEADERS)

    route("/compute/usage", usage_part)
