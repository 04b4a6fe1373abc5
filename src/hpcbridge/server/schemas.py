"""Tool schemas without `$ref`: some MCP clients (VS Code's, for one) do not follow `$ref` in a tool's schema,
so every `#/$defs/...` pydantic writes is inlined once, when the tool is registered.

fastmcp does the same on every tools/list by default (its DereferenceRefsMiddleware, through jsonref, which
imports requests: about 40 ms of every start, plus the walk on each list); the app turns that off
(`dereference_schemas=False`) and registers schemas already inlined. A unit test holds the result equal to
fastmcp's own `dereference_refs` for every tool.
"""

from __future__ import annotations

from typing import Any

REF_PREFIX = "#/$defs/"


class CyclicSchema(ValueError):
    """A definition that refers to itself cannot be inlined."""


def inline_defs(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema with each local `$ref` replaced by its definition (keywords written beside the `$ref`, such
    as a description or default, kept and preferred) and `$defs` dropped. A schema without `$defs` is
    returned as it is."""
    if not schema or "$defs" not in schema:
        return schema
    defs: dict[str, Any] = schema["$defs"]
    inlined = _inline({k: v for k, v in schema.items() if k != "$defs"}, defs, ())
    assert isinstance(inlined, dict)
    return inlined


def _inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return {key: _inline(value, defs, seen) for key, value in node.items()}
    name = ref.removeprefix(REF_PREFIX)
    if not ref.startswith(REF_PREFIX) or name not in defs:
        raise ValueError(f"schema $ref {ref!r} does not name one of its own $defs")
    if name in seen:
        raise CyclicSchema(f"schema definition {name!r} refers to itself")
    target = _inline(defs[name], defs, (*seen, name))
    siblings = {key: _inline(value, defs, seen) for key, value in node.items() if key != "$ref"}
    return {**target, **siblings}
