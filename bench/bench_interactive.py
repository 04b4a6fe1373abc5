"""The same command through exec_in_session (an allocation kept open) and run_interactive_command (srun
allocates, runs and releases each time), interleaved through one `hpcbridge serve` over stdio.
Usage (cluster up): python bench/bench_interactive.py [--n 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

TC_DIR = Path(os.environ.get("HPCB_TC_DIR", "/var/lib/hpcbridge-testcluster"))
COMMAND = "hostname"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    env = dict(line.split("=", 1) for line in (TC_DIR / "connection.env").read_text().split())
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    server_env.update(env, HPCBRIDGE_CONFIG="", HPCBRIDGE_LOG_LEVEL="WARNING", HPCBRIDGE_TOOLSETS="all")
    transport = StdioTransport(command=str(Path(sys.executable).parent / "hpcbridge"), args=["serve"],
                               env=server_env, keep_alive=False)
    one_shot: list[float] = []
    in_session: list[float] = []
    async with Client(transport, timeout=300) as client:
        session = (await client.call_tool("start_interactive_session",
                                           {"partition": "cpu", "time_limit": "0:30:00"})).structured_content
        sid = session["session_id"]
        for i in range(args.n + 1):
            started = time.perf_counter()
            await client.call_tool("exec_in_session", {"session_id": sid, "command": COMMAND})
            session_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            await client.call_tool("run_interactive_command", {"command": COMMAND, "partition": "cpu"})
            shot_ms = (time.perf_counter() - started) * 1000
            if i:  # the first round warms up connections and worker shells
                in_session.append(session_ms)
                one_shot.append(shot_ms)
        await client.call_tool("end_interactive_session", {"session_id": sid})
    a, b = statistics.median(in_session), statistics.median(one_shot)
    print(f"median over {args.n} interleaved calls of '{COMMAND}' (ms)")
    print(f"  exec_in_session          {a:8.1f}")
    print(f"  run_interactive_command  {b:8.1f}")
    print(f"ratio run_interactive_command / exec_in_session = {b / a:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
