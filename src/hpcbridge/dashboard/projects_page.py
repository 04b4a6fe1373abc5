"""`/projects` and `/projects/{name}` (issue 30): each project with its colour, its live jobs on every cluster,
its recent history, success rate and GPU hours, and its logbook; and `/search.json`, what the search box
(Ctrl/Cmd+K on every page, static/dashboard.js) asks: projects, logbook entries and history jobs by words.

Live jobs come from the board's queue watchers (the same snapshot the board shows: no command of their own);
the rest from the history store (history/projects.py)."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import HpcBridgeError, InvalidParameter, NotFound
from ..history.projects import ProjectStats, colour, project_names, project_stats
from ..history.queries import Filters
from ..history.runs import project_of
from ..history.service import History
from ..services.registry import Registry
from . import params, web
from .auth import Login
from .board import Board, JobRow

RECENT = 30
SEARCH_HITS = 8  # of each kind
_PROJECT = re.compile(r"^[A-Za-z0-9][\w.\-]{0,99}$")


def register(route: Any, registry: Registry, history: History, board: Board) -> None:
    def separator() -> str:
        return registry.settings.history.project_separator

    def stats(project: str = "") -> list[ProjectStats]:
        h = registry.settings.history
        return project_stats(history.db, h.project_separator, h.campaigns, project)

    async def live() -> dict[str, list[tuple[str, JobRow]]]:
        """project -> (cluster, row) of every job in the queues now."""
        out: dict[str, list[tuple[str, JobRow]]] = {}
        for b in await board.build(fresh=True):
            for run in b.runs:
                for row in run.rows:
                    name = project_of(row.name, separator())
                    if name:
                        out.setdefault(name, []).append((b.cluster, row))
        return out

    async def projects_page(request: Request, login: Login) -> Response:
        listed, now = await asyncio.gather(asyncio.to_thread(stats), live())
        known = {p.name for p in listed}
        listed += [ProjectStats(n, colour(n)) for n in now if n not in known]  # live, not recorded yet
        return web.page(request, login, "projects.html", projects=listed, live=now)

    async def project_page(request: Request, login: Login) -> Response:
        name = params.text(request.path_params, "name", max_len=128)
        if not _PROJECT.match(name):
            raise InvalidParameter("name", f"{name!r} is not a project name", "letters, digits, . _ -")
        found, now = await asyncio.gather(asyncio.to_thread(stats, name), live())
        recent = await asyncio.to_thread(history.reader.search, Filters.checked(project=name), 0, RECENT)
        entries = await asyncio.to_thread(history.logbook.search, "", name, "", 0, 100)
        if not found and name not in now and not entries.items:
            raise NotFound(f"no project {name!r}: no job named {name}{separator()}... and no logbook entry")
        project = found[0] if found else ProjectStats(name, colour(name))
        return web.page(request, login, "project.html", p=project, live=now.get(name, []), recent=recent,
                        entries=entries, campaigns=registry.settings.history.campaigns)

    async def search(request: Request, login: Login) -> Response:
        words = params.text(request.query_params, "q", max_len=200).strip()
        hits: list[dict[str, str]] = []
        if words:
            try:
                names = await asyncio.to_thread(project_names, history.db, words, SEARCH_HITS)
                hits += [{"kind": "project", "label": n, "href": f"/projects/{quote(n)}"} for n in names]
                entries = await asyncio.to_thread(history.logbook.search, words, "", "", 0, SEARCH_HITS)
                hits += [{"kind": "logbook", "label": f"#{e.id} {e.title}", "href": f"/logbook/{e.id}"}
                         for e in entries.items]
                jobs = await asyncio.to_thread(history.reader.search, Filters.checked(text=words), 0, SEARCH_HITS)
                runs = dict.fromkeys((j.run, j.cluster) for j in jobs.items if j.run)  # first-seen order
                hits += [{"kind": "run", "label": f"{run} ({cluster})",
                          "href": f"/run/{quote(run)}?cluster={quote(cluster)}"} for run, cluster in runs]
                hits += [{"kind": "job", "label": f"{j.name} ({j.cluster} {j.job_id}, {j.state.lower()})",
                          "href": f"/job/{quote(j.cluster)}/{quote(j.job_id)}"} for j in jobs.items]
            except HpcBridgeError as exc:
                hits.append({"kind": "error", "label": exc.message, "href": ""})
        return JSONResponse({"q": words, "hits": hits}, headers=web.HEADERS)

    route("/projects", projects_page)
    route("/projects/{name}", project_page)
    route("/search.json", search)
