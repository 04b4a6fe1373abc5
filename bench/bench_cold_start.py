"""Cold start: spawn `hpcbridge serve` (stdio) to the answer to tools/list, as a newcomer's client sees it.

Each sample is a fresh process through a real MCP client (initialize, then tools/list), with the default
toolsets (cluster, jobs, agent) and, side by side in the same run, with every toolset. Also prints the
bare interpreter start (`python -c pass`) as the floor. Needs the test cluster's connection.env only for
the settings; tools/list itself sends no command to the cluster.
`--before REF` adds the same server from the source of a git ref (e.g. the commit before a change), spawned
interleaved with the working tree's, so both see the same machine.
The fastmcp import alone is printed as a second floor: what any server on this SDK pays.
Usage: python bench/bench_cold_start.py [--n 15] [--before REF]
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

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

TC_DIR = Path(os.environ.get("HPCB_TC_DIR", "/var/lib/hpcbridge-testcluster"))


def server_env(home: str, toolsets: str | None, src: str | None = None) -> dict[str, str]:
    tc = dict(line.split("=", 1) for line in (TC_DIR / "connection.env").read_text().split())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    env.update(tc, HPCBRIDGE_CONFIG="", HPCBRIDGE_LOG_LEVEL="WARNING", HPCBRIDGE_STATE_DIR=f"{home}/state")
    if toolsets:
        env["HPCBRIDGE_TOOLSETS"] = toolsets
    if src:  # ahead of the editable install on sys.path
        env["PYTHONPATH"] = src
    return env


def source_of(ref: str, into: str) -> str:
    """src/ of a git ref, unpacked into a directory (the checkout itself is not touched)."""
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(repo), "archive", ref, "src"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", into], input=archive.stdout, check=True)
    return str(Path(into) / "src")


# The smallest server on the same SDK: one tool, stdio. Its start to the tools/list answer is the true floor of
# the measured path: fastmcp 4.1's first tools/list also loads its session-state store (py-key-value, whose
# package import runs beartype's import hook over its modules), which the bare import above does not.
MINIMAL_SERVER = """
from fastmcp import FastMCP
mcp = FastMCP("minimal")
@mcp.tool
def ping(x: int = 1) -> str:
    "Answer pong."
    return "pong"
mcp.run(transport="stdio", show_banner=False)
"""


async def one(env: dict[str, str], minimal: bool = False) -> float:
    exe = str(Path(sys.executable).parent / "hpcbridge")
    command, args = (sys.executable, ["-c", MINIMAL_SERVER]) if minimal else (exe, ["serve"])
    started = time.perf_counter()
    async with Client(StdioTransport(command=command, args=args, env=env, keep_alive=False), timeout=60) as c:
        tools = await c.list_tools()
        elapsed = time.perf_counter() - started
    assert tools, "tools/list came back empty"
    return elapsed


def floor(code: str = "pass") -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


# What any fastmcp server pays before its first line runs: the SDK's own import (fastmcp, mcp, mcp_types'
# generated models, pydantic). The difference to `default` is hpcbridge's share.
SDK_FLOOR = "import fastmcp.server.server"


async def main(n: int, before: str | None) -> None:
    with tempfile.TemporaryDirectory() as home:
        kinds = {"default": server_env(home, None), "all": server_env(home, "all")}
        if before:
            old = source_of(before, home)
            kinds.update({f"default@{before}": server_env(home, None, old), f"all@{before}": server_env(home, "all", old)})
        samples: dict[str, list[float]] = {"python -c pass": [], "import fastmcp (floor)": [],
                                           "minimal fastmcp server": [], **{k: [] for k in kinds}}
        await one(kinds["default"])  # warm the page cache, as a second start would
        for _ in range(n):  # interleaved, so machine noise hits all alike
            samples["python -c pass"].append(floor())
            samples["import fastmcp (floor)"].append(floor(SDK_FLOOR))
            samples["minimal fastmcp server"].append(await one(kinds["default"], minimal=True))
            for kind, env in kinds.items():
                samples[kind].append(await one(env))
    for kind, values in samples.items():
        print(f"{kind:24s} median {statistics.median(values) * 1000:7.0f} ms   "
              f"min {min(values) * 1000:6.0f}   max {max(values) * 1000:6.0f}   (n={len(values)})")
    ours = statistics.median(samples["default"]) - statistics.median(samples["minimal fastmcp server"])
    print(f"hpcbridge's share of the default start (default - minimal fastmcp server): {ours * 1000:.0f} ms")
    print(f"goal: default <= 1000 ms -> {'met' if statistics.median(samples['default']) <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=15)
    parser.add_argument("--before", help="a git ref to compare with, e.g. HEAD~3")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.before))
