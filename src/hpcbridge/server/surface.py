"""What a tool list costs an agent: MCP clients send every tool's name, description and input schema to the
model on each turn (the model-visible part), and receive the whole `tools/list` (output schemas too)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..config import TOOLSETS, ClusterConfig, Settings
from .app import create_app


@dataclass(frozen=True)
class Surface:
    toolsets: tuple[str, ...]
    tools: int
    visible_bytes: int  # name + description + inputSchema, as JSON
    whole_bytes: int  # the tools' entries of tools/list


async def measure(settings: Settings, toolsets: list[str]) -> Surface:
    """The tools/list entries as a client receives them, read from the app without starting its lifespan (so no
    cluster is reached and no database opened: `hpcbridge tools --sizes` works before anything is set up)."""
    app = create_app(settings.model_copy(update={"toolsets": toolsets}))
    visible = whole = 0
    tools = await app.list_tools()
    for tool in tools:
        entry = tool.to_mcp_tool().model_dump(by_alias=True, exclude_none=True, mode="json")
        whole += len(json.dumps(entry))
        visible += len(json.dumps({k: entry.get(k) for k in ("name", "description", "inputSchema")}))
    return Surface(tuple(toolsets), len(tools), visible, whole)


def with_every_kind(settings: Settings) -> Settings:
    """The settings plus a TensorPool account if there is none, so that every toolset is measured. The shell is
    left as configured: with allow_shell off everywhere (the default) run_shell_command is not listed."""
    if settings.providers:
        return settings
    account = ClusterConfig.model_validate({"name": "tensorpool", "provider": "tensorpool"})
    return settings.model_copy(update={"providers": {"tensorpool": account}})


async def per_toolset(settings: Settings) -> list[Surface]:
    """Each toolset alone, then the default set and all of them."""
    settings = with_every_kind(settings)
    alone = [await measure(settings, [name]) for name in TOOLSETS]
    return [*alone, await measure(settings, list(settings.toolsets)), await measure(settings, list(TOOLSETS))]
