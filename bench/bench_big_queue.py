"""list_jobs with a big queue (a 10,000-task array held in the queue: `sbatch --array=0-9999 --hold`), side by
side in one run with the raw command it runs (the test cluster must be up):

  raw      the `squeue --array ...` list_jobs runs, on an already-open asyncssh connection (the floor)
  single   one list_jobs through a real MCP client over stdio, cache off (each call runs squeue and parses)
  x64      64 concurrent list_jobs (default 2 s cache: one squeue, 64 answers from the same snapshot)

Goals (issue 29): single <= 1.5x raw; x64 <= 0.5 s. The array is submitted (held, named h29c-bench-bigq)
and cancelled by this script unless --keep-array-id names one already queued.
Usage: python bench/bench_big_queue.py [--n 15] [--tasks 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncssh
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from hpcbridge.backends.slurm.build import squeue_argv
from hpcbridge.quoting import shell_join

TC_DIR = Path(os.environ.get("HPCB_TC_DIR", "/var/lib/hpcbridge-testcluster"))


def connection() -> dict[str, str]:
    return dict(line.split("=", 1) for line in (TC_DIR / "connection.env").read_text().split())


def server(env: dict[str, str], cache_ttl: float, workdir: str) -> StdioTransport:
    cfg = Path(workdir) / f"cache-{cache_ttl}.toml"
    cfg.write_text(f"[clusters.default]\ncache_ttl = {cache_ttl}\n")
    server_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    server_env.update(env, HPCBRIDGE_CONFIG=str(cfg), HPCBRIDGE_LOG_LEVEL="WARNING",
                      HPCBRIDGE_STATE_DIR=f"{workdir}/state")
    return StdioTransport(command=str(Path(sys.executable).parent / "hpcbridge"), args=["serve"], env=server_env,
                          keep_alive=False)


async def measure(env: dict[str, str], n: int, tasks: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"raw": [], "single": [], "x64": []}
    raw_command = shell_join(["env", "LC_ALL=C", *squeue_argv()])
    args = {"limit": 20}
    with tempfile.TemporaryDirectory() as workdir:
        async with asyncssh.connect(env["SLURM_SSH_HOST"], port=int(env["SLURM_SSH_PORT"]),
                                    username=env["SLURM_SSH_USER"], client_keys=[env["SLURM_SSH_KEY_PATH"]],
                                    known_hosts=env["SLURM_SSH_KNOWN_HOSTS"]) as conn:
            out = await conn.run(f"sbatch --parsable --array=0-{tasks - 1} --hold -J h29c-bench-bigq -p cpu "
                                 "-t 5 --wrap 'sleep 1'", check=True)
            array = str(out.stdout).strip()
            try:
                async with Client(server(env, 0, workdir), timeout=120) as single, \
                        Client(server(env, 2, workdir), timeout=120) as cached:
                    first = await single.call_tool("list_jobs", args)
                    assert first.structured_content and first.structured_content["total"] >= tasks
                    await cached.call_tool("list_jobs", args)
                    for i in range(n + 1):
                        started = time.perf_counter()
                        result = await conn.run(raw_command, check=True)
                        raw = time.perf_counter() - started
                        assert str(result.stdout).count("\n") >= tasks
                        started = time.perf_counter()
                        await single.call_tool("list_jobs", args)
                        one = time.perf_counter() - started
                        await asyncio.sleep(2.1)  # past the cache: the 64 share one fresh snapshot
                        started = time.perf_counter()
                        await asyncio.gather(*(cached.call_tool("list_jobs", args) for _ in range(64)))
                        many = time.perf_counter() - started
                        if i:  # the first round warms up
                            samples["raw"].append(raw)
                            samples["single"].append(one)
                            samples["x64"].append(many)
            finally:
                await conn.run(f"scancel {array}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=15)
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    samples = asyncio.run(measure(connection(), args.n, args.tasks))
    med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    for kind, value in med.items():
        print(f"{kind:8s} median {value:7.1f} ms  (n={len(samples[kind])})")
    print(f"single/raw = {med['single'] / med['raw']:.2f} (goal <= 1.5); x64 = {med['x64']:.0f} ms (goal <= 500)")


if __name__ == "__main__":
    main()
