"""How much 20 waiting agents cost slurmctld, counted by slurmctld itself (`sdiag`, run as root here).

Three phases through one `hpcbridge serve` over stdio, each over about the same wall time:
  one     1 wait_for_job on 1 job (sleep 45)
  twenty  20 concurrent wait_for_job on 20 jobs (sleep 15 each; 8 CPUs run them in ~3 waves)
  naive   20 agents each polling get_job_details every 2 s on 20 such jobs (what clients do without it)
Prints the job-info RPCs (REQUEST_JOB_INFO*, REQUEST_JOB_USER_INFO) slurmctld served in each phase.
Usage (cluster up, as root): python bench/bench_waiters.py
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

TC_DIR = Path(os.environ.get("HPCB_TC_DIR", "/var/lib/hpcbridge-testcluster"))


def job_rpcs() -> int:
    out = subprocess.run(["sdiag"], capture_output=True, text=True, check=True).stdout
    return sum(int(m.group(1)) for m in re.finditer(r"^\s*REQUEST_JOB_(?:INFO\w*|USER_INFO)\s+\(\s*\d+\)\s+count:(\d+)",
                                                    out, re.MULTILINE))


async def submit(client: Client, seconds: int, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        result = await client.call_tool("submit_job", {"script_content": f"sleep {seconds}", "partition": "interactive",
                                                       "time_limit": "5", "job_name": "bench-wait"})
        ids.append(result.structured_content["job_id"])
    return ids


async def naive_poll(client: Client, job_id: str) -> None:
    while True:
        details = (await client.call_tool("get_job_details", {"job_id": job_id})).structured_content
        if details["job"]["state"] in {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}:
            return
        await asyncio.sleep(2)


async def phase(name: str, work) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    before, started = job_rpcs(), time.monotonic()
    await work
    return job_rpcs() - before, time.monotonic() - started


async def main() -> None:
    env = dict(line.split("=", 1) for line in (TC_DIR / "connection.env").read_text().split())
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    server_env.update(env, HPCBRIDGE_CONFIG="", HPCBRIDGE_LOG_LEVEL="WARNING")
    transport = StdioTransport(command=str(Path(sys.executable).parent / "hpcbridge"), args=["serve"], env=server_env)
    async with Client(transport, timeout=600) as client:
        one_ids = await submit(client, 45, 1)
        one = await phase("one", client.call_tool("wait_for_job", {"job_id": one_ids[0], "timeout": 600}))
        twenty_ids = await submit(client, 15, 20)
        twenty = await phase("twenty", asyncio.gather(*(client.call_tool("wait_for_job", {"job_id": j, "timeout": 600})
                                                        for j in twenty_ids)))
        naive_ids = await submit(client, 15, 20)
        naive = await phase("naive", asyncio.gather(*(naive_poll(client, j) for j in naive_ids)))
    print("slurmctld job-info RPCs (sdiag), phase: count over seconds")
    for label, (count, seconds) in (("1 waiter, wait_for_job", one), ("20 waiters, wait_for_job", twenty),
                                    ("20 agents polling get_job_details / 2 s", naive)):
        print(f"  {label:<42} {count:5d} RPCs over {seconds:5.1f} s  ({count / seconds:.2f}/s)")


if __name__ == "__main__":
    asyncio.run(main())
