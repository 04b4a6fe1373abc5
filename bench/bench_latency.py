"""Latency, side by side in one run (the test cluster must be up):

  raw      `squeue` on an already-open asyncssh connection (the floor)
  mcp      `list_jobs` through a real MCP client over stdio to `hpcbridge serve` (cache off, so every call
           runs squeue; and with the default 2 s cache, as agents get it)
  fresh    a new `ssh host squeue` process per call (what a naive server does)

Prints medians and the ratios mcp/raw (goal <= 1.25) and fresh/mcp (goal >= 10).
Usage: python bench/bench_latency.py [--n 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

TC_DIR = Path(os.environ.get("HPCB_TC_DIR", "/var/lib/hpcbridge-testcluster"))


def connection() -> dict[str, str]:
    return dict(line.split("=", 1) for line in (TC_DIR / "connection.env").read_text().split())


async def timed(n: int, op) -> list[float]:  # type: ignore[no-untyped-def]
    await op()  # warm up
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await op()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def bench_raw(env: dict[str, str], n: int) -> list[float]:
    async with asyncssh.connect(env["SLURM_SSH_HOST"], port=int(env["SLURM_SSH_PORT"]),
                                username=env["SLURM_SSH_USER"], client_keys=[env["SLURM_SSH_KEY_PATH"]],
                                known_hosts=env["SLURM_SSH_KNOWN_HOSTS"]) as conn:
        async def op() -> None:
            result = await conn.run("squeue", check=True)
            assert result.stdout is not None
        return await timed(n, op)


async def bench_mcp(env: dict[str, str], n: int, cache_ttl: float) -> list[float]:
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as cfg:
        cfg.write(f"[clusters.default]\ncache_ttl = {cache_ttl}\n")
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    server_env.update(env, HPCBRIDGE_CONFIG=cfg.name, HPCBRIDGE_LOG_LEVEL="WARNING")
    exe = str(Path(sys.executable).parent / "hpcbridge")
    async with Client(StdioTransport(command=exe, args=["serve"], env=server_env)) as client:
        async def op() -> None:
            await client.call_tool("list_jobs", {})
        samples = await timed(n, op)
    os.unlink(cfg.name)
    return samples


async def bench_fresh(env: dict[str, str], n: int) -> list[float]:
    argv = ["ssh", "-p", env["SLURM_SSH_PORT"], "-i", env["SLURM_SSH_KEY_PATH"], "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={env['SLURM_SSH_KNOWN_HOSTS']}", "-o", "StrictHostKeyChecking=yes",
            f"{env['SLURM_SSH_USER']}@{env['SLURM_SSH_HOST']}", "squeue"]

    async def op() -> None:
        await asyncio.to_thread(subprocess.run, argv, check=True, capture_output=True)
    return await timed(n, op)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    env = connection()
    raw = statistics.median(await bench_raw(env, args.n))
    mcp = statistics.median(await bench_mcp(env, args.n, cache_ttl=0))
    cached = statistics.median(await bench_mcp(env, args.n, cache_ttl=2))
    fresh = statistics.median(await bench_fresh(env, max(10, args.n // 4)))
    print(f"median latency over {args.n} calls (ms)")
    print(f"  raw squeue, open connection   {raw:8.1f}")
    print(f"  list_jobs via MCP stdio       {mcp:8.1f}   (cache off: every call runs squeue)")
    print(f"  list_jobs via MCP, 2 s cache  {cached:8.1f}")
    print(f"  fresh ssh per call            {fresh:8.1f}")
    print(f"ratio list_jobs/raw   = {mcp / raw:.2f}   (goal <= 1.25)")
    print(f"ratio fresh/list_jobs = {fresh / mcp:.1f}   (goal >= 10)")


if __name__ == "__main__":
    asyncio.run(main())
