"""HTML and SVG from a kernel -> text, in one linear pass. Pure.

Why not html.parser or regular expressions: both rescan. CPython's HTMLParser treats an unclosed `<a ` as
text and looks for the tag's end again from the next `<` (59 KB of `<a ` took 20 s); a pattern such as
`<text[^>]*>(.*?)</text>` scans to the end of the input from every unclosed `<text` (a 195 KB SVG took 46 s).
Here every character is looked at a bounded number of times: a tag, comment or raw-text element without its
end swallows the rest of the input (as a browser does at end of file), so nothing is ever scanned twice.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

_NAME = re.compile(r"[A-Za-z][^\t\n\f\r />]*")
# the end of a start tag: the first '>' outside a quoted value ('=' then optional blanks then a quote)
_TAG_END = re.compile(r""">|=[\t\n\f\r ]*(["'])""")
_ATTR = re.compile(r"""([^\t\n\f\r /=>"']+)(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:"([^"]*)"|'([^']*)'|([^\t\n\f\r >]+)))?""")
_RAW_END = {name: re.compile(f"</{name}", re.IGNORECASE) for name in ("script", "style")}


class Token(NamedTuple):  # a tuple, not a dataclass: a quarter of the time on tag-dense input is making these
    kind: str  # data | start | end
    name: str = ""  # tag name, lower case
    text: str = ""  # data (entities decoded), or a start tag's raw attributes


def _data(text: str) -> Token:
    return Token("data", "", html.unescape(text) if "&" in text else text)


def tokens(markup: str) -> Iterator[Token]:
    """Data, start tags and end tags; comments, doctypes and processing instructions are dropped, and the
    content of <script> and <style> too."""
    i, n = 0, len(markup)
    text_from = 0  # data runs from here to the next construct (a '<' that starts none is data)
    while i < n:
        lt = markup.find("<", i)
        if lt < 0:
            break
        after, token = _construct(markup, lt)
        if after == lt:
            i = lt + 1
            continue
        if lt > text_from:
            yield _data(markup[text_from:lt])
        if after < 0:
            return
        i = text_from = after
        if token is not None:
            yield token
            if token.kind == "start" and token.name in _RAW_END:
                found = _RAW_END[token.name].search(markup, after)
                if found is None:
                    return
                i = text_from = found.start()
    if text_from < n:
        yield _data(markup[text_from:])


def _construct(markup: str, lt: int) -> tuple[int, Token | None]:
    """The construct starting at `lt`: one past its end and its token (None for a comment, doctype or
    processing instruction); (lt, None) if the '<' starts none; (-1, None) if it never ends."""
    follower = markup[lt + 1:lt + 2]
    if follower == "/":
        end = markup.find(">", lt + 2)
        name = _NAME.match(markup, lt + 2, end) if end >= 0 else None
        return (end + 1 if end >= 0 else -1), (Token("end", name.group().lower()) if name else None)
    if follower == "!" and markup.startswith("<!--", lt):
        end = markup.find("-->", lt + 4)
        return (end + 3 if end >= 0 else -1), None
    if follower in ("!", "?"):
        end = markup.find(">", lt + 2)
        return (end + 1 if end >= 0 else -1), None
    name = _NAME.match(markup, lt + 1)
    if name is None:
        return lt, None
    end = _start_tag_end(markup, name.end())
    if end < 0:
        return -1, None
    return end + 1, Token("start", name.group().lower(), markup[name.end():end])


def _start_tag_end(markup: str, pos: int) -> int:
    while True:
        found = _TAG_END.search(markup, pos)
        if found is None:
            return -1
        quote = found.group(1)
        if quote is None:
            return found.start()
        close = markup.find(quote, found.end())
        if close < 0:
            return -1
        pos = close + 1


def attributes(raw: str) -> dict[str, str]:
    """A start tag's attributes (names lower case); the first of a repeated name wins, as in a browser."""
    found: dict[str, str] = {}
    for m in _ATTR.finditer(raw):
        value = next((v for v in m.group(2, 3, 4) if v is not None), "")
        found.setdefault(m.group(1).lower(), html.unescape(value))
    return found


_BLOCK = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "thead", "tbody", "pre"})
_CELL = frozenset({"td", "th"})


def html_to_text(markup: str) -> str:
    """Text with a line per block and a tab between table cells."""
    parts: list[str] = []
    for t in tokens(markup):
        if t.kind == "data":
            if t.text.strip():
                parts.append(" ".join(t.text.split()))
        elif t.kind == "start" and t.name in _CELL and parts and not parts[-1].endswith("\n"):
            parts.append("\t")
        elif t.kind == "end" and t.name in _BLOCK:
            parts.append("\n")
    lines = "".join(parts).split("\n")
    return "\n".join(line for line in lines if line.strip()).strip()


_SHAPES = frozenset({"path", "rect", "circle", "line", "polyline", "polygon", "ellipse"})


@dataclass(frozen=True)
class SvgSummary:
    width: str | None
    height: str | None
    shapes: int
    words: list[str]


def svg_summary(markup: str) -> SvgSummary:
    """The first <svg>'s width and height, how many shapes, and the text of every <text> element."""
    size: dict[str, str] | None = None
    shapes, depth = 0, 0
    words: list[str] = []
    current: list[str] = []
    for t in tokens(markup):
        if t.kind == "start":
            if t.name == "svg" and size is None:
                size = attributes(t.text)
            shapes += t.name in _SHAPES
            if t.name == "text" and not t.text.rstrip().endswith("/"):
                depth += 1
        elif t.kind == "end" and t.name == "text" and depth:
            depth -= 1
            if not depth:
                words.append("".join(current))
                current = []
        elif t.kind == "data" and depth and t.text.strip():
            current.append(" ".join(t.text.split()))
    if depth:
        words.append("".join(current))
    size = size or {}
    return SvgSummary(size.get("width"), size.get("height"), shapes, [w for w in words if w])
