"""The job page's part for: Metric series users already write: TensorBoard event files, JSONL/CSV logs (issue 27).

job.html includes `_job_metrics.html` as a shell that asks for `/job/{cluster}/{job_id}/metrics` once the page
has loaded (htmx); that fragment carries the table and the series as JSON, and static/job_metrics.js charts them
with uPlot. Reading metric files is not sampling (nothing runs while nobody asks), so hold/release are not used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..errors import HpcBridgeError
from ..services import metrics
from ..services.registry import Registry
from . import params, web

Route = Callable[..., None]
TEMPLATE = "_job_metrics.html"
POINTS = 500  # per series on the page: enough for a chart as wide as the screen


def register(route: Route, registry: Registry, hold: Callable[[], None], release: Callable[[], None]) -> None:
    """Adds this part's routes; `hold`/`release` mark someone looking (sampling only then)."""

    async def metrics_part(request: Request, login: Any) -> Response:
        try:
            c = registry.get(params.text(request.path_params, "cluster", max_len=128))
            job_id = c.job_id(params.text(request.path_params, "job_id", max_len=128))
            pattern = params.text(request.query_params, "series", max_len=200) or None
            found = await metrics.job_metrics(c, job_id, pattern=pattern, max_points=POINTS)
            chart = web.script_json([{"name": s.name, "steps": s.steps, "values": s.values} for s in found.series])
            html = web.fragment(TEMPLATE, part="series", cluster=c.name, job_id=job_id, found=found, chart=chart,
                                pattern=pattern or "")
        except HpcBridgeError as exc:  # said inside the part, not as a whole error page
            html = web.fragment(TEMPLATE, part="error", message=exc.message)
        return HTMLResponse(html, headers=web.HEADERS)

    route("/job/{cluster}/{job_id}/metrics", metrics_part)
