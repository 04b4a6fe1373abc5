"""`/settings` (issue 30): the clusters with their keys and the other settings, changed through the one editor the
CLI and the config tools use (services/config_editor.py): the same checks, the same `[config] editors` rule, the
same audit line with the logged-in principal. A refused or invalid change re-shows the page with the error and
what was typed (nothing lost); a done one redirects with what the running server did with it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from .. import config_edit
from ..errors import HpcBridgeError
from ..services.config_editor import Change, ConfigEditor
from ..services.registry import Registry
from . import params, web
from .auth import Login

ADD_FIELDS = ("host", "user", "port", "key_path", "scheduler", "default_partition", "account")
MAX_PAIRS = 8000


def register(route: Any, registry: Registry) -> None:
    editor = ConfigEditor(registry)

    def show(request: Request, login: Login, status: int = 200, error: str = "", typed: dict[str, str] | None = None,
             form_id: str = "") -> Response:
        return web.page(request, login, "settings.html", status=status, clusters=editor.clusters(),
                        settings=editor.list_settings(), may_edit=editor.may_edit(), file=str(editor.path),
                        error=error, typed=typed or {}, form_id=form_id, add_fields=ADD_FIELDS,
                        done=params.text(request.query_params, "done", max_len=2000))

    async def settings_page(request: Request, login: Login) -> Response:
        return show(request, login)

    async def change(request: Request, login: Login) -> Response:
        form = await params.form(request)
        what = params.choice(request.path_params, "what", ("add", "set", "remove", "setting"), "set")
        typed = {k: params.text(form, k, max_len=MAX_PAIRS) for k in (*ADD_FIELDS, "name", "pairs", "unset", "key",
                                                                         "value")}
        name = typed["name"]
        try:
            if what == "add":
                values: dict[str, Any] = {k: typed[k] for k in ADD_FIELDS if typed[k]}
                if "port" in values:
                    values["port"] = config_edit.parse_value(values["port"])
                values.update(_pairs(typed["pairs"]))
                done = await editor.add_cluster(name, values)
            elif what == "set":
                unset = [k.strip() for k in typed["unset"].split(",") if k.strip()]
                done = await editor.update_cluster(name, _pairs(typed["pairs"]), unset)
            elif what == "remove":
                done = await editor.remove_cluster(name)
            else:
                done = await editor.set_setting(typed["key"], typed["value"] if typed["value"] != "" else None)
        except HpcBridgeError as exc:
            return show(request, login, 400, exc.message, typed, f"{what}:{name or typed['key']}")
        return web.redirect(f"/settings?done={quote(_said(done))}")

    route("/settings", settings_page)
    route("/settings/{what}", change, ("POST",))


def _pairs(text: str) -> dict[str, Any]:
    """KEY=VALUE lines (the CLI's `--set` form): checked by name, secrets refused."""
    return config_edit.parse_settings([line.strip() for line in text.splitlines() if line.strip()], "pairs")


def _said(change: Change) -> str:
    text = f"{change.action} {change.target}"
    if change.applied_now:
        text += ": the running server uses it now"
    if change.needs_restart:
        text += ": takes effect when the server restarts"
    return text + (f" ({change.note})" if change.note else "")
