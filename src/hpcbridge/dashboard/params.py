"""Every value a dashboard request carries (query, path, form), checked in one place before it is used.

A bad value is an InvalidParameter (the page answers 400, naming the parameter and the valid form), never a
500 from deep inside: SQLite refuses integers past 2**63, `int(inf)` raises, PostgreSQL refuses NUL in text.
Request bodies are capped before they are read: a login form is a few hundred bytes, a logbook entry a few
kilobytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request

from ..errors import HpcBridgeError, InvalidParameter

MAX_BODY = 64 * 1024
MAX_TEXT = 1000  # a search, a name, a time: more is a mistake or an attack
MAX_NUMBER_TEXT = 40
MAX_ID = 2**63 - 1  # SQLite's and PostgreSQL's largest integer
MAX_OFFSET = 10**9


class BodyTooLarge(HpcBridgeError):
    """A request body past MAX_BODY (answered 413 before the rest is read)."""

    def __init__(self) -> None:
        super().__init__(f"request body too large: the dashboard accepts at most {MAX_BODY // 1024} KB")


def text(values: Mapping[str, Any], name: str, default: str = "", max_len: int = MAX_TEXT) -> str:
    """A text value: no NUL, at most `max_len` characters; `default` when absent."""
    value = values.get(name)
    if value is None:
        return default
    form = f"text without NUL characters, at most {max_len} characters"
    if not isinstance(value, str):
        raise InvalidParameter(name, "is not text (a file upload?)", form)
    if "\x00" in value:
        raise InvalidParameter(name, "contains a NUL character", form)
    if len(value) > max_len:
        raise InvalidParameter(name, f"is {len(value)} characters long", form)
    return value


def texts(query: Any, name: str, max_count: int = 50) -> list[str]:
    """Every non-empty value of a repeated query parameter (`state=A&state=B`), each checked as `text`."""
    values = [v for v in query.getlist(name) if v]
    if len(values) > max_count:
        raise InvalidParameter(name, f"given {len(values)} times", f"at most {max_count} values")
    return [text({name: v}, name) for v in values]


def integer(values: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """A whole number within [low, high]; `default` when absent or empty."""
    raw = text(values, name, "", MAX_NUMBER_TEXT).strip()
    if not raw:
        return default
    form = f"a whole number from {low} to {high}"
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(name, f"{raw!r} is not a whole number", form) from None
    if not low <= value <= high:
        raise InvalidParameter(name, f"{raw} is out of range", form)
    return value


def number(values: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    """A finite number within [low, high] (no inf, no nan); `default` when absent or empty."""
    raw = text(values, name, "", MAX_NUMBER_TEXT).strip()
    if not raw:
        return default
    form = f"a number from {low:g} to {high:g}"
    try:
        value = float(raw)
    except ValueError:
        raise InvalidParameter(name, f"{raw!r} is not a number", form) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidParameter(name, f"{raw} is out of range", form)
    return value


def choice(values: Mapping[str, Any], name: str, options: tuple[str, ...], default: str) -> str:
    """One of `options`; `default` when absent or empty."""
    raw = text(values, name, "", MAX_TEXT)
    if not raw:
        return default
    if raw not in options:
        raise InvalidParameter(name, f"{raw[:40]!r} is not offered", f"one of {', '.join(options)}")
    return raw


async def form(request: Request) -> FormData:
    """The request's form, its body read at most MAX_BODY bytes: a larger declared length is refused unread,
    a chunked body is cut off as soon as it passes the cap (BodyTooLarge)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge
    if not hasattr(request, "_body"):
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise BodyTooLarge
        # Starlette's own form parser reads `_body` when it is set (Request.stream): the body is read once
        request._body = bytes(body)
    return await request.form(max_files=0, max_fields=100, max_part_size=MAX_BODY)
