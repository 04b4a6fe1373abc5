"""The dashboard's pages, served by the MCP server's own HTTP app beside /mcp. Every rule (validation, policy,
read-only clusters, the sandbox) is the one the tools use: the pages call the same services."""

from __future__ import annotations

import asyncio
from typing import Any

from fastmcp import FastMCP
from fastmcp.server.auth import TokenVerifier
from starlette.requests import Request
from starlette.responses import Response

from .. import validate
from ..checks import checked_cluster
from ..errors import HpcBridgeError
from ..history.queries import Filters
from ..history.service import History
from ..models import JobState
from ..services.diagnose import diagnose_job
from ..services.files import read_file
from ..services.recommend import Need, recommend
from ..services.registry import Registry
from ..services.resources import gpu_pools
from . import web
from .auth import COOKIE, LIFETIME_S, Login, Logins
from .board import Board
from .markdown import render_entry

ACTIONS = ("cancel", "hold", "release")
TAIL_LINES = 200


def register(mcp: FastMCP, registry: Registry, history: History, verifier: TokenVerifier | None) -> None:
    logins = Logins(verifier)
    board = Board([registry.get(n) for n in registry.names], history.reader)
    activity = history.activity

    def route(path: str, handler: web.Handler, methods: tuple[str, ...] = ("GET",)) -> None:
        mcp.custom_route(path, methods=list(methods), include_in_schema=False)(
            web.guarded(logins, activity.touch, handler))

    async def login_page(request: Request) -> Response:
        if request.method == "GET":
            return web.page(request, None, "login.html", error="")
        form = await request.form()
        made = await logins.log_in(str(form.get("token") or ""))
        if made is None:
            return web.page(request, None, "login.html", status=401, error="That token is not accepted.")
        response = web.redirect("/")
        response.set_cookie(COOKIE, made[0], max_age=LIFETIME_S, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response

    mcp.custom_route("/login", methods=["GET", "POST"], include_in_schema=False)(login_page)
    mcp.custom_route("/static/{name}", methods=["GET"], include_in_schema=False)(web.static)

    async def log_out(request: Request, login: Login) -> Response:
        logins.log_out(request.cookies.get(COOKIE))
        response = web.redirect("/login")
        response.delete_cookie(COOKIE, path="/")
        return response

    async def board_html(fresh: bool = False) -> str:
        return web.fragment("_board.html", boards=await board.build(fresh))

    async def board_page(request: Request, login: Login) -> Response:
        return web.page(request, login, "board.html", board=await board_html(fresh=True))

    def open_board() -> None:
        activity.hold()
        board.watch()

    def close_board() -> None:
        board.unwatch()
        activity.release()

    async def board_events(request: Request, login: Login) -> Response:
        return web.event_stream(request, board_html, 2.0, open_board, close_board)

    async def job_page(request: Request, login: Login) -> Response:
        c = registry.get(request.path_params["cluster"])
        job_id = c.job_id(request.path_params["job_id"])
        details = await c.job_details(job_id)
        script, diagnosis = await _script(history, c.name, job_id, c), None
        state = details.job.state
        if state is JobState.PENDING or (state.final and state is not JobState.COMPLETED):  # why it waits or died
            diagnosis = await _quietly(diagnose_job(c, job_id))
        return web.page(request, login, "job.html", cluster=c.name, d=details, script=script, diagnosis=diagnosis,
                        read_only=c.config.read_only, done=request.query_params.get("done", ""),
                        error=request.query_params.get("error", ""),
                        tail=await _tail(c, details.stdout_path), tail_err=await _tail(c, details.stderr_path))

    async def tail_events(request: Request, login: Login) -> Response:
        c = registry.get(request.path_params["cluster"])
        job_id = c.job_id(request.path_params["job_id"])
        stream = "stderr" if request.query_params.get("stream") == "stderr" else "stdout"

        async def produce() -> str:
            details = await c.job_details(job_id)
            text = await _tail(c, details.stderr_path if stream == "stderr" else details.stdout_path)
            return web.fragment("_tail.html", tail=text, state=details.job.state.value)

        return web.event_stream(request, produce, 2.0, activity.hold, activity.release)

    async def job_action(request: Request, login: Login) -> Response:
        c = registry.get(request.path_params["cluster"])
        job_id = c.job_id(request.path_params["job_id"])
        action = request.path_params["action"]
        back = f"/job/{c.name}/{job_id}"
        if action not in ACTIONS:
            return web.redirect(f"{back}?error=unknown+action")
        try:
            await {"cancel": c.cancel, "hold": c.hold, "release": c.release}[action](job_id)
        except HpcBridgeError as exc:
            from urllib.parse import quote

            return web.redirect(f"{back}?error={quote(exc.message)}")
        return web.redirect(f"{back}?done={action}")

    async def history_page(request: Request, login: Login) -> Response:
        q = request.query_params
        error, page = "", None
        try:
            cluster = q.get("cluster") or ""
            filters = Filters.checked(q.get("text", ""), (registry.get(cluster).name,) if cluster else (),
                                      [s for s in q.getlist("state") if s], q.get("user"), q.get("partition"),
                                      q.get("project"), q.get("since"), q.get("until"))
            offset = max(0, int(q.get("offset") or 0))
            page = await asyncio.to_thread(history.reader.search, filters, offset, 50)
        except (HpcBridgeError, ValueError) as exc:
            error = getattr(exc, "message", str(exc))
        context: dict[str, Any] = {"page": page, "error": error, "q": q, "clusters": registry.names,
                                   "states": [s.value for s in JobState]}
        if request.headers.get("hx-request"):
            return web.HTMLResponse(web.fragment("_history_rows.html", **context), headers=web.HEADERS)
        return web.page(request, login, "history.html", **context)

    async def run_page(request: Request, login: Login) -> Response:
        view = await asyncio.to_thread(history.reader.run, request.path_params["name"],
                                       request.query_params.get("cluster") or None, 0, 200)
        return web.page(request, login, "run.html", view=view)

    async def compute_page(request: Request, login: Login) -> Response:
        q = request.query_params
        days = int(q.get("days") or 7) if (q.get("days") or "7") in ("7", "14", "30") else 7
        clusters = [registry.get(n) for n in registry.names]
        pools = await asyncio.gather(*(_quietly(_pools(c)) for c in clusters))
        usage = {c.name: await asyncio.to_thread(history.reader.gpu_usage, c.name, days) for c in clusters}
        advice, error = None, ""
        if q.get("gpus"):
            try:
                hours = float(q.get("hours") or 1)
                need = Need(gpus=int(q["gpus"]), gpu_type=validate.optional_name("gpu_type", q.get("gpu_type") or None),
                            time_limit=f"{int(hours * 60)}")
                advice = await recommend(clusters, need, history.queue_waits)
            except (HpcBridgeError, ValueError) as exc:
                error = getattr(exc, "message", str(exc))
        chart = web.script_json({"days": days, "series": {name: [[p.at, p.total, p.allocated, p.mine] for p in points]
                                                           for name, points in usage.items()}})
        return web.page(request, login, "compute.html", pools=dict(zip(registry.names, pools, strict=True)),
                        advice=advice, error=error, q=q, days=days, chart=chart)

    async def logbook_page(request: Request, login: Login) -> Response:
        q = request.query_params
        error = ""
        if request.method == "POST":
            form = await request.form()
            try:
                entry = await asyncio.to_thread(history.logbook.create, str(form.get("project") or ""),
                                                str(form.get("kind") or "note"), str(form.get("title") or ""),
                                                str(form.get("body") or ""))
                return web.redirect(f"/logbook/{entry.id}")
            except HpcBridgeError as exc:
                error = exc.message
        page = await asyncio.to_thread(history.logbook.search, q.get("text", ""), q.get("project", ""), "", 0, 100)
        return web.page(request, login, "logbook.html", page=page, q=q, error=error)

    async def entry_page(request: Request, login: Login) -> Response:
        entry = await asyncio.to_thread(history.logbook.read, int(request.path_params["entry_id"]))
        return web.page(request, login, "entry.html", entry=entry, body=render_entry(entry))

    async def clusters_page(request: Request, login: Login) -> Response:
        checks = await asyncio.gather(*(checked_cluster(registry, n) for n in registry.names))
        summary = await asyncio.to_thread(history.reader.summary, registry.names)
        return web.page(request, login, "clusters.html", checks=dict(zip(registry.names, checks, strict=True)),
                        summary={s.cluster: s for s in summary})

    route("/", board_page)
    route("/logout", log_out, ("POST",))
    route("/events/board", board_events)
    route("/job/{cluster}/{job_id}", job_page)
    route("/events/tail/{cluster}/{job_id}", tail_events)
    route("/job/{cluster}/{job_id}/{action}", job_action, ("POST",))
    route("/history", history_page)
    route("/run/{name}", run_page)
    route("/compute", compute_page)
    route("/logbook", logbook_page, ("GET", "POST"))
    route("/logbook/{entry_id:int}", entry_page)
    route("/clusters", clusters_page)


async def _quietly(coro: Any) -> Any:
    """A part of a page that fails is shown as its error, not a broken page."""
    try:
        return await coro
    except HpcBridgeError as exc:
        return exc


async def _pools(cluster: Any) -> Any:
    return gpu_pools(await cluster.nodes(), await cluster.partitions())


async def _tail(cluster: Any, path: str) -> str:
    if not path:
        return ""
    try:
        return (await read_file(cluster, path, tail_lines=TAIL_LINES, max_bytes=64 * 1024)).content
    except HpcBridgeError as exc:
        return f"({exc.message})"


async def _script(history: History, cluster: str, job_id: str, c: Any) -> str:
    try:
        facts = await asyncio.to_thread(history.reader.job, cluster, job_id)
        if facts.script:
            return facts.script
    except HpcBridgeError:
        pass
    try:
        return await c.backend.batch_script(job_id)
    except HpcBridgeError as exc:
        return f"({exc.message})"
