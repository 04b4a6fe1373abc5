"""Tool schemas are inlined once at registration (server/schemas.py) instead of by fastmcp on every tools/list:
the result must be what fastmcp's own dereferencing gives, for every tool hpcbridge registers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.utilities.json_schema import dereference_refs

from hpcbridge.config import load_settings
from hpcbridge.server import toolkit
from hpcbridge.server.app import create_app
from hpcbridge.server.schemas import CyclicSchema, inline_defs
from hpcbridge.server.surface import with_every_kind


def every_tool_settings() -> Any:
    return with_every_kind(load_settings({"SLURM_SSH_HOST": "unused.invalid", "HPCBRIDGE_CONFIG": "",
                                          "HPCBRIDGE_TOOLSETS": "all", "SLURM_ALLOW_SHELL": "true",
                                          "HPCBRIDGE_TOOL_ALIASES": "pbs"}))


def test_inlined_like_fastmcp_for_every_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    raw: list[dict[str, Any]] = []

    def keep(schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            raw.append(schema)
        return inline_defs(schema)

    monkeypatch.setattr(toolkit, "inline_defs", keep)
    create_app(every_tool_settings())
    with_defs = [schema for schema in raw if "$defs" in schema]
    assert len(with_defs) > 30  # input and output schemas of the tools that use models
    for schema in with_defs:
        assert inline_defs(schema) == dereference_refs(schema)


async def test_tools_list_has_no_ref_anywhere() -> None:
    async with Client(create_app(every_tool_settings())) as client:
        tools = await client.list_tools()
        templates = await client.list_resource_templates()
    assert len(tools) > 100
    listed = json.dumps([t.model_dump(by_alias=True, mode="json") for t in [*tools, *templates]])
    assert "$ref" not in listed and "$defs" not in listed


def test_sibling_keywords_win_and_nested_refs_are_followed() -> None:
    schema = {
        "type": "object",
        "properties": {"node": {"$ref": "#/$defs/Node", "description": "where it ran"},
                       "nodes": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
        "$defs": {"Node": {"type": "object", "description": "a node",
                           "properties": {"gpu": {"$ref": "#/$defs/Gpu"}}},
                  "Gpu": {"type": "string", "enum": ["a100", "h100"]}},
    }
    inlined = inline_defs(schema)
    assert inlined == {
        "type": "object",
        "properties": {
            "node": {"type": "object", "description": "where it ran",
                     "properties": {"gpu": {"type": "string", "enum": ["a100", "h100"]}}},
            "nodes": {"type": "array", "items": {"type": "object", "description": "a node",
                                                 "properties": {"gpu": {"type": "string", "enum": ["a100", "h100"]}}}},
        },
    }
    assert "$defs" in schema  # the registered original is not changed


def test_a_schema_without_defs_is_returned_as_is() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    assert inline_defs(schema) is schema
    assert inline_defs(None) is None


def test_a_cycle_or_a_foreign_ref_is_refused_at_registration() -> None:
    cyclic = {"$ref": "#/$defs/Tree", "$defs": {"Tree": {"type": "object",
                                                         "properties": {"child": {"$ref": "#/$defs/Tree"}}}}}
    with pytest.raises(CyclicSchema, match="Tree"):
        inline_defs(cyclic)
    with pytest.raises(ValueError, match="does not name one of its own"):
        inline_defs({"properties": {"x": {"$ref": "https://example.org/s.json"}}, "$defs": {}})
