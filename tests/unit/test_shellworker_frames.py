"""transport/shellworker.py: a stream's frame ends at its marker wherever the reads split it. A real channel
cannot be made to split its data at chosen places, so the reads are scripted here; the worker against the
real sshd (big outputs, exit codes, a spoofed marker) is tests/integration/test_transport.py."""

from __future__ import annotations

import asyncio
import re

import pytest

from hpcbridge.transport.shellworker import ShellWorker

TOKEN = b"0123456789abcdef"
OUT_END = re.compile(rb"\n\x1e" + TOKEN + rb" ([0-9]+)\n")


class Reads:
    """A stream whose read() hands out the given chunks, then EOF."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def read(self, n: int) -> bytes:
        await asyncio.sleep(0)
        return self.chunks.pop(0) if self.chunks else b""


def _worker() -> ShellWorker:
    return ShellWorker(None, None)  # type: ignore[arg-type]  # _frame uses neither


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 7, 23, 24, 1000, 1 << 20])
async def test_frame_ends_at_the_marker_however_the_reads_split(size: int) -> None:
    body = b"x" * 3000 + b"\n\x1e" + TOKEN[:8] + b" 0\n" + b"tail"  # a marker-like line with the wrong token
    worker = _worker()
    data, found = await worker._frame(Reads(_split(body + b"\n\x1e" + TOKEN + b" 17\n", size)), OUT_END)  # type: ignore[arg-type]
    assert data == body and found.group(1) == b"17" and not worker.out_of_step


async def test_data_after_the_marker_marks_the_worker_out_of_step() -> None:
    worker = _worker()
    data, _ = await worker._frame(Reads([b"abc\n\x1e" + TOKEN + b" 0\nmore"]), OUT_END)  # type: ignore[arg-type]
    assert data == b"abc" and worker.out_of_step


async def test_eof_before_the_marker_is_an_incomplete_read() -> None:
    with pytest.raises(asyncio.IncompleteReadError) as caught:
        await _worker()._frame(Reads([b"partial", b" output"]), OUT_END)  # type: ignore[arg-type]
    assert caught.value.partial == b"partial output"
