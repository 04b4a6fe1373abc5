"""Kernel output reduction on the inputs of issue 23 (item 4): a 195 KB SVG and 59 KB of HTML built from what
made the old reduction super-linear, a 10 MB HTML, and a PNG decompression bomb. No cluster needed.

`--old PATH` also times an older outputs.py (e.g. `git show 65024ab:src/hpcbridge/jupyter/outputs.py >
/tmp/old_outputs.py`), run in a child process with a time limit, since it takes minutes.
Usage: python bench/bench_jupyter_outputs.py [--old /tmp/old_outputs.py] [--limit 300]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import multiprocessing
import struct
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

CASES: dict[str, tuple[str, Callable[[], Any]]] = {
    "195 KB SVG (unclosed <text>)": ("image/svg+xml", lambda: '<svg width="400pt" height="300pt"><rect/>'
                                     "<text>loss</text>" + "<text>x" * 28000),
    "59 KB HTML (unclosed <a )": ("text/html", lambda: "<p>table of results</p>" + "<a " * 19700),
    "10 MB HTML (a long table)": ("text/html", lambda: "<table>" + "<tr><td>1</td><td>2</td></tr>" * 360_000),
}


def bomb() -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


def load(path: str) -> Any:
    if not path:
        import hpcbridge.jupyter.outputs

        return hpcbridge.jupyter.outputs
    spec = importlib.util.spec_from_file_location("outputs_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["outputs_under_test"] = module
    spec.loader.exec_module(module)
    return module


def timed(path: str, mime: str, make: Callable[[], Any] | None, out: Any) -> None:
    module = load(path)
    data = {mime: make() if make else bomb()}
    cell = module.CellOutput()
    started = time.perf_counter()
    try:
        cell.add("display_data", {"data": data})
        said = cell.rendered_text()[0].strip().splitlines()[-1][:90]
    except Exception as exc:  # noqa: BLE001 - the old code's answer to a bomb
        said = f"raised {type(exc).__name__}"
    out.put((time.perf_counter() - started, said))


def run(path: str, limit: float) -> None:
    cases = [*((name, mime, make) for name, (mime, make) in CASES.items()), ("PNG bomb 30000 x 30000", "image/png", None)]
    for name, mime, make in cases:
        out: Any = multiprocessing.Queue()
        child = multiprocessing.Process(target=timed, args=(path, mime, make, out))
        child.start()
        child.join(limit)
        if child.is_alive():
            child.kill()
            print(f"  {name:30s} > {limit:.0f} s (stopped)")
            continue
        seconds, said = out.get()
        print(f"  {name:30s} {seconds * 1000:10.1f} ms  {said}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", help="an older outputs.py to time beside this one")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds per case before it is stopped")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    print("this checkout's outputs.py:")
    run("", args.limit)
    if args.old:
        print(f"old ({args.old}):")
        run(args.old, args.limit)


if __name__ == "__main__":
    main()
