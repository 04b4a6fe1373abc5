"""The compute page's part for: Fairshare, priority factors and start estimates (issue 28).

_compute_standing.html is a shell per cluster that htmx fills from /parts/standing/{cluster} once the page
has loaded (the page itself asks nothing more): the login user's fairshare per account, get_fairshare's
service. A cluster whose scheduler shows no fairshare says so in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..errors import HpcBridgeError
from ..services import standing
from ..services.registry import Registry
from . import params, web

Route = Callable[..., None]
TEMPLATE = "_compute_standing.html"


def register(route: Route, registry: Registry) -> None:
    """Adds this part's routes (its template `_compute_standing.html` loads them lazily with htmx)."""

    async def standing_part(request: Request, login: Any) -> Response:
        c = registry.get(params.text(request.path_params, "cluster", max_len=128))
        try:
            found = await standing.fairshare(c)
        except HpcBridgeError as exc:  # no fairshare here, or the scheduler did not answer: said in the part
            return HTMLResponse(web.fragment(TEMPLATE, part="error", cluster=c.name, message=exc.message),
                                headers=web.HEADERS)
        return HTMLResponse(web.fragment(TEMPLATE, part="shares", f=found, num=_num), headers=web.HEADERS)

    route("/parts/standing/{cluster}", standing_part)


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
