"""Pure parts of log paging, searching and JSONL records: cutting pages at line ends, parsing grep's
numbered output, picking dotted fields. No I/O: services/logs.py runs the commands and hands the bytes here."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter

DEFAULT_PAGE = 64 * 1024
MAX_PAGE = 1024 * 1024
MAX_LINE_SHOWN = 2000  # characters of one matched/context line in a search answer
LOG_GLOBS = ("*.log", "*.out", "*.err", "*.txt", "*.jsonl", "*.csv", "events.out.tfevents.*")


@dataclass(frozen=True)
class LogPage:
    path: str
    text: str
    offset: int  # byte offset of the first byte returned
    next_offset: int  # where the next page (or the next follow) starts
    size: int  # the file's size when it was read
    eof: bool  # next_offset reached the end of the file as it was
    returned_bytes: int
    note: str = ""
    start_line: int | None = None  # 1-based number of the first line (known when paged by line)


@dataclass(frozen=True)
class SearchHit:
    line: int  # 1-based line number in the whole file
    offset: int  # byte offset of the line's start (read_log offset=...)
    text: str
    match: bool  # False for a context line


@dataclass(frozen=True)
class SearchResult:
    path: str
    pattern: str
    matches: int
    hits: list[SearchHit]
    from_offset: int
    size: int
    cut: bool
    note: str


@dataclass(frozen=True)
class BadRecord:
    line: int
    error: str


@dataclass(frozen=True)
class Records:
    path: str
    start: int  # 0-based index of the first record line
    records: list[dict[str, Any]]
    bad: list[BadRecord] = field(default_factory=list)
    next_start: int | None = None
    note: str = ""


def check_cap(max_bytes: int) -> int:
    if not 1 <= max_bytes <= MAX_PAGE:
        raise InvalidParameter("max_bytes", f"{max_bytes} is out of range", f"1..{MAX_PAGE} bytes")
    return max_bytes


def cut_page(data: bytes, offset: int, size: int, cap: int, *, hold_partial: bool) -> tuple[bytes, str]:
    """(bytes to return, note). A page ends at its last newline so no line is split; a tail without a newline
    is kept when it is the file's end (a finished file), and held back when following (still being
    written). One line longer than the cap is returned cut, and the note says so."""
    at_end = offset + len(data) >= size
    if not data or data.endswith(b"\n"):
        return data, ""
    last = data.rfind(b"\n")
    if at_end and not hold_partial:
        return data, ""
    if last >= 0:
        return data[: last + 1], ""
    if len(data) >= cap:
        return data, f"one line is longer than max_bytes={cap}: this page ends inside it"
    return b"", "the last line has no newline yet: held back until it is finished"


def split_header(raw: bytes) -> tuple[list[str], bytes]:
    """The first line of a command's stdout holds tab-separated numbers; the rest is file bytes."""
    head, _, rest = raw.partition(b"\n")
    return head.decode("ascii", "replace").split("\t"), rest


_GREP_LINE = re.compile(rb"^(\d+)([:-])(\d+)[:-]")


def parse_grep(raw: bytes, line_base: int, byte_base: int, complete: bool) -> tuple[list[SearchHit], int | None]:
    """grep -n -b output (stdin, so no file names): `N:B:text` for a match, `N-B-text` for context, `--`
    between groups. Line numbers and offsets are of the piece searched; the bases make them the file's.
    When the output was cut (complete=False) its last, partial line is dropped. Also returns the offset of
    the line after the last match (where a search goes on), None without a match."""
    lines = raw.split(b"\n")
    if lines and (lines[-1] == b"" or not complete):
        lines.pop()  # the empty piece after the last newline, or a line cut by the byte cap
    hits, after = [], None
    for line in lines:
        m = _GREP_LINE.match(line)
        if not m:
            continue  # the `--` group separator
        text = line[m.end():].decode("utf-8", "replace")
        if len(text) > MAX_LINE_SHOWN:
            text = text[:MAX_LINE_SHOWN] + f"... [{len(text) - MAX_LINE_SHOWN} more characters]"
        hit = SearchHit(int(m[1]) + line_base, int(m[3]) + byte_base, text, m[2] == b":")
        hits.append(hit)
        if hit.match:
            after = hit.offset + len(line) - m.end() + 1  # the line's bytes and its newline
    return hits, after


def check_fields(fields: list[str] | None) -> list[list[str]]:
    paths = []
    for f in fields or []:
        parts = f.split(".")
        if not f or len(f) > 200 or any(not p for p in parts):
            raise InvalidParameter("fields", f"{f!r} is not a dotted path", "names like 'loss' or 'metrics.acc' "
                                   "or 'items.0.name'")
        paths.append(parts)
    return paths


_MISSING = object()


def pick(record: Any, path: list[str]) -> Any:
    value = record
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def parse_records(raw: bytes, start: int, fields: list[list[str]]) -> tuple[list[dict[str, Any]], list[BadRecord]]:
    """Each line a JSON value; `start` is the 0-based index of the first. A bad line is reported with its
    1-based line number in the file and skipped; blank lines count as lines but not as records."""
    records: list[dict[str, Any]] = []
    bad: list[BadRecord] = []
    for i, line in enumerate(raw.split(b"\n")):
        if not line.strip():
            continue
        number = start + i + 1
        try:
            value = json.loads(line)
        except ValueError as exc:
            bad.append(BadRecord(number, str(exc)[:200]))
            continue
        row: dict[str, Any] = {"_line": number}
        if fields:
            for path in fields:
                got = pick(value, path)
                if got is not _MISSING:
                    row[".".join(path)] = got
        elif isinstance(value, dict):
            row.update(value)
        else:
            row["value"] = value
        records.append(row)
    return records, bad
