"""Latency, side by side in one run (the test cluster must be up):

  raw      `squeue` on an already-open asyncssh connection (the floor)
  mcp      `list_jobs` through a real MCP client over stdio to `hpcbridge serve` (cache off, so every call
           runs squeue; and with the default 2 s cache, as agents get it)
  fresh    a new `ssh host squeue` process per call (what a naive server does)

Prints medians and the ratios mcp/raw (goal <= 1.25) and fresh/mcp (goal >= 10).
`--scheduler pbs` measures the same for the test cluster seen as a PBS cluster (its Torque wrappers): raw is
`qstat -f`, and the server has `scheduler = "pbs"`. `--scheduler openpbs` measures the test cluster's real
OpenPBS 23.06 complex (its own login sshd): raw is `qstat -f -t -F json`, what list_jobs asks there.
Usage: python bench/bench_latency.py [--n 40] [--scheduler pbs|openpbs]
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


def connection(kind: str) -> dict[str, str]:
    """The SLURM_SSH_* settings of the login node to measure (OpenPBS has its own sshd, openpbs.env)."""
    env = dict(line.split("=", 1) for line in (TC_DIR / "connection.env").read_text().split())
    if kind == "openpbs":
        pbs = dict(line.split("=", 1) for line in (TC_DIR / "openpbs.env").read_text().split())
        env.update({f"SLURM_SSH_{k}": pbs[f"OPENPBS_SSH_{k}"] for k in ("HOST", "PORT", "USER", "KEY_PATH",
                                                                         "KNOWN_HOSTS")})
        env["SLURM_DEFAULT_PARTITION"] = pbs["OPENPBS_DEFAULT_QUEUE"]
    return env


RAW = {"slurm": "squeue", "pbs": "qstat -f", "openpbs": "qstat -f -t -F json"}
SCHEDULER = {"slurm": "slurm", "pbs": "pbs", "openpbs": "pbs"}


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def server_transport(env: dict[str, str], cache_ttl: float, workdir: str, scheduler: str) -> StdioTransport:
    cfg = Path(workdir) / f"cache-{cache_ttl}.toml"
    cfg.write_text(f"[clusters.default]\ncache_ttl = {cache_ttl}\nscheduler = \"{SCHEDULER[scheduler]}\"\n")
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    server_env.update(env, HPCBRIDGE_CONFIG=str(cfg), HPCBRIDGE_LOG_LEVEL="WARNING", HPCBRIDGE_TOOLSETS="all")
    return StdioTransport(command=str(Path(sys.executable).parent / "hpcbridge"), args=["serve"], env=server_env)


def fresh_ssh_argv(env: dict[str, str], command: str) -> list[str]:
    return ["ssh", "-p", env["SLURM_SSH_PORT"], "-i", env["SLURM_SSH_KEY_PATH"], "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={env['SLURM_SSH_KNOWN_HOSTS']}", "-o", "StrictHostKeyChecking=yes",
            f"{env['SLURM_SSH_USER']}@{env['SLURM_SSH_HOST']}", command]


async def measure(env: dict[str, str], n: int, scheduler: str) -> dict[str, list[float]]:
    """Samples are interleaved (raw, mcp, cached, sometimes fresh) so machine noise hits all alike."""
    samples: dict[str, list[float]] = {"raw": [], "mcp": [], "cached": [], "fresh": []}
    command = RAW[scheduler]
    with tempfile.TemporaryDirectory() as workdir:
        async with asyncssh.connect(env["SLURM_SSH_HOST"], port=int(env["SLURM_SSH_PORT"]),
                                    username=env["SLURM_SSH_USER"], client_keys=[env["SLURM_SSH_KEY_PATH"]],
                                    known_hosts=env["SLURM_SSH_KNOWN_HOSTS"]) as conn, \
                Client(server_transport(env, 0, workdir, scheduler)) as mcp, \
                Client(server_transport(env, 2, workdir, scheduler)) as cached:
            for i in range(n + 1):
                started = time.perf_counter()
                await conn.run(command)  # qstat exits 153 on an empty queue
                raw = _elapsed_ms(started)
                started = time.perf_counter()
                await mcp.call_tool_mcp("list_jobs", {})
                uncached = _elapsed_ms(started)
                started = time.perf_counter()
                await cached.call_tool_mcp("list_jobs", {})
                with_cache = _elapsed_ms(started)
                if i == 0:
                    continue  # warm-up: connections, worker shells, imports
                samples["raw"].append(raw)
                samples["mcp"].append(uncached)
                samples["cached"].append(with_cache)
                if i % 4 == 0:
                    started = time.perf_counter()
                    await asyncio.to_thread(subprocess.run, fresh_ssh_argv(env, command), check=False, capture_output=True)
                    samples["fresh"].append(_elapsed_ms(started))
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--scheduler", choices=sorted(RAW), default="slurm")
    args = parser.parse_args()
    samples = await measure(connection(args.scheduler), args.n, args.scheduler)
    raw_name = RAW[args.scheduler]
    raw, mcp, cached, fresh = (statistics.median(samples[k]) for k in ("raw", "mcp", "cached", "fresh"))
    print(f"median latency over {args.n} interleaved calls (ms); fresh ssh over {len(samples['fresh'])}")
    print(f"  raw {raw_name:9} open connection {raw:8.1f}")
    print(f"  list_jobs via MCP stdio       {mcp:8.1f}   (cache off: every call runs {raw_name})")
    print(f"  list_jobs via MCP, 2 s cache  {cached:8.1f}")
    print(f"  fresh ssh per call            {fresh:8.1f}")
    print(f"ratio list_jobs/raw   = {mcp / raw:.2f}   (goal <= 1.25)")
    print(f"ratio fresh/list_jobs = {fresh / mcp:.1f}   (goal >= 10)")


if __name__ == "__main__":
    asyncio.run(main())
