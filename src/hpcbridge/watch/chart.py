"""A PNG line chart of metric series, drawn with Pillow (already a dependency): one panel per series, each
with its own y range (a loss near 0.1 and a learning rate near 1e-4 share no useful axis). Pure: series
in, PNG bytes out. Pillow is imported on first use, so the server's start does not pay for it.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from .metrics import SeriesSummary, number_text

if TYPE_CHECKING:
    from PIL import ImageDraw

WIDTH = 640
PANEL_HEIGHT = 140
MAX_PANELS = 6  # more series than this are in the table, not the picture
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 12, 20, 22
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"]
GRID = "#dddddd"
TEXT = "#222222"


def _span(low: float, high: float) -> tuple[float, float]:
    """A flat series still gets a visible range."""
    if high > low:
        return low, high
    pad = abs(low) * 0.05 or 1.0
    return low - pad, high + pad


def _panel(draw: ImageDraw.ImageDraw, s: SeriesSummary, top: int, colour: str) -> None:
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    y0, y1 = top + MARGIN_TOP, top + PANEL_HEIGHT - MARGIN_BOTTOM
    x_lo, x_hi = _span(min(s.steps), max(s.steps))
    v_lo, v_hi = _span(min(s.values), max(s.values))

    def at(x: float, v: float) -> tuple[float, float]:
        return (left + (x - x_lo) / (x_hi - x_lo) * (right - left), y1 - (v - v_lo) / (v_hi - v_lo) * (y1 - y0))

    draw.rectangle((left, y0, right, y1), outline=GRID)
    for frac in (0.0, 0.5, 1.0):
        y = y1 - frac * (y1 - y0)
        draw.line((left, y, right, y), fill=GRID)
        draw.text((4, y - 6), number_text(v_lo + frac * (v_hi - v_lo)), fill=TEXT)
    draw.text((left, y1 + 4), number_text(x_lo), fill=TEXT)
    last_x = number_text(x_hi)
    draw.text((right - 6 * len(last_x), y1 + 4), last_x, fill=TEXT)
    draw.text((left, top + 4), f"{s.name}  (last {number_text(s.last)}, min {number_text(s.min)}, "
                               f"max {number_text(s.max)})", fill=colour)
    points = [at(x, v) for x, v in zip(s.steps, s.values, strict=True)]
    if len(points) == 1:
        x, y = points[0]
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
    else:
        draw.line(points, fill=colour, width=2)


def png(summaries: list[SeriesSummary]) -> bytes:
    """PNG bytes of up to MAX_PANELS series, stacked."""
    from PIL import Image, ImageDraw  # lazily: the server's start does not need it

    shown = [s for s in summaries if s.values][:MAX_PANELS]
    height = max(1, len(shown)) * PANEL_HEIGHT
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    if not shown:
        draw.text((10, 10), "no scalar series", fill=TEXT)
    for i, s in enumerate(shown):
        _panel(draw, s, i * PANEL_HEIGHT, COLOURS[i % len(COLOURS)])
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
