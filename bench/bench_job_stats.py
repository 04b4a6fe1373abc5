"""get_job_stats latency on an idle test cluster, side by side in one run (the test cluster must be up):

  raw      the same srun --overlap probe step (nvidia-smi on the job's node) on an already-open asyncssh
           connection: the floor for reading GPUs inside the allocation
  raw+sstat  that step and sstat, one after the other, on the open connection
  mcp      get_job_stats through a real MCP client over stdio to `hpcbridge serve` (details + step + sstat)

One 2-GPU job (`sleep`) is submitted for the run and cancelled at the end. Prints medians and mcp/raw.
Usage: python bench/bench_job_stats.py [--n 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import asyncssh
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from hpcbridge.backends.slurm import usage

TC_DIR = Path(os.environ.get("HPCB_TC_DIR", "/var/lib/hpcbridge-testcluster"))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def main(n: int) -> None:
    env = dict(line.split("=", 1) for line in (TC_DIR / "connection.env").read_text().split())
    server_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    server_env.update(env, HPCBRIDGE_CONFIG="", HPCBRIDGE_LOG_LEVEL="WARNING", HPCBRIDGE_TOOLSETS="all")
    transport = StdioTransport(command=str(Path(sys.executable).parent / "hpcbridge"), args=["serve"],
                               env=server_env, keep_alive=False)
    async with asyncssh.connect(env["SLURM_SSH_HOST"], port=int(env["SLURM_SSH_PORT"]),
                                username=env["SLURM_SSH_USER"], client_keys=[env["SLURM_SSH_KEY_PATH"]],
                                known_hosts=env["SLURM_SSH_KNOWN_HOSTS"]) as conn, Client(transport) as mcp:
        out = await conn.run("sbatch --parsable -J hpb_bench_stats -p gpu --gres=gpu:2 -t 10 --wrap 'sleep 600'",
                             check=True)
        job_id = str(out.stdout).strip()
        try:
            for _ in range(120):
                state = await conn.run(f"squeue -h -j {job_id} -o %T")
                if str(state.stdout).strip() == "RUNNING":
                    break
                await asyncio.sleep(0.5)
            probe, sstat = shlex.join(usage.probe_argv(job_id, 1)), shlex.join(usage.sstat_argv(job_id))
            raw, both, mcp_ms = [], [], []
            for i in range(n + 1):  # the first round warms up and is dropped
                started = time.perf_counter()
                await conn.run(probe, check=True)
                raw_ms = _ms(started)
                started = time.perf_counter()
                await conn.run(probe, check=True)
                await conn.run(sstat, check=True)
                both_ms = _ms(started)
                started = time.perf_counter()
                result = await mcp.call_tool("get_job_stats", {"job_id": job_id})
                call_ms = _ms(started)
                assert (result.structured_content or {}).get("gpu_count") == 2, result
                if i:
                    raw.append(raw_ms)
                    both.append(both_ms)
                    mcp_ms.append(call_ms)
        finally:
            await conn.run(f"scancel {job_id}")
    med = {k: statistics.median(v) for k, v in (("raw", raw), ("raw+sstat", both), ("mcp", mcp_ms))}
    print(f"get_job_stats on a running 2-GPU job, n={n}, medians:")
    for k, v in med.items():
        print(f"  {k:10s} {v:8.1f} ms")
    print(f"  mcp/raw = x{med['mcp'] / med['raw']:.2f}; mcp/(raw+sstat) = x{med['mcp'] / med['raw+sstat']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=15)
    asyncio.run(main(parser.parse_args().n))
