"""Jupyter kernels on the test cluster (cluster up), side by side in one run:

  start    "start_kernel_session" to the first result of `1+1` on an idle cluster, cold each time (the
           server job is stopped between runs): sbatch, scheduling, jupyter-server start, kernel start
  cell     per-cell round trip of `1+1` through MCP (hpcbridge over stdio, the kernel through an SSH port
           forward): execute_code (saves the cell into the .ipynb) and execute_scratch_code, next to the same
           execute_request sent directly on the node (a websocket client run inside the job with srun)

Usage: python bench/bench_jupyter.py [--starts 3] [--n 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

TC_DIR = Path(os.environ.get("HPCB_TC_DIR", "/var/lib/hpcbridge-testcluster"))

ON_NODE = r"""
import asyncio, glob, json, sys, time, urllib.request, uuid
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect
runtime, n = sys.argv[1], int(sys.argv[2])
port = json.load(open(glob.glob(runtime + "/jpserver-*.json")[0]))["port"]
auth = {"Authorization": "token " + open(runtime + "/token").read().strip()}
sessions = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/sessions", headers=auth))
kernel = json.load(sessions)[0]["kernel"]["id"]
async def main():
    url = f"ws://127.0.0.1:{port}/api/kernels/{kernel}/channels?session_id={uuid.uuid4().hex}"
    ws = await websocket_connect(HTTPRequest(url, headers=auth))
    times = []
    for _ in range(n):
        mid = uuid.uuid4().hex
        await asyncio.sleep(0)
        started = time.perf_counter()
        await ws.write_message(json.dumps({"header": {"msg_id": mid, "username": "bench", "session": "bench",
            "msg_type": "execute_request", "version": "5.3", "date": ""}, "parent_header": {}, "metadata": {},
            "content": {"code": "1+1", "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False}, "channel": "shell", "buffers": []}))
        idle = reply = False
        while not (idle and reply):
            m = json.loads(await ws.read_message())
            if m["parent_header"].get("msg_id") != mid:
                continue
            idle = idle or (m["msg_type"] == "status" and m["content"]["execution_state"] == "idle")
            reply = reply or m["msg_type"] == "execute_reply"
        times.append(time.perf_counter() - started)
    print(json.dumps(times))
asyncio.run(main())
"""


def env_of() -> dict[str, str]:
    tc = dict(line.split("=", 1) for line in (TC_DIR / "connection.env").read_text().split())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    env.update(tc, HPCBRIDGE_CONFIG="", HPCBRIDGE_TOOLSETS="all", HPCBRIDGE_LOG_LEVEL="WARNING",
               HPCBRIDGE_STATE_DIR=tempfile.mkdtemp(prefix="bench-jupyter-"))
    return env


def on_node(env: dict[str, str], job_id: str, n: int) -> list[float]:
    out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True).stdout
    runtime = next(w for w in out.split() if w.startswith("StdOut=")).removeprefix("StdOut=").rsplit("/", 1)[0]
    python = f"{env['SLURM_JUPYTER_VENV']}/bin/python"
    remote = shlex.join(["srun", "--jobid", job_id, "--overlap", "--ntasks", "1", python, "-c", ON_NODE,
                         runtime, str(n)])
    ssh = ["ssh", "-p", env["SLURM_SSH_PORT"], "-i", env["SLURM_SSH_KEY_PATH"], "-o", "BatchMode=yes",
           "-o", f"UserKnownHostsFile={env['SLURM_SSH_KNOWN_HOSTS']}",
           f"{env['SLURM_SSH_USER']}@{env['SLURM_SSH_HOST']}", remote]
    return [float(t) for t in json.loads(subprocess.run(ssh, capture_output=True, text=True, check=True).stdout)]


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"{name:<44} median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ms)})"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    env = env_of()
    transport = StdioTransport(command=str(Path(sys.executable).parent / "hpcbridge"), args=["serve"], env=env,
                               keep_alive=False)
    notebook = f"bench-{os.getpid()}"
    async with Client(transport, timeout=300) as mcp:
        starts = []
        for i in range(args.starts):
            began = time.perf_counter()
            await mcp.call_tool("start_kernel_session", {"notebook": notebook, "partition": "gpu",
                                                         "gpus_per_node": 1, "time_limit": "0:20:00"})
            await mcp.call_tool("execute_scratch_code", {"notebook": notebook, "code": "1+1"})
            starts.append(time.perf_counter() - began)
            if i < args.starts - 1:
                await mcp.call_tool("stop_jupyter_server", {})
                await asyncio.sleep(2)
        print("start_kernel_session -> first result of 1+1: " +
              ", ".join(f"{s:.2f} s" for s in starts) + f"   (median {statistics.median(starts):.2f} s)")
        listed = (await mcp.call_tool("list_kernel_sessions", {})).structured_content or {}
        for tool in ("execute_code", "execute_scratch_code"):
            times = []
            for _ in range(args.n):
                began = time.perf_counter()
                await mcp.call_tool(tool, {"notebook": notebook, "code": "1+1"})
                times.append(time.perf_counter() - began)
            print(summary(f"MCP {tool} (SSH forward)", times))
        print(summary("execute_request sent on the node (websocket)", on_node(env, listed["job_id"], args.n)))
        await mcp.call_tool("stop_jupyter_server", {})


if __name__ == "__main__":
    asyncio.run(main())
