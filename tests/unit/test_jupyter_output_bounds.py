"""Kernel output costs bounded work (issue 23, item 4): every mime bundle is cut to a cap before it is parsed and
says so, HTML and SVG are read in one linear pass, images are checked for their pixel count before they are
decoded, and nothing a kernel sends ends as an exception.

The pathological inputs are the ones that made the old reduction super-linear (found by measurement): an
unclosed `<a ` repeated (html.parser looks for the tag's end again from every later `<`), and unclosed
`<text>` / `<svg ` repeated (regular expressions scanning to the end from every start). They must complete;
the timeout mark is only a safety net (the old code took minutes on them), no test asserts a duration."""

from __future__ import annotations

import asyncio
import base64
import io
import struct
import zlib

import pytest
from PIL import Image as Pil

from hpcbridge.jupyter import outputs
from hpcbridge.jupyter.markup import html_to_text, svg_summary, tokens
from hpcbridge.jupyter.outputs import MARKUP_CAP, MAX_PIXELS, PLAIN_CAP, CellOutput, describe_svg, reduced


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header claims width x height (its data is all zeros, compressed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + chunk(b"IEND", b""))


def _shown(data: dict[str, str]) -> str:
    out = CellOutput()
    out.add("display_data", {"data": data})
    assert not out.images
    return out.rendered_text()[0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mime", ["text/html", "image/svg+xml"])
def test_ten_megabytes_of_markup_are_cut_to_the_cap_and_say_so(mime: str) -> None:
    body = "<p>" + "<b>word</b> " * (10 * 1024 * 1024 // 12)
    text = _shown({mime: body})
    what = "HTML output" if mime == "text/html" else "SVG"
    assert f"[{what} cut: {len(body):,} bytes, the first {MARKUP_CAP:,} read]" in text
    assert len(text.encode()) < 20 * 1024  # the answer stays small


def test_a_cut_never_splits_a_character_and_counts_bytes() -> None:
    head, note = outputs.capped("é" * 10, 5, "text")
    assert head == "éé" and note == "[text cut: 20 bytes, the first 5 read]"
    assert outputs.capped("abc", 5, "text") == ("abc", "")


def test_plain_text_is_capped_too() -> None:
    text = _shown({"text/plain": "y" * (PLAIN_CAP + 10)})
    assert f"[text cut: {PLAIN_CAP + 10:,} bytes, the first {PLAIN_CAP:,} read]" in text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tail", ["<a ", "<!--", "<div>", '<a x="1" ' * 50 + "y", "</", "<!x", "&#"])
def test_pathological_html_completes_and_keeps_what_came_before(tail: str) -> None:
    html = "<p>table of results</p>" + tail * (MARKUP_CAP // len(tail))
    assert html_to_text(html).startswith("table of results")
    assert "<a" not in html_to_text("<p>ok</p>" + "<a " * 20_000)  # an unclosed tag is not text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tail", ["<text>x", "<svg ", '<svg width="', "<rect ", "<text"])
def test_pathological_svg_completes(tail: str) -> None:
    svg = '<svg width="400pt" height="300pt"><rect/><text>loss</text>' + tail * (MARKUP_CAP // len(tail))
    described = describe_svg(svg)
    assert described.startswith("[SVG image, 400pt x 300pt, ") and "loss" in described


def test_the_linear_reader_still_reads_html_as_before() -> None:
    html = ('<TABLE><tr><th title="a>b">a</th><th>b &amp; c</th></tr><tr><td>1</td><td>2</td></tr></TABLE>'
            "<!-- hidden --><script>if (a<b) {}</script><STYLE>p{}</STYLE><p>x <3 y</p>")
    assert html_to_text(html) == "a\tb & c\n1\t2\nx <3 y"
    assert [t.kind for t in tokens("a<br/>b<!doctype html>")] == ["data", "start", "data"]


def test_svg_text_elements_join_their_spans() -> None:
    svg = ('<svg viewBox="0 0 1 1" width=\'10cm\' height=5cm><text/><text x="1"><tspan>lo</tspan><tspan>ss'
           "</tspan></text><g><circle/><path/></g><text>epoch &lt;1&gt;</text></svg>")
    found = svg_summary(svg)
    assert (found.width, found.height, found.shapes, found.words) == ("10cm", "5cm", 2, ["loss", "epoch <1>"])


def test_a_decompression_bomb_is_not_decoded_and_says_why() -> None:
    bomb = base64.b64encode(_png_claiming(30_000, 30_000)).decode()
    text = _shown({"image/png": bomb, "text/plain": "<IPython.core.display.Image object>"})
    assert text.startswith("[image not shown: image/png over the limit of") and "900000000 pixels" in text


def test_an_image_over_the_pixel_limit_is_refused_from_its_header() -> None:
    side = int(MAX_PIXELS ** 0.5) + 1  # under Pillow's own limit: hpcbridge's check is what refuses it
    text = _shown({"image/png": base64.b64encode(_png_claiming(side, side)).decode()})
    assert text == f"[image not shown: image/png of {side:,} x {side:,} pixels, over the limit of {MAX_PIXELS:,} " \
                   "pixels (not decoded)]\n"


def test_an_image_over_the_byte_cap_is_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outputs, "IMAGE_CAP", 1024)  # a small cap: the rule, not 16 MB of test data
    text = _shown({"image/png": "A" * 2048})
    assert text == "[image not shown: image/png of 1,536 bytes, over the 768-byte limit]\n"


@pytest.mark.parametrize(("mime", "data"), [
    ("image/png", base64.b64encode(b"not a png").decode()),
    ("image/png", "@@@"),
    ("image/jpeg", base64.b64encode(_png_claiming(10, 10)).decode()),  # a PNG is not read as a JPEG
    ("image/png", base64.b64encode(_png_claiming(10, 10)[:40]).decode()),  # truncated
])
def test_whatever_an_image_holds_ends_as_a_note(mime: str, data: str) -> None:
    assert _shown({mime: data}).startswith(f"[image not shown: {mime} could not be decoded: ")


def test_a_large_jpeg_is_scaled_with_its_original_size_kept() -> None:
    out = io.BytesIO()
    Pil.new("RGB", (4000, 2000), "red").save(out, "JPEG")
    image = reduced({"image/jpeg": base64.b64encode(out.getvalue()).decode()}).image
    assert image is not None and (image.width, image.height, image.scaled_from) == (1024, 512, (4000, 2000))
    assert Pil.open(io.BytesIO(image.data)).format == "JPEG"


async def test_receive_reduces_in_a_worker_thread_and_keeps_the_order() -> None:
    """While a bundle is reduced, the event loop runs other work (the old add() held it to the end)."""
    out = CellOutput()
    await out.receive("stream", {"text": "first\n"})
    task = asyncio.create_task(out.receive("display_data", {"data": {"text/html": "<p>second</p>" + "<b>x</b>" * 30_000}}))
    ran_meanwhile: list[bool] = []

    async def other_call() -> None:
        ran_meanwhile.append(not task.done())

    await asyncio.gather(task, other_call())
    await out.receive("stream", {"text": "third\n"})
    assert ran_meanwhile == [True]
    text = out.rendered_text(cap=10**6)[0]
    assert text.startswith("first\nsecond\n") and text.endswith("third\n")
