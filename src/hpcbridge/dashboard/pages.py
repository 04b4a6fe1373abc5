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
from ..services.progress_look import look_at
from ..services.recommend import Need, recommend
from ..services.registry import Registry
from ..services.resources import gpu_pools
from . import (
    board_tidy,
    compute_limits,
    compute_standing,
    compute_usage,
    job_logs,
    job_metrics,
    job_stats,
    logbook_more,
    params,
    projects_page,
    settings_page,
    web,
)
from .auth import LIFETIME_S, Login, Logins, cookie_name
from .board import Board
from .markdown import render_entry

ACTIONS = ("cancel", "hold", "release")
MAX_GPUS = 100_000  # the "where can I get N GPUs" form
TAIL_LINES = 200


def register(mcp: FastMCP, registry: Registry, history: History, verifier: TokenVerifier | None) -> None:
    logins = Logins(verifier)
    cookie_secure = registry.settings.dashboard.cookie_secure
    board = Board(lambda: [registry.get(n) for n in registry.names], history.reader, history.marks,
                  lambda: registry.settings.dashboard.dim_patterns)
    activity = history.activity

    def route(path: str, handler: web.Handler, methods: tuple[str, ...] = ("GET",)) -> None:
        mcp.custom_route(path, methods=list(methods), include_in_schema=False)(
            web.guarded(logins, activity.touch, handler))

    async def login_page(request: Request) -> Response:
        if request.method == "GET":
            return web.page(request, None, "login.html", error="")
        try:
            made = await logins.log_in(params.text(await params.form(request), "token", max_len=4096))
        except params.BodyTooLarge as exc:
            return web.too_large(exc)
        except HpcBridgeError as exc:
            return web.page(request, None, "login.html", status=400, error=exc.message)
        if made is None:
            return web.page(request, None, "login.html", status=401, error="That token is not accepted.")
        response = web.redirect("/")
        # Secure when configured (a TLS proxy in front: the scheme seen here is plain http)
        response.set_cookie(cookie_name(request), made[0], max_age=LIFETIME_S, httponly=True, samesite="strict",
                            secure=cookie_secure or request.url.scheme == "https", path="/")
        return response

    mcp.custom_route("/login", methods=["GET", "POST"], include_in_schema=False)(login_page)
    mcp.custom_route("/static/{name}", methods=["GET"], include_in_schema=False)(web.static)

    async def log_out(request: Request, login: Login) -> Response:
        logins.log_out(request.cookies.get(cookie_name(request)))
        response = web.redirect("/login")
        response.delete_cookie(cookie_name(request), path="/")
        return response

    async def board_html(fresh: bool = False) -> str:
        return web.fragment("_board.html", boards=await board.build(fresh))

    async def board_page(request: Request, login: Login) -> Response:
        return web.page(request, login, "board.html", board=await board_html(fresh=True),
                        done=params.text(request.query_params, "done"))

    def open_board() -> None:
        activity.hold()
        board.watch()

    def close_board() -> None:
        board.unwatch()
        activity.release()

    async def board_events(request: Request, login: Login) -> Response:
        return web.event_stream(request, board_html, 2.0, open_board, close_board)

    async def job_page(request: Request, login: Login) -> Response:
        c, job_id = _job_of(registry, request)
        details = await c.job_details(job_id)
        script, diagnosis = await _script(history, c.name, job_id, c), None
        state = details.job.state
        if state is JobState.PENDING or (state.final and state is not JobState.COMPLETED):  # why it waits or died
            diagnosis = await _quietly(diagnose_job(c, job_id))
        look = (await look_at(c, [details.job])).get(details.job.job_id)  # its output: never fails the page
        return web.page(request, login, "job.html", cluster=c.name, d=details, script=script, diagnosis=diagnosis,
                        read_only=c.config.read_only, done=params.text(request.query_params, "done"), look=look,
                        error=params.text(request.query_params, "error", max_len=4000),
                        tail=await _tail(c, details.stdout_path), tail_err=await _tail(c, details.stderr_path),
                        provenance=await _provenance(history, c.name, job_id))

    async def tail_events(request: Request, login: Login) -> Response:
        c, job_id = _job_of(registry, request)
        stream = params.choice(request.query_params, "stream", ("stdout", "stderr"), "stdout")

        async def produce() -> str:
            details = await c.job_details(job_id)
            text = await _tail(c, details.stderr_path if stream == "stderr" else details.stdout_path)
            return web.fragment("_tail.html", tail=text, state=details.job.state.value)

        return web.event_stream(request, produce, 2.0, activity.hold, activity.release)

    async def job_action(request: Request, login: Login) -> Response:
        c, job_id = _job_of(registry, request)
        action = params.text(request.path_params, "action")
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
        error, page, status = "", None, 200
        try:
            cluster = params.text(q, "cluster", max_len=128)
            words = [params.text(q, k) or None for k in ("user", "partition", "project", "since", "until")]
            filters = Filters.checked(params.text(q, "text"), (registry.get(cluster).name,) if cluster else (),
                                      params.texts(q, "state"), *words)
            offset = params.integer(q, "offset", 0, 0, params.MAX_OFFSET)
            page = await asyncio.to_thread(history.reader.search, filters, offset, 50)
        except HpcBridgeError as exc:  # a bad filter: said above the results (htmx swaps a 400 in too)
            error, status = exc.message, 400
        context: dict[str, Any] = {"page": page, "error": error, "q": q, "clusters": registry.names,
                                   "states": [s.value for s in JobState]}
        if request.headers.get("hx-request"):
            return web.HTMLResponse(web.fragment("_history_rows.html", **context), status, headers=web.HEADERS)
        return web.page(request, login, "history.html", status=status, **context)

    async def run_page(request: Request, login: Login) -> Response:
        view = await asyncio.to_thread(history.reader.run, params.text(request.path_params, "name"),
                                       params.text(request.query_params, "cluster") or None, 0, 200)
        return web.page(request, login, "run.html", view=view)

    async def compute_page(request: Request, login: Login) -> Response:
        q = request.query_params
        days = int(params.choice(q, "days", ("7", "14", "30"), "7"))
        gpus = params.integer(q, "gpus", 0, 1, MAX_GPUS)
        hours = params.number(q, "hours", 1.0, 0.1, 24 * 366)
        gpu_type = validate.optional_name("gpu_type", params.text(q, "gpu_type", max_len=128) or None)
        clusters = [registry.get(n) for n in registry.names]
        pools = await asyncio.gather(*(_quietly(_pools(c)) for c in clusters))
        usage = {c.name: await asyncio.to_thread(history.reader.gpu_usage, c.name, days) for c in clusters}
        advice, error = None, ""
        if gpus:
            try:
                need = Need(gpus=gpus, gpu_type=gpu_type, time_limit=f"{max(1, round(hours * 60))}")
                advice = await recommend(clusters, need, history.queue_waits)
            except HpcBridgeError as exc:
                error = exc.message
        chart = web.script_json({"days": days, "series": {name: [[p.at, p.total, p.allocated, p.mine] for p in points]
                                                           for name, points in usage.items()}})
        return web.page(request, login, "compute.html", pools=dict(zip(registry.names, pools, strict=True)),
                        advice=advice, error=error, q=q, days=days, chart=chart)

    async def logbook_page(request: Request, login: Login) -> Response:
        q = request.query_params
        error, status = "", 200
        text, project = params.text(q, "text"), params.text(q, "project", max_len=128)
        if request.method == "POST":
            form = await params.form(request)
            try:
                entry = await asyncio.to_thread(history.logbook.create, params.text(form, "project", max_len=128),
                                                params.text(form, "kind") or "note", params.text(form, "title"),
                                                params.text(form, "body", max_len=params.MAX_BODY))
                return web.redirect(f"/logbook/{entry.id}")
            except HpcBridgeError as exc:  # the form again, with what is wrong
                error, status = exc.message, 400
        page = await asyncio.to_thread(history.logbook.search, text, project, "", 0, 100)
        return web.page(request, login, "logbook.html", status=status, page=page, q=q, error=error)

    async def entry_page(request: Request, login: Login) -> Response:
        entry_id = params.integer(request.path_params, "entry_id", 0, 1, params.MAX_ID)
        entry = await asyncio.to_thread(history.logbook.read, entry_id)
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
    route("/logbook/{entry_id}", entry_page)
    route("/clusters", clusters_page)
    for part in (job_stats, job_logs, job_metrics):  # issue 27: the job page's live parts, each its own module
        part.register(route, registry, activity.hold, activity.release)
    for standing in (compute_standing, compute_limits, compute_usage):  # issue 28: the compute page's parts
        standing.register(route, registry)
    settings_page.register(route, registry)  # issue 30: configuration from the browser
    projects_page.register(route, registry, history, board)  # issue 30: projects, and the search box's answers
    board_tidy.register(route, registry, history)  # issue 30: pin, dismiss, clear finished
    logbook_more.register(route, mcp, logins, history, registry.settings.dashboard.image_max_kb)  # issue 30


def _job_of(registry: Registry, request: Request) -> tuple[Any, str]:
    """The cluster and the checked job id of a `/job/{cluster}/{job_id}` path."""
    c = registry.get(params.text(request.path_params, "cluster", max_len=128))
    return c, c.job_id(params.text(request.path_params, "job_id", max_len=128))


async def _quietly(coro: Any) -> Any:
    """A part of a page that fails is shown as its error, not a broken page."""
    try:
        return await coro
    except HpcBridgeError as exc:
        return exc


async def _provenance(history: History, cluster: str, job_id: str) -> Any:
    """Where the job came from, if it was submitted through hpcbridge (issue 30); None otherwise."""
    if not history.config.enabled:
        return None
    from ..history import provenance_store

    try:
        return await asyncio.to_thread(provenance_store.read, history.db, cluster, job_id)
    except HpcBridgeError:
        return None


async def _pools(cluster: Any) -> Any:
    return gpu_pools(await cluster.nodes(), await cluster.partitions())


async def _tail(cluster: Any, path: str) -> str:
    if not path:
        return ""
    try:
        return as_terminal((await read_file(cluster, path, tail_lines=TAIL_LINES, max_bytes=64 * 1024)).content)
    except HpcBridgeError as exc:
        return f"({exc.message})"


def as_terminal(text: str) -> str:
    """Output as a terminal shows it: a carriage return (every tqdm bar) goes back to the start of the line, so
    each line shows what was written after its last one (a CR ending the line, as in CRLF, changes nothing)."""
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n"))


async def _script(history: History, cluster: str, job_id: str, c: Any) -> str:
    try:
        facts = await asyncio.to_thread(history.reader.job, cluster, job_id)
        if facts.script:
            return facts.script
    except HpcBridgeError:
        pass
    try:
        return await c.batch_script(job_id)
    except HpcBridgeError as exc:
        return f"({exc.message})"
