"""The job page's part for live resource use of a running job: GPUs, CPU, memory (issue 27).

_job_stats.html is a shell on a running job's page whose `data-events` stream (dashboard.js connects it) gets a
fresh sample every STATS_INTERVAL seconds from get_job_stats' service, only while the page is open: the stream
holds `hold`/`release` (someone is looking) and ends when the page goes, so nothing samples when nobody looks.
static/job_stats.js keeps the samples the page has seen and charts per-GPU utilization and memory with uPlot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import HpcBridgeError
from ..services import job_stats
from ..services.registry import Registry
from . import params, web

Route = Callable[..., None]
TEMPLATE = "_job_stats.html"


def sample_json(stats: job_stats.JobStats) -> str:
    """One sample for the chart: time, and per GPU (node:index) utilization % and memory used in GiB."""
    gpus = [{"key": f"{n.node}:{g.index}", "util": g.utilization_percent,
             "mem": None if g.memory_used_mib is None else round(g.memory_used_mib / 1024, 2)}
            for n in stats.nodes for g in n.gpus]
    return web.script_json({"at": stats.sampled_at, "gpus": gpus})


def register(route: Route, registry: Registry, hold: Callable[[], None], release: Callable[[], None]) -> None:
    """Adds this part's routes; `hold`/`release` mark someone looking (sampling only then)."""

    async def stats_events(request: Request, login: Any) -> Response:
        c = registry.get(params.text(request.path_params, "cluster", max_len=128))
        job_id = c.job_id(params.text(request.path_params, "job_id", max_len=128))

        async def produce() -> str:
            try:
                # pages open on one job at once share one sample per interval (one probe step, not one each)
                stats = await c.cache.get(f"stats-page:{job_id}", job_stats.STATS_INTERVAL / 2,
                                          lambda: job_stats.job_stats(c, job_id))
            except HpcBridgeError as exc:  # the job ended, a node did not answer: said inside the part
                return web.fragment(TEMPLATE, part="error", message=exc.message)
            return web.fragment(TEMPLATE, part="sample", s=stats, sample=sample_json(stats),
                                gib=lambda mib: "-" if mib is None else f"{mib / 1024:.1f}")

        return web.event_stream(request, produce, job_stats.STATS_INTERVAL, hold, release)

    route("/events/stats/{cluster}/{job_id}", stats_events)
