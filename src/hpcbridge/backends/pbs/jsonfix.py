"""PBS `-F json` output (qstat -f [-x] [-t], qstat -Q -f, pbsnodes -a), read even where it is not JSON (pure).

OpenPBS 19-23 and PBS Pro 18-2022 write this JSON by hand (libutil pbs_json.c: add_json_node, generate_json),
and it breaks in known ways (issue 25, kind 6). Each is read back to the value the user gave:

- A value that strtod() reads whole is printed bare, byte for byte, as a "number": `-v A=.5,B=7.,C=0042`
  gives `"A":.5`, `"B":7.`, `"C":0042`; also `1e5`, `-0`, `inf`, `nan`, `0x1A`. Every bare token is kept as
  the text PBS printed (valid ones too: json.loads with parse_int/parse_float=str), so `1e5` stays `1e5`.
- Strings are escaped only partly (JSON_ESCAPE): \\b \\f \\n \\r \\t and a `"` are escaped (not a value's
  first one), but a backslash is copied with the character after it (`C:\\data` -> `\\d`, not a JSON
  escape; a raw newline after a backslash) and other control characters are written raw. Read: a
  backslash before a character JSON does not escape is a literal backslash; a raw control character is
  itself; a value that ends in a backslash prints `\\"` at the end of its line, which closes the string
  there (a PBS string holds no other raw newline: one means the output was cut).
- Some versions answer `-F json` in the text form (`Job Id:` blocks): the callers check for it (is_json).
- A record that is still unreadable (cut output, a bug not known here) costs only that record: its members
  are split by the indentation PBS prints them at, each read alone, and a broken one comes back as
  Unreadable with what could be read of it line by line.

Still ambiguous (the output cannot tell): a value's backslash followed by one of `"\\/bfnrtu` (the `\\n` of
`C:\\new` reads as a newline, `\\\\` as one backslash, `\\"` as a quote) or by `,` or `'` (PBS drops that
backslash), blanks before or after a bare value (strtod skips them), and a value that starts with a quote
followed by `,` `:` `}` `]` or its end.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_WS = re.compile(r"\s*")
# PBS escapes every newline inside a string, so a raw one means the string was cut: stop there.
_PLAIN = re.compile(r'[^"\\\n]*')
_BARE = re.compile(r"[^,}\]\n]*")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
# After `\"`: the end of the line (maybe after the pair's comma) means the backslash ended the value.
_CLOSES = re.compile(r"[ \t]*,?[ \t]*(?:\r?\n|$)")
# A quote ends a string only before what may follow one in PBS's layout: strdup_escape leaves a value's
# leading quote unescaped (it looks back before the start), so `""quoted"` is one value.
_ENDS = re.compile(r"[ \t]*(?:[,:\]}]|\r?\n|$)")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}


class BadJson(ValueError):
    """Output that not even the tolerant reader can take (structure broken, not just a value)."""


@dataclass(frozen=True)
class Unreadable:
    """A record PBS printed so broken that it cannot be read as a whole: what could be read line by line."""

    why: str
    fields: dict[str, str] = field(default_factory=dict)


def is_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def _strict(text: str) -> Any:
    return json.loads(text, parse_int=str, parse_float=str, parse_constant=str)


class _Reader:
    """A JSON reader that takes what PBS prints: bare tokens kept as text, loose escapes, raw controls."""

    def __init__(self, text: str, pos: int = 0) -> None:
        self.text, self.pos = text, pos

    def fail(self, what: str) -> BadJson:
        line = self.text.count("\n", 0, self.pos) + 1
        return BadJson(f"{what} at line {line}")

    def skip(self) -> str:
        self.pos = _WS.match(self.text, self.pos).end()  # type: ignore[union-attr]
        return self.text[self.pos:self.pos + 1]

    def value(self, depth: int = 0) -> Any:
        if depth > 64:
            raise self.fail("nesting too deep")
        char = self.skip()
        if char == "{":
            return self.members(depth)
        if char == "[":
            return self.items(depth)
        if char == '"':
            return self.string()
        return self.bare()

    def members(self, depth: int) -> dict[str, Any]:
        self.pos += 1
        result: dict[str, Any] = {}
        while True:
            char = self.skip()
            if char == "}":
                self.pos += 1
                return result
            if char == ",":  # a stray or trailing comma
                self.pos += 1
                continue
            if char != '"':
                raise self.fail("expected a key")
            key = self.string()
            if self.skip() != ":":
                raise self.fail(f"expected ':' after {key!r}")
            self.pos += 1
            result[key] = self.value(depth + 1)

    def items(self, depth: int) -> list[Any]:
        self.pos += 1
        result: list[Any] = []
        while True:
            char = self.skip()
            if char == "]":
                self.pos += 1
                return result
            if char == ",":
                self.pos += 1
                continue
            if not char:
                raise self.fail("unterminated array")
            result.append(self.value(depth + 1))

    def string(self) -> str:
        text, pos, parts = self.text, self.pos + 1, []
        while True:
            plain = _PLAIN.match(text, pos)
            parts.append(plain.group())  # type: ignore[union-attr]
            pos = plain.end()  # type: ignore[union-attr]
            if pos >= len(text) or text[pos] == "\n":
                raise self.fail("unterminated string")
            if text[pos] == '"':
                if _ENDS.match(text, pos + 1):
                    self.pos = pos + 1
                    return "".join(parts)
                parts.append('"')
                pos += 1
                continue
            nxt = text[pos + 1:pos + 2]
            if nxt == '"' and _CLOSES.match(text, pos + 2):  # the value ended in a backslash
                parts.append("\\")
                self.pos = pos + 2
                return "".join(parts)
            if nxt == "\n":  # strdup_escape copies a backslash's next character even when it is a newline
                parts.append("\\\n")
                pos += 2
            elif nxt in _ESCAPES:
                parts.append(_ESCAPES[nxt])
                pos += 2
            elif nxt == "u" and _HEX4.match(text, pos + 2):
                parts.append(chr(int(text[pos + 2:pos + 6], 16)))
                pos += 6
            else:  # a backslash PBS copied from the value: itself
                parts.append("\\")
                pos += 1

    def bare(self) -> Any:
        token = _BARE.match(self.text, self.pos).group()  # type: ignore[union-attr]
        self.pos += len(token)
        token = token.strip()
        if not token:
            raise self.fail("expected a value")
        return _CONSTANTS.get(token, token)


def _surrogates(value: Any) -> Any:
    """\\uD83D\\uDE00 pairs, read one by one, joined into the character they stand for."""
    if isinstance(value, str) and any("\ud800" <= c <= "\udfff" for c in value):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_surrogates(k): _surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_surrogates(v) for v in value]
    return value


def load(text: str) -> dict[str, Any]:
    """The whole document: strict JSON when it is, else the tolerant reader. Raises BadJson."""
    try:
        data = _strict(text)
    except (ValueError, RecursionError):
        reader = _Reader(text)
        if reader.skip() != "{":
            raise reader.fail("not a JSON object") from None
        data = _surrogates(reader.value())
    return data if isinstance(data, dict) else {}


def section(text: str, name: str) -> dict[str, dict[str, Any] | Unreadable]:
    """The members of one top-level object ("Jobs", "Queue", "nodes"), each read on its own if need be, so
    one broken record never costs the others. BadJson when the output is beyond that (no such object in
    PBS's layout): the service then asks for the text form."""
    try:
        members = load(text).get(name) or {}
        return {k: v for k, v in members.items() if isinstance(v, dict)} if isinstance(members, dict) else {}
    except BadJson as exc:
        broken = exc
    head = re.search(rf'^([ \t]*)"{re.escape(name)}"\s*:\s*\{{[ \t]*\n([ \t]*)"', text, re.MULTILINE)
    if not head:  # not PBS's layout either: the caller asks again for the text form
        raise broken
    indent = re.escape(head.group(2))
    base = head.start(2)
    starts = list(re.finditer(rf'^{indent}"((?:[^"\\\n]|\\.)*)"\s*:\s*\{{', text[base:], re.MULTILINE))
    result: dict[str, dict[str, Any] | Unreadable] = {}
    for i, start in enumerate(starts):
        begin = base + start.end() - 1
        end = base + starts[i + 1].start() if i + 1 < len(starts) else len(text)
        reader = _Reader(text[:end], begin)
        key = start.group(1)
        try:
            result[key] = _surrogates(reader.value())
        except BadJson as exc:
            result[key] = Unreadable(str(exc), _line_fields(text[begin:end]))
    return result


_LINE_FIELD = re.compile(r'^[ \t]*"([A-Za-z_][\w.]*)"\s*:\s*(?:"((?:[^"\\\n]|\\.)*)"|([^",{\[\n]+?))\s*,?\s*$', re.MULTILINE)


def _line_fields(chunk: str) -> dict[str, str]:
    """The record's own `"key":value` lines (those at its first member's indentation; nested ones are not)."""
    found: dict[str, str] = {}
    indent = re.match(r"\{[ \t]*\n([ \t]*)", chunk)
    for m in _LINE_FIELD.finditer(chunk):
        if indent and not m.group(0).startswith(indent.group(1) + '"'):
            continue
        if m.group(2) is not None:
            try:
                found.setdefault(m.group(1), str(_Reader(f'"{m.group(2)}"').string()))
            except BadJson:
                continue
        else:
            found.setdefault(m.group(1), m.group(3).strip())
    return found
