"""Asking the person before something that cannot be undone: MCP elicitation where the client offers it,
`confirm=true` as the fallback for clients that do not.

Two protocol eras ask differently, and both are served:
- handshake era (2025-11-25 and older): the server sends `elicitation/create` while the call waits
  (`ctx.elicit`);
- 2026-07-28: server-initiated requests are gone; the tool answers `input_required` with the elicitation
  embedded, and the client calls again carrying the answer (`ctx.input_responses`, SEP-2322).
A decline, a cancel, or an answer of "no" refuses the call before anything is sent: nothing changes."""

from __future__ import annotations

import logging
from typing import Any

import mcp_types
from fastmcp import Context
from fastmcp.tools.base import InputRequiredToolResult, ToolResult
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from ..errors import PolicyError

log = logging.getLogger("hpcbridge.server")

_KEY = "hpcbridge_confirm"  # our key in the input_requests / input_responses map
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"value": {"type": "boolean", "title": "Go ahead", "default": False}},
    "required": ["value"],
}


def client_can_elicit(ctx: Context | None) -> bool:
    """Whether the calling client declared the elicitation capability (form mode)."""
    if ctx is None:
        return False
    try:
        params = ctx.session.client_params if ctx.request_context is not None else None
    except (RuntimeError, AttributeError):  # no live MCP request (the CLI's in-process calls)
        return False
    return bool(params and params.capabilities and params.capabilities.elicitation)


def _modern(ctx: Context) -> bool:
    rc = ctx.request_context
    return rc is not None and rc.protocol_version in MODERN_PROTOCOL_VERSIONS


def _refused(what: str) -> PolicyError:
    return PolicyError(f"not confirmed: {what} was not done, nothing changed")


async def consent(ctx: Context | None, confirm: bool, question: str, what: str) -> bool | ToolResult:
    """True: go ahead (confirm=true, or the person said yes). False: the client cannot be asked and confirm is
    false (the caller refuses with its confirm=true message). A ToolResult: return it as the tool's answer (the
    2026-07-28 question to the client; the client calls again with the answer). Raises PolicyError when the
    person declined, cancelled or said no."""
    if confirm:
        return True
    if ctx is None or not client_can_elicit(ctx):
        return False
    if _modern(ctx):
        answer = (ctx.input_responses or {}).get(_KEY)
        if answer is None:
            request = mcp_types.ElicitRequest(params=mcp_types.ElicitRequestFormParams(
                message=question, requested_schema=_SCHEMA))  # type: ignore[arg-type]
            return InputRequiredToolResult(mcp_types.InputRequiredResult(input_requests={_KEY: request}))
        said_yes = (isinstance(answer, mcp_types.ElicitResult) and answer.action == "accept"
                    and bool((answer.content or {}).get("value")))
    else:
        result = await ctx.elicit(question, bool, response_title="Go ahead")
        said_yes = result.action == "accept" and bool(getattr(result, "data", False))
    if not said_yes:
        raise _refused(what)
    log.info("confirmed by the user: %s", what)
    return True


async def ask(ctx: Context | None, confirm: bool, question: str, what: str, fallback: str) -> ToolResult | None:
    """`consent` for tools that refuse themselves: None means go ahead; `fallback` is the PolicyError's message
    when the client cannot be asked and confirm is false (it tells the agent to call again with confirm=true)."""
    said = await consent(ctx, confirm, question, what)
    if said is False:
        raise PolicyError(fallback)
    return None if said is True else said
