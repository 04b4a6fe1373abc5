"""Arguments a tool cannot take (a wrong type, a value out of range, a parameter it does not have) are refused
by fastmcp before the tool runs, with pydantic's report: several lines, error codes, a documentation URL. The
agent and the person at `hpcbridge call` read this instead, one sentence per parameter in the form of
`InvalidParameter` ("invalid limit: 'abc' ...; expected an integer from 1 to 500"); a parameter the tool does
not have is named with the tool's parameters (and the closest one)."""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Mapping
from typing import Any

import mcp.types as mt
from fastmcp.exceptions import ToolError, ValidationError
from fastmcp.server.middleware.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import ToolResult
from fastmcp.tools.function_tool import FunctionTool
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails


class ArgumentErrors(Middleware):
    """Rewrites fastmcp's argument-validation error; `tools` is the toolkit's registry (name -> tool)."""

    def __init__(self, tools: Mapping[str, FunctionTool]) -> None:
        self.tools = tools

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        try:
            return await call_next(context)
        except ValidationError as exc:
            if not isinstance(exc.__cause__, PydanticValidationError):
                raise
            name = context.message.name
            tool = self.tools.get(name)
            schema = tool.parameters if tool is not None else {}
            raise ToolError(describe(name, exc.__cause__, schema), log_level=logging.DEBUG) from exc


def describe(tool: str, error: PydanticValidationError, schema: Mapping[str, Any]) -> str:
    """One sentence per parameter at fault; a union's branches (str | int) report once, in the schema's words."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    by_parameter: dict[str, list[ErrorDetails]] = {}
    for detail in error.errors(include_url=False):
        loc = detail.get("loc") or ("?",)
        by_parameter.setdefault(str(loc[0]), []).append(detail)
    # a misspelt name first: its 'required' twin (jobid given, job_id missing) is explained by it
    ordered = sorted(by_parameter.items(), key=lambda item: item[1][0]["type"] != "unexpected_keyword_argument")
    return "; ".join(_sentence(tool, parameter, details, properties) for parameter, details in ordered)


def _sentence(tool: str, parameter: str, details: list[ErrorDetails], properties: Mapping[str, Any]) -> str:
    first = details[0]
    if first["type"] == "unexpected_keyword_argument":
        close = difflib.get_close_matches(parameter, list(properties), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{tool} has no parameter {parameter!r}{hint}; its parameters: {', '.join(properties) or 'none'}"
    form = form_of(properties.get(parameter, {}))
    if "text" in form and properties.get(parameter, {}).get("description"):
        form += f" ({properties[parameter]['description']})"  # 'text' alone does not say which text
    if first["type"] in ("missing_argument", "missing"):
        return f"invalid {parameter}: it is required; expected {form}"
    got = first.get("input")
    problem = first["msg"] if len(details) == 1 else "not accepted"
    problem = problem[:1].lower() + problem[1:]
    return f"invalid {parameter}: {got!r}: {problem}; expected {form}"


def form_of(schema: Mapping[str, Any]) -> str:
    """A JSON schema in words: 'an integer from 1 to 500', 'one of PENDING, RUNNING', 'text or an integer'."""
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    if "anyOf" in schema:
        forms = [form_of(s) for s in schema["anyOf"] if s.get("type") != "null"]
        return " or ".join(dict.fromkeys(forms)) or "a value"
    kind = schema.get("type")
    if kind in ("integer", "number"):
        noun = "an integer" if kind == "integer" else "a number"
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if low is not None and high is not None:
            return f"{noun} from {low} to {high}"
        if low is not None:
            return f"{noun} >= {low}" if "minimum" in schema else f"{noun} > {low}"
        if high is not None:
            return f"{noun} <= {high}" if "maximum" in schema else f"{noun} < {high}"
        return noun
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        return "text"
    if kind == "array":
        return f"a list of {form_of(schema.get('items', {}))}" if schema.get("items") else "a list"
    if kind == "object":
        return "an object (key: value)"
    return "a value"


def parameter_lines(schema: Mapping[str, Any]) -> list[str]:
    """A tool's parameters for a person (`hpcbridge tools NAME`): name, form, required or the default, and
    what it means."""
    required = set(schema.get("required", []))
    lines = []
    for name, prop in schema.get("properties", {}).items():
        default = prop.get("default")
        when = "required" if name in required else "optional" if default is None else f"default {json.dumps(default)}"
        about = f": {prop['description']}" if prop.get("description") else ""
        lines.append(f"  {name}  ({form_of(prop)}; {when}){about}")
    return lines
