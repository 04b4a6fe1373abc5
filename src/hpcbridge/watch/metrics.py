"""Scalar metric series from the files training code already writes: JSONL and CSV metric logs, and the
(tag, step, value) triples a TensorBoard event reader yields. Pure: text and numbers in, series out.

A series is a name, x values (the step) and y values. Its summary (points, first/last step, min, max, last)
is taken over every point; the points handed on are downsampled to a cap, keeping each bucket's lowest and
highest value so a spike survives the cut.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import InvalidParameter

# The key a JSONL/CSV row's x value is taken from, first found wins; without one the row number is the x.
STEP_KEYS = ("step", "global_step", "iteration", "iter", "epoch")
DEFAULT_MAX_POINTS = 200
# Discovered (not given) JSONL/CSV files must look like metric logs by name: a work dir's data CSVs are not
# fetched. Event files are always taken.
EVENT_FILE = re.compile(r"(^|/)events\.out\.tfevents\.[^/]*$")
METRIC_LOG = re.compile(r"(^|/)[^/]*(metric|log|loss|train|progress|history|scalar|eval)[^/]*\.(jsonl|ndjson|csv)$",
                        re.IGNORECASE)


@dataclass(frozen=True)
class Series:
    """One scalar series: all points, in the order written (a restarted run may repeat steps)."""

    name: str
    source: str
    steps: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class SeriesSummary:
    """What an agent reads: the summary over all points and up to max_points of them."""

    name: str
    source: str
    points: int
    first_step: float
    last_step: float
    min: float
    max: float
    last: float
    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    downsampled: bool = False


def file_kind(path: str) -> str:
    """`tfevents`, `jsonl` or `csv` from the file's name; `` when it is none of them."""
    if EVENT_FILE.search(path):
        return "tfevents"
    lower = path.lower()
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lower.endswith(".csv"):
        return "csv"
    return ""


def looks_like_metrics(path: str) -> bool:
    return bool(EVENT_FILE.search(path) or METRIC_LOG.search(path))


def _number(value: object) -> float | None:
    """A finite float from a JSON/CSV cell, else None (bools, strings, NaN and inf are not points)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _step_key(keys: Iterable[str]) -> str | None:
    present = set(keys)
    return next((k for k in STEP_KEYS if k in present), None)


def series_from_rows(rows: Iterable[dict[str, object]], source: str) -> list[Series]:
    """Numeric fields -> series; x from the first STEP_KEYS key a row has, else the row's index."""
    steps: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    for index, row in enumerate(rows):
        key = _step_key(row)
        x = _number(row[key]) if key else None
        x = float(index) if x is None else x
        for name, cell in row.items():
            if name in STEP_KEYS:
                continue
            y = _number(cell)
            if y is None:
                continue
            steps.setdefault(name, []).append(x)
            values.setdefault(name, []).append(y)
    return [Series(name, source, tuple(steps[name]), tuple(values[name])) for name in steps]


def parse_jsonl(text: str, source: str) -> list[Series]:
    """One JSON object per line; lines that are not objects (a partial last line, a banner) are skipped.
    Nested objects are flattened with '/' (`{"train": {"loss": 1}}` -> `train/loss`)."""
    rows: list[dict[str, object]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)  # Python's json takes NaN/Infinity as numbers; _number drops them
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(_flatten(row))
    return series_from_rows(rows, source)


def _flatten(row: dict[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def parse_csv(text: str, source: str) -> list[Series]:
    """A header row, then values; empty cells (a column logged every other step) are skipped. A cut last
    line (the file is being written) is dropped when it has fewer cells than the header."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return []
    names = [h.strip() for h in header]
    rows: list[dict[str, object]] = [dict(zip(names, cells, strict=False)) for cells in reader if len(cells) == len(names)]
    return series_from_rows(rows, source)


def series_from_triples(triples: Iterable[tuple[str, float, float]], source: str) -> list[Series]:
    """(tag, step, value) triples, as an event file reader yields them, grouped by tag in first-seen order."""
    steps: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    for tag, step, value in triples:
        if not math.isfinite(value):
            continue
        steps.setdefault(tag, []).append(float(step))
        values.setdefault(tag, []).append(float(value))
    return [Series(tag, source, tuple(steps[tag]), tuple(values[tag])) for tag in steps]


def select(series: list[Series], pattern: str | None) -> list[Series]:
    """Series whose name matches `pattern` (a case-insensitive regular expression searched in the name)."""
    if not pattern:
        return series
    try:
        wanted = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise InvalidParameter("series", f"{pattern!r} is not a regular expression ({exc})",
                               "a regular expression searched in series names, e.g. loss|acc") from exc
    return [s for s in series if wanted.search(s.name)]


def downsample(steps: tuple[float, ...], values: tuple[float, ...], max_points: int) -> tuple[list[int], bool]:
    """Indices kept: all when they fit; else the first, the last, and per bucket its lowest and highest
    value (in step order), so a spike is never averaged away."""
    n = len(values)
    if n <= max_points:
        return list(range(n)), False
    buckets = max(1, (max_points - 2) // 2)
    kept = {0, n - 1}
    size = (n - 2) / buckets
    for b in range(buckets):
        lo, hi = 1 + int(b * size), 1 + int((b + 1) * size)
        if hi <= lo:
            continue
        chunk = range(lo, min(hi, n - 1))
        if not chunk:
            continue
        kept.add(min(chunk, key=values.__getitem__))
        kept.add(max(chunk, key=values.__getitem__))
    return sorted(kept), True


def summarise(series: Series, max_points: int = DEFAULT_MAX_POINTS) -> SeriesSummary:
    if not series.values:
        raise ValueError(f"series {series.name} has no points")
    kept, cut = downsample(series.steps, series.values, max_points)
    return SeriesSummary(
        series.name, series.source, len(series.values), series.steps[0], series.steps[-1], min(series.values),
        max(series.values), series.values[-1], [series.steps[i] for i in kept], [series.values[i] for i in kept],
        cut,
    )


def number_text(value: float) -> str:
    """Compact: integers without a point, others to 4 significant digits (0.0001234 -> 0.0001234)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def table(summaries: list[SeriesSummary]) -> str:
    """The compact table an agent reads: one line per series."""
    if not summaries:
        return "no scalar series"
    lines = ["series | points | steps | min | max | last"]
    for s in summaries:
        lines.append(f"{s.name} | {s.points} | {number_text(s.first_step)}..{number_text(s.last_step)} | "
                     f"{number_text(s.min)} | {number_text(s.max)} | {number_text(s.last)}")
    return "\n".join(lines)
