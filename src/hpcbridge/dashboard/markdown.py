"""Logbook markdown as HTML that cannot carry script: raw HTML in an entry is shown as text (markdown-it with
html off), links to javascript:/data: are dropped by markdown-it's link check, and the output is marked safe
only after that. `@run` and `#id` references that resolve become links to the run and the entry."""

from __future__ import annotations

from urllib.parse import quote

from markdown_it import MarkdownIt
from markupsafe import Markup

from ..history.logbook import ENTRY_REF, RUN_REF, Entry

# GFM's tables and strikethrough on top of CommonMark (the gfm-like preset would also need linkify-it-py)
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(["table",
                                                                                            "strikethrough"])


def render_entry(entry: Entry) -> Markup:
    runs, entries = set(entry.runs), set(entry.entries)

    def run_link(match: object) -> str:
        name = match.group(1).rstrip(".")  # type: ignore[attr-defined]
        tail = match.group(1)[len(name):]  # type: ignore[attr-defined]
        return f"[@{name}](/run/{quote(name)}){tail}" if name in runs else match.group(0)  # type: ignore[attr-defined]

    def entry_link(match: object) -> str:
        number = int(match.group(1))  # type: ignore[attr-defined]
        return f"[#{number}](/logbook/{number})" if number in entries else match.group(0)  # type: ignore[attr-defined]

    text = ENTRY_REF.sub(entry_link, RUN_REF.sub(run_link, entry.body))
    return Markup(_MD.render(text))  # markdown-it escaped every raw HTML tag (html=False)
