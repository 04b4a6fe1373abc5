"""Kernel messages -> what a model can read: text (capped, says when cut), errors as the last frames of the
traceback plus the exception, images scaled to at most 1024 px, SVG described, HTML reduced to text. Pure."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

TEXT_CAP = 16 * 1024
MAX_SIDE = 1024
TRACEBACK_FRAMES = 3
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Image:
    mime: str  # image/png or image/jpeg, as sent to the model
    data: bytes
    width: int
    height: int
    scaled_from: tuple[int, int] | None = None


@dataclass(frozen=True)
class KernelError:
    name: str
    value: str
    frames: str  # the last frames of the traceback, without colour codes


@dataclass
class CellOutput:
    """Everything one execution produced, in order of arrival."""

    text: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    error: KernelError | None = None
    execution_count: int | None = None
    status: str = "ok"  # ok | error | aborted
    notes: list[str] = field(default_factory=list)

    def add(self, msg_type: str, content: dict[str, Any]) -> None:
        if msg_type == "stream":
            self.text.append(str(content.get("text", "")))
        elif msg_type in ("execute_result", "display_data"):
            self._add_data(content.get("data") or {})
            if msg_type == "execute_result":
                self.execution_count = content.get("execution_count")
        elif msg_type == "error":
            self.error = error_of(content)
        elif msg_type == "clear_output":
            self.text.clear()

    def _add_data(self, data: dict[str, Any]) -> None:
        for mime in ("image/png", "image/jpeg"):
            if mime in data:
                try:
                    self.images.append(scaled(base64.b64decode(data[mime]), mime))
                except (ValueError, OSError) as exc:
                    self.notes.append(f"[{mime} output could not be decoded: {exc}]")
                return
        if "image/svg+xml" in data:
            self.text.append(describe_svg(_joined(data["image/svg+xml"])))
        elif "text/plain" in data:
            self.text.append(_joined(data["text/plain"]) + "\n")
        elif "text/html" in data:
            self.text.append(html_to_text(_joined(data["text/html"])) + "\n")
        elif data:
            self.notes.append(f"[output of type {', '.join(sorted(data))} not shown]")

    def rendered_text(self, cap: int = TEXT_CAP) -> tuple[str, bool]:
        """All text, then the error; the end is kept when cut (the last lines say most)."""
        text = "".join(self.text)
        if self.error:
            text += ("\n" if text and not text.endswith("\n") else "") + self.error.frames
            text += f"{self.error.name}: {self.error.value}\n"
        text += "".join(n + "\n" for n in self.notes)
        data = text.encode()
        if len(data) <= cap:
            return text, False
        kept = data[-cap:].decode(errors="replace")
        return f"[output cut: {len(data):,} bytes, the last {cap:,} shown]\n{kept}", True


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def error_of(content: dict[str, Any]) -> KernelError:
    """IPython's traceback is a list of coloured blocks, one per frame, the last being the exception line:
    keep the frames before it (the exception is said on its own line)."""
    blocks = [ANSI.sub("", b) for b in content.get("traceback") or []]
    frames = blocks[:-1][-TRACEBACK_FRAMES:] if len(blocks) > 1 else []
    skipped = max(0, len(blocks) - 1 - TRACEBACK_FRAMES)
    head = f"[{skipped} earlier frame(s) not shown]\n" if skipped else ""
    text = head + "".join(f.rstrip("\n") + "\n" for f in frames)
    return KernelError(str(content.get("ename", "Error")), ANSI.sub("", str(content.get("evalue", ""))), text)


def scaled(data: bytes, mime: str) -> Image:
    """At most MAX_SIDE on each side, same format; Pillow raises on what is not an image."""
    from PIL import Image as Pil

    with Pil.open(io.BytesIO(data)) as img:
        img.load()
        size = img.size
        if max(size) <= MAX_SIDE:
            return Image(mime, data, size[0], size[1])
        img.thumbnail((MAX_SIDE, MAX_SIDE))
        out = io.BytesIO()
        fmt = "JPEG" if mime == "image/jpeg" else "PNG"
        (img.convert("RGB") if fmt == "JPEG" else img).save(out, fmt)
        return Image(mime, out.getvalue(), img.size[0], img.size[1], scaled_from=size)


def describe_svg(svg: str) -> str:
    """SVG is not sent as an image (models take PNG/JPEG): say its size, how many shapes, and its text."""
    width = re.search(r'<svg[^>]*\swidth="([^"]+)"', svg)
    height = re.search(r'<svg[^>]*\sheight="([^"]+)"', svg)
    shapes = len(re.findall(r"<(?:path|rect|circle|line|polyline|polygon|ellipse)\b", svg))
    words = [html_to_text(t) for t in re.findall(r"<text\b[^>]*>(.*?)</text>", svg, flags=re.DOTALL)]
    size = f"{width.group(1)} x {height.group(1)}" if width and height else "unknown size"
    said = f"; text: {', '.join(w for w in words if w)[:500]}" if any(words) else ""
    return f"[SVG image, {size}, {shapes} shapes{said}]\n"


class _Text(HTMLParser):
    BLOCK = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "thead", "tbody", "pre"})
    CELL = frozenset({"td", "th"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.CELL and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip and data.strip():
            self.parts.append(" ".join(data.split()))


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"\n\s*\n+", "\n", text).strip()
