"""Tidying the board (issue 30): pin a finished job (it stays until dismissed), dismiss one, or dismiss every
finished (or failed) job at once; the same store and rule as the `clear_finished` tool (history/board_marks.py).
Plain form posts (CSRF checked by web.guarded) that come back to the board with what was done."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from ..history.service import History
from ..services.registry import Registry
from . import params, web
from .auth import Login

MARK_OF = {"pin": "pinned", "dismiss": "dismissed"}


def register(route: Any, registry: Registry, history: History) -> None:
    async def mark(request: Request, login: Login) -> Response:
        c = registry.get(params.text(request.path_params, "cluster", max_len=128))
        job_id = c.job_id(params.text(request.path_params, "job_id", max_len=128))
        action = params.choice(request.path_params, "action", tuple(MARK_OF), "pin")
        await asyncio.to_thread(history.marks.set, c.name, job_id, MARK_OF[action])
        return web.redirect(f"/?done={quote(f'{MARK_OF[action]} {job_id}')}")

    async def clear(request: Request, login: Login) -> Response:
        form = await params.form(request)
        cluster = params.text(form, "cluster", max_len=128)
        names = (registry.get(cluster).name,) if cluster else tuple(registry.names)
        only_failed = params.choice(form, "only", ("finished", "failed"), "finished") == "failed"
        gone = await asyncio.to_thread(history.marks.clear_finished, names, only_failed)
        what = "failed" if only_failed else "finished"
        return web.redirect(f"/?done={quote(f'dismissed {len(gone)} {what} job(s); pinned ones stay')}")

    route("/board/clear", clear, ("POST",))
    route("/board/{cluster}/{job_id}/{action}", mark, ("POST",))
