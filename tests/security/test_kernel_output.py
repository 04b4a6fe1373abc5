"""Issue 23, item 4, replayed live: one cell's output must not freeze the server for everyone.

A real MCP client, a Jupyter kernel in a job on the test cluster, and the review's three outputs: a 200 KB SVG
and 60 KB of HTML built from what made the old reduction super-linear (it took minutes on them, on the event
loop, so every other call waited), and a PNG decompression bomb (a few hundred bytes claiming 30000 x 30000
pixels, which ended the call with an uncaught DecompressionBombError). Each must answer with a bounded output
that says what it is, and another call made meanwhile must answer too. No duration is asserted: the old code
fails here by the bomb's error and, for the markup, by its garbage text or the suite's timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client

from .conftest import call, client_with

pytestmark = pytest.mark.cluster

PUBLISH = "from IPython.display import publish_display_data\n"
SVG = PUBLISH + ("svg = '<svg width=\"400pt\" height=\"300pt\"><rect/><text>loss</text>' + '<text>x' * 28000\n"
                 "print(len(svg))\npublish_display_data({'image/svg+xml': svg})")
HTML = PUBLISH + ("html = '<p>table of results</p>' + '<a ' * 20000\n"
                  "print(len(html))\npublish_display_data({'text/html': html})")
BOMB = PUBLISH + """import base64, struct, zlib
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
png = (b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 30000, 30000, 8, 0, 0, 0, 0))
       + chunk(b'IDAT', zlib.compress(b'\\0' * 4096)) + chunk(b'IEND', b''))
print(len(png))
publish_display_data({'image/png': base64.b64encode(png).decode(), 'text/plain': '<Image>'})"""


async def _execute_beside_another_call(client: Client, notebook: str, code: str) -> tuple[dict[str, Any], str]:
    """The cell, and meanwhile a listing of the queue: both must answer."""
    cell, jobs = await asyncio.gather(
        client.call_tool("execute_code", {"notebook": notebook, "code": code}),
        client.call_tool("list_jobs", {}))
    assert not cell.is_error and not jobs.is_error
    assert "total" in (jobs.structured_content or {})
    structured = cell.structured_content or {}
    assert structured["status"] == "ok" and not structured["images"], structured
    return structured, cell.content[0].text


@pytest.fixture(scope="module")
async def kernel(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    """One server and one kernel (notebook 'hostile-output') for the three outputs; ended with the server."""
    state = tmp_path_factory.mktemp("kernel-output-state")
    async with client_with(tc_env, HPCBRIDGE_STATE_DIR=str(state)) as client:
        await call(client, "start_kernel_session", notebook="hostile-output", partition="cpu", time_limit="0:15:00")
        yield client


# the timeout marks are a safety net only: the old code took minutes per cell here
@pytest.mark.timeout(300)
async def test_a_200_kb_svg_is_described_while_other_calls_answer(kernel: Client) -> None:
    svg, text = await _execute_beside_another_call(kernel, "hostile-output", SVG)
    assert svg["text"].startswith("196058\n[SVG image, 400pt x 300pt, 1 shapes; text: loss, xxx")
    assert svg["text"].endswith("]\n") and len(text) < 2000


@pytest.mark.timeout(300)
async def test_60_kb_of_pathological_html_is_reduced_while_other_calls_answer(kernel: Client) -> None:
    html, _ = await _execute_beside_another_call(kernel, "hostile-output", HTML)
    assert html["text"] == "60023\ntable of results\n"  # an unclosed tag is not text (the old code gave 40 KB of it)


@pytest.mark.timeout(300)
async def test_a_png_decompression_bomb_is_not_shown_and_says_why(kernel: Client) -> None:
    bomb, _ = await _execute_beside_another_call(kernel, "hostile-output", BOMB)
    lines = bomb["text"].splitlines()
    assert int(lines[0]) < 1000 and len(lines) == 2, bomb
    assert lines[1].startswith("[image not shown: image/png over the limit of 30,000,000 pixels (not decoded)")
    assert "900000000 pixels" in lines[1]
    after = await call(kernel, "execute_code", notebook="hostile-output", code="6 * 7")
    assert after["text"] == "42\n"  # the kernel and the server are fine
