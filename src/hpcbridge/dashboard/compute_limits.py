"""The compute page's part for scheduler limits and what is in use against them now (issue 28).

_compute_limits.html sits on the compute page as a shell that htmx fills from /compute/limits once the page
has loaded, so the page itself costs no sacctmgr/qstat command: per cluster, the login user's limits
(services/limits.py: Slurm association and QOS limits named by their pending reason, PBS queue/server limits),
each with what is in use now and a bar; a limit that is full is marked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..backends.limits import AccountLimits
from ..errors import HpcBridgeError
from ..services import limits
from ..services.cluster import Cluster
from ..services.registry import Registry
from . import web

Route = Callable[..., None]
TEMPLATE = "_compute_limits.html"


async def cluster_view(c: Cluster) -> dict[str, Any]:
    found: AccountLimits | str
    try:
        found = await limits.current(c)
    except HpcBridgeError as exc:  # one cluster that cannot answer is said in its own box
        found = exc.message
    return {"name": c.name, "limits": found}


def register(route: Route, registry: Registry) -> None:
    """Adds this part's route (its template `_compute_limits.html` loads it lazily with htmx)."""

    async def limits_part(request: Request, login: Any) -> Response:
        clusters = [registry.get(n) for n in registry.names]
        views = await asyncio.gather(*(cluster_view(c) for c in clusters if c.config.provider is None))
        return HTMLResponse(web.fragment(TEMPLATE, part="body", views=views), headers=web.HEADERS)

    route("/compute/limits", limits_part)
