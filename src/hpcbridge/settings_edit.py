"""The settings outside `[clusters.*]` (log_level, toolsets, [history], [dashboard], [http], [config]) as dotted
keys a person or an agent can list, read and change, and the masked view of a cluster's keys.

One editor for three doors (the CLI, the config tools, the dashboard's Settings page): values are edited in the
tomlkit document (comments kept) and the whole document is checked with the models the server reads it with.
Secrets are neither shown nor set here: `***` in every view, and the person writes them into the file.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tomlkit
from pydantic import BaseModel, SecretStr, ValidationError
from tomlkit.items import Table
from tomlkit.toml_document import TOMLDocument

from . import config_edit
from .config import (
    ClusterConfig,
    ConfigSection,
    DashboardConfig,
    HistoryConfig,
    HttpConfig,
    Policy,
    toolset_list,
)
from .errors import ConfigError, InvalidParameter

MASK = "***"
SECTIONS: dict[str, type[BaseModel]] = {"history": HistoryConfig, "dashboard": DashboardConfig,
                                        "http": HttpConfig, "config": ConfigSection}
# secrets (shown as ***, never set from a door) and tables a person edits in the file
NOT_SETTABLE = frozenset({"history.database_url", "http.tokens", "http_token"})
TOP_LEVEL: dict[str, tuple[Any, str]] = {
    "log_level": ("INFO", "log level of the server (DEBUG, INFO, WARNING)"),
    "toolsets": (["cluster", "jobs", "agent"], "toolsets the server offers (a list, or ['all'])"),
    "tool_aliases": ([], "extra tool names: ['pbs'] adds the PBS command-style aliases"),
    "mcp_tasks": (False, "the long waits may run as MCP tasks (needs the tasks extra)"),
}
# what a running server takes at once; every other setting applies when it restarts
LIVE = frozenset({"config.editors"})


@dataclass(frozen=True)
class SettingLine:
    key: str
    value: Any
    default: Any
    in_file: bool
    settable: bool
    applies: str  # "now" or "on restart"
    description: str


def keys() -> list[str]:
    out = list(TOP_LEVEL)
    for section, model in SECTIONS.items():
        out += [f"{section}.{field}" for field in model.model_fields]
    return out


def list_settings(doc: TOMLDocument) -> list[SettingLine]:
    return [get_setting(doc, key) for key in keys()]


def get_setting(doc: TOMLDocument, key: str) -> SettingLine:
    section, field, default, description = _describe(key)
    raw = doc.unwrap()
    table = raw.get(section) if section else raw
    in_file = isinstance(table, dict) and field in table
    value = table[field] if in_file and isinstance(table, dict) else default
    return SettingLine(key, shown(key, value), shown(key, default), in_file, key not in NOT_SETTABLE,
                       "now" if key in LIVE else "on restart", description)


def set_setting(doc: TOMLDocument, key: str, value: Any) -> None:
    """Put `key = value` into the document (its section created when missing); None removes the key so the
    default applies. Checked as the server reads the file."""
    section, field, _, _ = _describe(key)
    if key in NOT_SETTABLE:
        raise InvalidParameter("key", f"{key} holds a secret or a table of secrets",
                               "write it into the configuration file yourself")
    if isinstance(value, str):
        value = config_edit.parse_value(value)
    table: Any = doc
    if section:
        if section not in doc:
            doc[section] = tomlkit.table()
        table = doc[section]
        if not isinstance(table, Table):
            raise ConfigError(f"the file's '{section}' is not a table")
    if value is None:
        if field in table:
            del table[field]
    else:
        table[field] = value
    check_document(doc)


def check_document(doc: TOMLDocument) -> None:
    """Every part of the file the server reads, checked with the server's models (the environment's overrides
    are checked again when the server reloads the written file)."""
    config_edit.check(doc)
    raw = doc.unwrap()
    for section, model in SECTIONS.items():
        try:
            model.model_validate(raw.get(section) or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ()))
            raise ConfigError(f"[{section}] {where}: {err.get('msg')}") from exc
    if "toolsets" in raw:
        toolset_list(raw["toolsets"])
    aliases = raw.get("tool_aliases") or []
    if not isinstance(aliases, list) or any(a != "pbs" for a in aliases):
        raise ConfigError(f"tool_aliases: {aliases!r}: the only alias set is 'pbs'")
    if not isinstance(raw.get("mcp_tasks", False), bool):
        raise ConfigError("mcp_tasks: true or false")
    if raw.get("mcp_tasks") and importlib.util.find_spec("fastmcp_tasks") is None:
        raise ConfigError("mcp_tasks = true needs the tasks extra, which is not installed: "
                          "pip install 'hpcbridge[tasks]' first")
    if not isinstance(raw.get("log_level", "INFO"), str):
        raise ConfigError("log_level: a level name such as INFO")


def _url_shown(text: str) -> str:
    """A database URL read as SQLAlchemy reads it, its password (also an empty user's, `://:pw@`) and any
    password-like query value (`?password=`) masked; a URL it cannot read is not shown at all."""
    from sqlalchemy.engine import make_url  # the history's library: loaded only when a URL is shown
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except ArgumentError:
        return MASK
    query = {k: (MASK if "pass" in k.lower() else v) for k, v in url.query.items()}
    return url.set(query=query).render_as_string(hide_password=True)


def shown(key: str, value: Any) -> Any:
    """A value as a door may show it: secrets masked, a database URL without its password."""
    if value is None:
        return None
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if key.endswith("database_url"):
        return _url_shown(str(value))
    if key.endswith(("password", "http_token")):
        return MASK
    if key == "http.tokens":
        return [{"name": t.get("name"), "token_file": t.get("token_file")} if isinstance(t, dict) else MASK
                for t in value]
    return value


def cluster_view(config: ClusterConfig, full: bool = False) -> dict[str, Any]:
    """A cluster's keys (the ones that differ from the default, or all), secrets as ***."""
    data = config.model_dump(mode="python", exclude_defaults=not full, exclude={"name"})
    if config.password is not None:
        data["password"] = MASK
    policy = data.get("policy")
    if isinstance(policy, dict) and not full:
        data["policy"] = {k: v for k, v in policy.items() if v not in (None, [])} or None
        if data["policy"] is None:
            del data["policy"]
    return data


def cluster_keys() -> list[str]:
    """Keys `cluster set` and update_cluster_config take (secrets excluded)."""
    names = sorted(config_edit.CLUSTER_KEYS - {"policy"} - config_edit.SECRET_KEYS)
    return names + [f"policy.{k}" for k in Policy.model_fields]


def _describe(key: str) -> tuple[str | None, str, Any, str]:
    if key in TOP_LEVEL:
        default, description = TOP_LEVEL[key]
        return None, key, default, description
    section, _, field = key.partition(".")
    model = SECTIONS.get(section)
    if model is None or field not in model.model_fields:
        raise InvalidParameter("key", f"unknown setting {key!r}", "one of " + ", ".join(keys()))
    info = model.model_fields[field]
    factory: Callable[[], Any] | None = info.default_factory  # type: ignore[assignment]
    default = factory() if factory is not None else info.default
    return section, field, default, info.description or ""
