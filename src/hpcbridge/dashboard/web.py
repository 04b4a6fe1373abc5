"""What every dashboard page shares: templates (autoescaped), the login check, CSRF on state changes, the
security headers, server-sent events and the vendored static files."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse

from .. import principal
from ..errors import HpcBridgeError, NotFound
from . import params
from .auth import Login, Logins, cookie_name, csrf_ok

log = logging.getLogger("hpcbridge.dashboard")

# No inline script, no framing, nothing from elsewhere: a job name or a logbook entry that smuggles markup
# in is inert even where escaping were to miss it.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # not no-referrer: with it Chromium sends `Origin: null` on form posts, which the Origin guard refuses
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC = {"htmx.min.js": "text/javascript", "uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css",
          "dashboard.js": "text/javascript", "dashboard.css": "text/css", "job_metrics.js": "text/javascript",
          "job_stats.js": "text/javascript", "THIRD-PARTY-LICENSES.txt": "text/plain",
          "logbook.js": "text/javascript", "logbook.css": "text/css"}
NAV = [("/", "Board"), ("/history", "History"), ("/compute", "Compute"), ("/logbook", "Logbook"),
       ("/clusters", "Clusters")]

Handler = Callable[[Request, Login], Awaitable[Response]]
_LINE_END = re.compile(r"\r\n|\r|\n")  # the SSE line ends (not str.splitlines: it splits on \x1c, \u2028, ...)

templates = Environment(loader=PackageLoader("hpcbridge.dashboard", "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True),
                        trim_blocks=True, lstrip_blocks=True)


def _pager(query: Any, offset: int) -> str:
    """The same search with another offset, as a query string."""
    pairs = [(k, v) for k, v in query.multi_items() if k != "offset"]
    return urlencode([*pairs, ("offset", str(max(0, offset)))])


def script_json(value: object) -> Markup:
    """JSON for a <script type="application/json"> element: no `<`, `>` or `&` can end the element early."""
    text = json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # the three characters that matter in HTML are escaped


templates.filters["pager"] = _pager


def page(request: Request, login: Login | None, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(template).render(request_path=request.url.path, login=login, nav=NAV, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def fragment(template: str, **context: Any) -> str:
    return templates.get_template(template).render(**context)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def guarded(logins: Logins, on_look: Callable[[], None], handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The login check for every page; state-changing methods also need the session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        login = logins.find(request.cookies.get(cookie_name(request)))
        if login is None:  # refused before any body is read
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                return redirect("/login")
            return PlainTextResponse("log in first (POST /login with the token)", status_code=401, headers=HEADERS)
        try:
            if request.method != "GET":
                form = await params.form(request)
                given = request.headers.get("x-csrf-token") or params.text(form, "csrf")
                if not csrf_ok(login, given):
                    return PlainTextResponse("missing or wrong CSRF token: reload the page", status_code=403,
                                             headers=HEADERS)
            on_look()
            with principal.acting_as(login.principal):  # as for tools: the audit log names who acted
                return await handler(request, login)
        except params.BodyTooLarge as exc:
            return too_large(exc)
        except HpcBridgeError as exc:  # a bad id, an unknown cluster, a refused action: said on the page
            status = 404 if isinstance(exc, NotFound) else 400
            return page(request, login, "error.html", status=status, message=exc.message)

    return endpoint


def too_large(exc: params.BodyTooLarge) -> Response:
    # the connection closes after this answer: the rest of the body is never read
    return PlainTextResponse(exc.message, status_code=413, headers={**HEADERS, "Connection": "close"})


def sse_event(name: str, data: str) -> str:
    """One server-sent event. A field may hold neither CR nor LF, and a reader ends a line at CRLF, CR or LF:
    each line of `data` (a CR in job output or a job name is a line end too) is its own `data:` field, which
    EventSource joins again with LF."""
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in _LINE_END.split(data)) + "\n"


def event_stream(request: Request, produce: Callable[[], Awaitable[str]], every_s: float,
                 hold: Callable[[], None], release: Callable[[], None]) -> StreamingResponse:
    """Server-sent events: `produce` again every `every_s` while the page is open; sent only when changed.
    While the stream is open the page counts as someone looking (the history recorder polls)."""

    owner = principal.name()  # the page's login (set by guarded); the stream runs after guarded has returned

    async def stream() -> AsyncIterator[str]:
        principal.current.set(owner)  # in this response's own task: the request's context, gone with it
        hold()
        last = None
        try:
            while not await request.is_disconnected():
                try:
                    html = await produce()
                except Exception as exc:  # noqa: BLE001 - a broken refresh must not end the page's stream
                    log.warning("dashboard refresh failed: %s", exc)
                    html = last or ""
                if html != last:
                    last = html
                    yield sse_event("update", html)
                else:
                    yield ": still here\n\n"
                await asyncio.sleep(every_s)
        finally:
            release()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={**HEADERS, "X-Accel-Buffering": "no"})


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return PlainTextResponse("not found", status_code=404)
    data = resources.files("hpcbridge.dashboard").joinpath("static", name).read_bytes()
    return Response(data, media_type=STATIC[name], headers={**HEADERS, "Cache-Control": "max-age=3600"})
