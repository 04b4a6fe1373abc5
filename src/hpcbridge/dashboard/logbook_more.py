"""Issue 30's logbook pages: the map of entries linked by `#id` (a tree, and a graph drawn as SVG on the
server: no script, no library), the `@run` completions the editor asks for, and the entry images."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import Response

from ..history.logbook_map import entry_map, run_names
from ..history.service import History
from . import logbook_images, params, web
from .auth import Login, Logins


def register(route: Callable[..., None], mcp: FastMCP, logins: Logins, history: History, image_max_kb: int) -> None:
    images = history.state_dir / "logbook-images"

    async def map_page(request: Request, login: Login) -> Response:
        project = params.text(request.query_params, "project", max_len=128)
        found = await asyncio.to_thread(entry_map, history.db, project)
        return web.page(request, login, "logbook_map.html", map=found, project=project,
                        where={n.id: n for n in found.nodes})

    async def run_completions(request: Request, login: Login) -> Response:
        prefix = params.text(request.query_params, "q", max_len=200)
        names = await asyncio.to_thread(run_names, history.db, prefix)
        return Response(json.dumps({"runs": names}), media_type="application/json", headers=web.HEADERS)

    route("/logbook-map", map_page)
    route("/logbook-runs.json", run_completions)
    route("/logbook-images/{name}", logbook_images.serve(images))
    mcp.custom_route("/logbook-images", methods=["POST"], include_in_schema=False)(
        logbook_images.upload_endpoint(logins, images, image_max_kb))
