"""The `config` toolset (issue 30): read and change the configuration file from an agent, through the one
editor the CLI and the dashboard's Settings page use (services/config_editor.py). list_clusters is the account
toolset's; these read a cluster's keys and change them. Changing tools are refused in one line unless the caller
is in `[config] editors` (default: only `local`, i.e. stdio)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastmcp.tools.base import ToolResult
from pydantic import Field

from .. import config_edit
from ..services.config_editor import Change, ClusterView, ConfigEditor
from ..settings_edit import SettingLine
from .toolkit import ToolKit, reply

Values = Annotated[dict[str, Any], Field(description="cluster keys, e.g. {\"host\": \"login.example.org\", "
                                                     "\"default_partition\": \"gpu\", \"policy.max_gpus\": 8}; "
                                                     "secrets (password) are refused: write them into the file")]


@dataclass(frozen=True)
class SettingList:
    settings: list[SettingLine]
    may_edit: bool


def render_change(change: Change) -> str:
    text = f"{change.action} {change.target} in {change.file}"
    if change.applied_now:
        text += f"; the running server uses it now ({', '.join(change.applied_now)})"
    if change.needs_restart:
        text += f"; takes effect when the server restarts ({', '.join(change.needs_restart)})"
    return text + (f"; {change.note}" if change.note else "")


def render_cluster(view: ClusterView) -> str:
    keys = ", ".join(f"{k}={v}" for k, v in view.keys.items())
    return f"{view.name}{' (default)' if view.default else ''} [{view.source}]: {keys}"


def render_settings(listing: SettingList) -> str:
    lines = [f"{s.key} = {s.value!r}{'' if s.in_file else ' (default)'}{'' if s.settable else ' [not settable]'}"
             for s in listing.settings]
    return "\n".join(lines) + ("" if listing.may_edit else "\n(you may read these, not change them)")


def _values(values: dict[str, Any]) -> dict[str, Any]:
    """{"policy.max_gpus": 8} and {"policy": {"max_gpus": 8}} both; checked like `--set KEY=VALUE`."""
    flat = {f"policy.{k}": v for k, v in (values.get("policy") or {}).items()} if isinstance(
        values.get("policy"), dict) else {}
    flat.update({k: v for k, v in values.items() if k != "policy"})
    config_edit.parse_settings([f"{k}=0" for k in flat], "values")  # refuses unknown keys and secrets by name
    out: dict[str, Any] = {}
    for key, value in flat.items():
        _, dot, tail = key.partition(".")
        if dot:
            out.setdefault("policy", {})[tail] = value
        else:
            out[key] = value
    return out


def register(kit: ToolKit) -> None:
    editor = ConfigEditor(kit.registry)

    @kit.tool(read_only=True, output=ClusterView)
    async def get_cluster_config(cluster: str) -> ToolResult:
        """One cluster's configuration keys (those not at their default), secrets shown as ***; source says
        whether it is in the file (editable) or from SLURM_*/PBS_* variables."""
        view = editor.cluster(cluster)
        return reply(view, render_cluster(view))

    @kit.tool(read_only=False, idempotent=False, output=Change)
    async def add_cluster_config(cluster: str, values: Values, replace: bool = False) -> ToolResult:
        """Add [clusters.NAME] to the configuration file (comments kept; checked as the server reads it); the
        running server can use it at once. `replace` overwrites a cluster of that name."""
        change = await editor.add_cluster(cluster, _values(values), replace)
        return reply(change, render_change(change))

    @kit.tool(read_only=False, output=Change)
    async def update_cluster_config(cluster: str, values: Values | None = None,
                                    unset: list[str] | None = None) -> ToolResult:
        """Change keys of a cluster in the file (e.g. default_partition, policy.max_gpus); `unset` returns keys
        to their default. The running server uses the change at once (its connection is reopened)."""
        change = await editor.update_cluster(cluster, _values(values or {}), unset)
        return reply(change, render_change(change))

    @kit.tool(read_only=False, destructive=True, output=Change)
    async def remove_cluster_config(cluster: str) -> ToolResult:
        """Remove a cluster from the configuration file and the running server (its job history is kept)."""
        change = await editor.remove_cluster(cluster)
        return reply(change, render_change(change))

    @kit.tool(read_only=True, output=SettingList)
    async def list_settings(key: str | None = None) -> ToolResult:
        """Settings outside the clusters (log_level, toolsets, history.*, dashboard.*, http.*, config.editors)
        with their value, default and whether a change applies now or on restart; `key` for one. Secrets ***."""
        lines = [editor.get_setting(key)] if key else editor.list_settings()
        listing = SettingList(lines, editor.may_edit())
        return reply(listing, render_settings(listing))

    @kit.tool(read_only=False, output=Change)
    async def set_setting(key: str, value: Any = None) -> ToolResult:
        """Set one setting (e.g. history.active_minutes = 10, toolsets = ["cluster", "jobs"]); value null
        removes it from the file (its default applies). Says whether the running server uses it now."""
        change = await editor.set_setting(key, value)
        return reply(change, render_change(change))
