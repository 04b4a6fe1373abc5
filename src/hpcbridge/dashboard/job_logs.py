"""The job page's part for logs (issue 27): page through stdout/stderr or another log of the job by byte
offsets (prev/next), search it, and show a JSONL file as a table. htmx fragments from the same services as the
tools (services/logs.py), so the file sandbox and the caps are the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..errors import HpcBridgeError
from ..services import logs
from ..services.registry import Registry
from ..watch.logpage import MAX_PAGE
from . import params, web

Route = Callable[..., None]
PAGE = 32 * 1024  # a screenful or two of log per click
TEMPLATE = "_job_logs.html"


def register(route: Route, registry: Registry, hold: Callable[[], None], release: Callable[[], None]) -> None:
    """Adds this part's routes; `hold`/`release` mark someone looking (sampling only then)."""

    async def target(request: Request) -> tuple[Any, str, str, str]:
        """(cluster, job id, stream or '', the sandboxed real path) of the query."""
        c = registry.get(params.text(request.path_params, "cluster", max_len=128))
        job_id = c.job_id(params.text(request.path_params, "job_id", max_len=128))
        path = params.text(request.query_params, "file", max_len=4096)
        stream = "" if path else params.choice(request.query_params, "stream", ("stdout", "stderr"), "stdout")
        real = await logs.resolve(c, path or None, None if path else job_id, stream or "stdout")
        return c, job_id, stream, real

    def answer(part: str, **context: Any) -> Response:
        return HTMLResponse(web.fragment(TEMPLATE, part=part, **context), headers=web.HEADERS)

    async def fragment(request: Request, part: str, make: Callable[..., Any]) -> Response:
        try:
            c, job_id, stream, real = await target(request)
            return answer(part, cluster=c.name, job_id=job_id, stream=stream, path=real, **await make(c, real))
        except HpcBridgeError as exc:  # said inside the part, not as a whole error page
            return answer("error", message=exc.message)

    async def log_page(request: Request, login: Any) -> Response:
        q = request.query_params
        before = params.integer(q, "before", -1, -1, 2**62)  # "previous": the page that ends at this offset

        async def make(c: Any, real: str) -> dict[str, Any]:
            if before >= 0:
                start = max(0, before - PAGE)  # near the start the page is shorter: it must end at `before`
                page = await logs.read_log(c, real, offset=start, max_bytes=min(PAGE, before - start) or 1,
                                           align=True)
            else:
                offset = params.integer(q, "offset", -PAGE, -MAX_PAGE, 2**62)  # default: the last page
                page = await logs.read_log(c, real, offset=offset, max_bytes=PAGE)
            files = await logs.list_logs(c, job_id=params.text(request.path_params, "job_id", max_len=128),
                                         limit=30)
            return {"page": page, "files": files.files}

        return await fragment(request, "page", make)

    async def log_search(request: Request, login: Any) -> Response:
        q = request.query_params
        pattern = params.text(q, "q", max_len=1000)

        async def make(c: Any, real: str) -> dict[str, Any]:
            found = await logs.search_log(c, real, pattern, fixed=params.text(q, "fixed") == "on",
                                          ignore_case=params.text(q, "icase") == "on", context=1, max_matches=200,
                                          timeout=20)
            return {"found": found, "page_size": PAGE}

        return await fragment(request, "search", make)

    async def log_records(request: Request, login: Any) -> Response:
        q = request.query_params
        start = params.integer(q, "start", 0, 0, 2**62)

        async def make(c: Any, real: str) -> dict[str, Any]:
            records = await logs.read_records(c, real, start=start, count=100)
            columns: list[str] = []
            for row in records.records:
                columns += [k for k in row if k not in columns and len(columns) < 20]
            return {"records": records, "columns": columns}

        return await fragment(request, "records", make)

    route("/job/{cluster}/{job_id}/logs/page", log_page)
    route("/job/{cluster}/{job_id}/logs/search", log_search)
    route("/job/{cluster}/{job_id}/logs/records", log_records)
