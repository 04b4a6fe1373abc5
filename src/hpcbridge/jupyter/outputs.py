"""Kernel messages -> what a model can read: text (capped, says when cut), errors as the last frames of the
traceback plus the exception, images scaled to at most 1024 px, SVG described, HTML reduced to text.

Every mime bundle is cut to a size cap before it is looked at, and the reduction is linear (markup.py), so
one cell's output costs bounded time and memory. Pure, except `CellOutput.receive`, which runs the reduction
in a worker thread: it is CPU work (an image decode, a 256 KB parse) that would otherwise stall every other
call on the event loop."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import re
from dataclasses import dataclass, field
from typing import Any

from .markup import html_to_text, svg_summary

TEXT_CAP = 16 * 1024
MAX_SIDE = 1024
TRACEBACK_FRAMES = 3
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# what one bundle's value may weigh before any parsing; the rest is not read
MARKUP_CAP = 256 * 1024  # text/html, image/svg+xml
PLAIN_CAP = 64 * 1024  # text/plain (the answer keeps TEXT_CAP of all text anyway)
IMAGE_CAP = 16 * 1024 * 1024  # base64 characters of an image/png or image/jpeg
# decoded pixels: a 6000 x 5000 figure; 120 MB as RGBA while it is scaled. Checked from the header, before
# decoding: a few hundred bytes of PNG can claim 30000 x 30000 (a decompression bomb)
MAX_PIXELS = 30_000_000
_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}
_BUNDLES = ("execute_result", "display_data")


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


@dataclass(frozen=True)
class Reduced:
    """One mime bundle, as the model gets it."""

    text: str = ""
    image: Image | None = None
    note: str = ""


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
        """Reduce a message here (for callers off the event loop, and tests)."""
        self._take(msg_type, content, reduced(content.get("data") or {}) if msg_type in _BUNDLES else None)

    async def receive(self, msg_type: str, content: dict[str, Any]) -> None:
        """Reduce a message in a worker thread. Messages are taken one at a time, so the order holds."""
        bundle = None
        if msg_type in _BUNDLES:
            bundle = await asyncio.to_thread(reduced, content.get("data") or {})
        self._take(msg_type, content, bundle)

    def _take(self, msg_type: str, content: dict[str, Any], bundle: Reduced | None) -> None:
        if msg_type == "stream":
            self.text.append(str(content.get("text", "")))
        elif bundle is not None:
            if bundle.text:
                self.text.append(bundle.text)
            if bundle.image is not None:
                self.images.append(bundle.image)
            if bundle.note:
                self.notes.append(bundle.note)
            if msg_type == "execute_result":
                self.execution_count = content.get("execution_count")
        elif msg_type == "error":
            self.error = error_of(content)
        elif msg_type == "clear_output":
            self.text.clear()

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


def reduced(data: dict[str, Any]) -> Reduced:
    """One bundle: an image if there is one (else a note saying why not), else SVG, plain text or HTML.
    Bounded: every value is cut to its cap before it is parsed."""
    for mime in _FORMATS:
        if mime in data:
            return _image(_joined(data[mime]), mime)
    if "image/svg+xml" in data:
        return Reduced(describe_svg(_joined(data["image/svg+xml"])))
    if "text/plain" in data:
        text, cut = capped(_joined(data["text/plain"]), PLAIN_CAP, "text")
        return Reduced(text + "\n" + (cut + "\n" if cut else ""))
    if "text/html" in data:
        return Reduced(html_to_text_capped(_joined(data["text/html"])) + "\n")
    if data:
        return Reduced(note=f"[output of type {', '.join(sorted(data))} not shown]")
    return Reduced()


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _size(value: str) -> int:
    return len(value) if value.isascii() else len(value.encode(errors="surrogatepass"))


def capped(value: str, cap: int, what: str) -> tuple[str, str]:
    """The first `cap` bytes of value (whole characters), and a note saying what was cut ('' if nothing)."""
    if len(value) * 4 <= cap or _size(value) <= cap:
        return value, ""
    head = value[:cap].encode(errors="surrogatepass")[:cap].decode(errors="ignore")
    return head, f"[{what} cut: {_size(value):,} bytes, the first {cap:,} read]"


def html_to_text_capped(markup: str, cap: int = MARKUP_CAP) -> str:
    head, cut = capped(markup, cap, "HTML output")
    text = html_to_text(head)
    return f"{text}\n{cut}" if cut else text


def describe_svg(svg: str, cap: int = MARKUP_CAP) -> str:
    """SVG is not sent as an image (models take PNG/JPEG): say its size, how many shapes, and its text."""
    head, cut = capped(svg, cap, "SVG")
    found = svg_summary(head)
    size = f"{found.width} x {found.height}" if found.width and found.height else "unknown size"
    said = f"; text: {', '.join(found.words)[:500]}" if found.words else ""
    return f"[SVG image, {size}, {found.shapes} shapes{said}]\n" + (cut + "\n" if cut else "")


def error_of(content: dict[str, Any]) -> KernelError:
    """IPython's traceback is a list of coloured blocks, one per frame, the last being the exception line:
    keep the frames before it (the exception is said on its own line)."""
    blocks = [ANSI.sub("", b) for b in content.get("traceback") or []]
    frames = blocks[:-1][-TRACEBACK_FRAMES:] if len(blocks) > 1 else []
    skipped = max(0, len(blocks) - 1 - TRACEBACK_FRAMES)
    head = f"[{skipped} earlier frame(s) not shown]\n" if skipped else ""
    text = head + "".join(f.rstrip("\n") + "\n" for f in frames)
    return KernelError(str(content.get("ename", "Error")), ANSI.sub("", str(content.get("evalue", ""))), text)


class ImageRefused(Exception):
    """An image that is not decoded; the message says why."""


def _image(encoded: str, mime: str) -> Reduced:
    if len(encoded) > IMAGE_CAP:
        return Reduced(note=f"[image not shown: {mime} of {len(encoded) * 3 // 4:,} bytes, over the "
                            f"{IMAGE_CAP * 3 // 4:,}-byte limit]")
    from PIL.Image import DecompressionBombError

    try:
        return Reduced(image=scaled(base64.b64decode(encoded), mime))
    except ImageRefused as exc:
        return Reduced(note=f"[image not shown: {mime} {exc}]")
    except DecompressionBombError as exc:  # Pillow's own check, in open(), above twice its default limit
        return Reduced(note=f"[image not shown: {mime} over the limit of {MAX_PIXELS:,} pixels (not decoded): "
                            f"{exc}]")
    except binascii.Error as exc:
        return Reduced(note=f"[image not shown: {mime} could not be decoded: bad base64 ({exc})]")
    # Pillow's decoders raise many kinds (OSError, SyntaxError, struct.error, EOFError, DecompressionBomb-
    # Error, ...): whatever a kernel sends must end as a note, never as a failed call
    except Exception as exc:  # noqa: BLE001
        return Reduced(note=f"[image not shown: {mime} could not be decoded: {type(exc).__name__}: {exc}]")


def scaled(data: bytes, mime: str) -> Image:
    """At most MAX_SIDE on each side, same format; the size is checked from the header before decoding.
    Raises ImageRefused for too many pixels; Pillow raises on what is not an image of that format."""
    from PIL import Image as Pil

    with Pil.open(io.BytesIO(data), formats=[_FORMATS[mime]]) as img:
        size = img.size
        if size[0] * size[1] > MAX_PIXELS:
            raise ImageRefused(f"of {size[0]:,} x {size[1]:,} pixels, over the limit of {MAX_PIXELS:,} pixels "
                               "(not decoded)")
        if max(size) <= MAX_SIDE:
            img.load()  # a truncated or corrupt image raises here, not later in the client
            return Image(mime, data, size[0], size[1])
        if mime == "image/jpeg":
            img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG decodes at a fraction of its size: less memory
        img.thumbnail((MAX_SIDE, MAX_SIDE))
        out = io.BytesIO()
        (img.convert("RGB") if mime == "image/jpeg" else img).save(out, _FORMATS[mime])
        return Image(mime, out.getvalue(), img.size[0], img.size[1], scaled_from=size)
