"""Paging a 1 GB log to its end, side by side in one run (the test cluster must be up):

  ssh cat    `ssh host cat FILE > /dev/null`: one OpenSSH process streaming the whole file (the floor for
             "get every byte here"; an agent could never use it: 1 GB in its context)
  raw pages  `tail -c +N FILE | head -c 1MB` page after page on one open asyncssh connection, nothing parsed
             (the transport's floor for paging)
  service    services.logs.read_log page after page (1 MB, by byte offset) on the same kind of connection
  mcp        the `read_log` tool the same way through a real MCP client over stdio to `hpcbridge serve`

Prints seconds and MB/s for each, and the ratios. The file is written once on the cluster under the test
user's directory (awk, ~1 GiB of numbered lines) and removed at the end unless --keep.
Usage: python bench/bench_logs.py [--mb 1024] [--page-kb 1024] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from hpcbridge.config import load_settings
from hpcbridge.services import logs
from hpcbridge.services.registry import Registry

TC_DIR = Path(os.environ.get("HPCB_TC_DIR", "/var/lib/hpcbridge-testcluster"))
_MAKE = r'''mkdir -p "$(dirname "$1")" && awk -v n="$2" 'BEGIN { for (i = 1; i <= n; i++)
  printf "%09d step=%d loss=%.6f lr=0.000300 grad_norm=1.2345 tokens_per_s=123456 ok\n", i, i, 1 / i }' > "$1"
stat -c %s "$1"'''
LINE_BYTES = 92  # about: the awk line above, newline included (the step grows to 8 digits)


def connection() -> dict[str, str]:
    return dict(line.split("=", 1) for line in (TC_DIR / "connection.env").read_text().split())


def ssh(env: dict[str, str], argv: list[str], stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ssh", "-p", env["SLURM_SSH_PORT"], "-i", env["SLURM_SSH_KEY_PATH"], "-o", "BatchMode=yes",
                           "-o", f"UserKnownHostsFile={env['SLURM_SSH_KNOWN_HOSTS']}",
                           f"{env['SLURM_SSH_USER']}@{env['SLURM_SSH_HOST']}", shlex.join(argv)],
                          stdout=stdout, stderr=subprocess.PIPE, check=True, timeout=1800)


async def by_raw_pages(env: dict[str, str], path: str, page: int) -> tuple[int, int, float]:
    registry = Registry(load_settings({**env, "HPCBRIDGE_CONFIG": ""}))
    script = 'tail -c +"$1" -- "$2" | head -c "$3"'
    try:
        c = registry.get()
        await c.run(["true"])  # connected before the clock starts
        total, pages, started = 0, 0, time.perf_counter()
        while True:
            got = await c.run(["sh", "-c", script, "bench", str(total + 1), path, str(page)])
            total, pages = total + len(got.stdout_bytes), pages + 1
            if len(got.stdout_bytes) < page:
                return total, pages, time.perf_counter() - started
    finally:
        await registry.close()


async def by_service(env: dict[str, str], path: str, page: int) -> tuple[int, int, float]:
    registry = Registry(load_settings({**env, "HPCBRIDGE_CONFIG": ""}))
    try:
        c = registry.get()
        await c.run(["true"])
        offset, total, pages, started = 0, 0, 0, time.perf_counter()
        while True:
            got = await logs.read_log(c, path, offset=offset, max_bytes=page)
            total, offset, pages = total + got.returned_bytes, got.next_offset, pages + 1
            if got.eof:
                return total, pages, time.perf_counter() - started
    finally:
        await registry.close()


async def by_mcp(env: dict[str, str], path: str, page: int) -> tuple[int, int, float]:
    server_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    server_env.update(env, HPCBRIDGE_CONFIG="", HPCBRIDGE_LOG_LEVEL="WARNING", HPCBRIDGE_TOOLSETS="watch")
    transport = StdioTransport(command=str(Path(sys.executable).parent / "hpcbridge"), args=["serve"],
                               env=server_env, keep_alive=False)
    async with Client(transport, timeout=300) as client:
        await client.call_tool("read_log", {"path": path, "offset": 0, "max_bytes": 1})  # connected, warm
        offset, total, pages, started = 0, 0, 0, time.perf_counter()
        while True:
            got = (await client.call_tool("read_log", {"path": path, "offset": offset, "max_bytes": page})
                   ).structured_content or {}
            total, offset, pages = total + got["returned_bytes"], got["next_offset"], pages + 1
            if got["eof"]:
                return total, pages, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--page-kb", type=int, default=1024)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    env = connection()
    path = f"{env['SLURM_USER_ROOT']}/bench-logs/big-{args.mb}mb.log"
    made = ssh(env, ["sh", "-c", _MAKE, "bench", path, str(args.mb * 1024 * 1024 // LINE_BYTES)])
    size = int(made.stdout.split()[-1])
    page = args.page_kb * 1024
    print(f"file {path}: {size / 1e6:.0f} MB; pages of {args.page_kb} KB")
    rows: dict[str, float] = {}
    started = time.perf_counter()
    ssh(env, ["cat", "--", path], stdout=subprocess.DEVNULL)
    rows["ssh cat > /dev/null"] = time.perf_counter() - started  # with its connection (~0.1 s)
    for name, run in (("raw pages (asyncssh)", by_raw_pages), ("service read_log pages", by_service),
                      ("mcp read_log pages", by_mcp)):
        total, pages, rows[name] = asyncio.run(run(env, path, page))  # the paging only, connected before
        assert total == size, (name, total, size)
        print(f"  {name}: {pages} pages")
    for name, seconds in rows.items():
        print(f"{name:26} {seconds:7.2f} s  {size / seconds / 1e6:7.1f} MB/s")
    floor = rows["ssh cat > /dev/null"]
    print(f"raw/ssh-cat x{rows['raw pages (asyncssh)'] / floor:.2f}   "
          f"service/raw x{rows['service read_log pages'] / rows['raw pages (asyncssh)']:.2f}   "
          f"service/ssh-cat x{rows['service read_log pages'] / floor:.2f}   "
          f"mcp/ssh-cat x{rows['mcp read_log pages'] / floor:.2f}")
    if not args.keep:
        ssh(env, ["rm", "-f", "--", path])


if __name__ == "__main__":
    main()
