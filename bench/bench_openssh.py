"""list_jobs over the openssh transport (riding a ControlMaster on the test cluster's two-factor sshd; with its
long-lived shells, and with shell_workers = 0: a new local ssh per command) vs the asyncssh transport vs a raw
`ssh -S <master> HOST -- squeue`, side by side in one run (cluster up, as root).

The master is opened once, answering the one-time code through SSH_ASKPASS (OpenSSH >= 8.4), as a person
would at `hpcbridge login`. Usage: python bench/bench_openssh.py [--n 30]
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


def env_of(home: Path, **extra: str) -> dict[str, str]:
    tc = dict(line.split("=", 1) for line in (TC_DIR / "connection.env").read_text().split())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    env.update(tc, HPCBRIDGE_CONFIG="", HPCBRIDGE_LOG_LEVEL="WARNING", HOME=str(home),
               HPCBRIDGE_STATE_DIR=str(home / "state"), **extra)
    return env


def open_master(env: dict[str, str], socket: Path) -> None:
    socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    askpass = socket.parent / "askpass"
    askpass.write_text(f"#!/bin/sh\ncat {TC_DIR / 'otp-code'}\n")
    askpass.chmod(0o700)
    argv = ["ssh", "-S", str(socket), "-o", "ControlMaster=yes", "-o", "ControlPersist=10m", "-p", env["SLURM_SSH_PORT"],
            "-i", env["SLURM_SSH_KEY_PATH"], "-o", f"UserKnownHostsFile={env['SLURM_SSH_KNOWN_HOSTS']}",
            "-f", "-N", f"{env['SLURM_SSH_USER']}@{env['SLURM_SSH_HOST']}"]
    ask = {**env, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
    subprocess.run(argv, env=ask, stdin=subprocess.DEVNULL, check=True, timeout=30)


async def mcp_list_jobs(env: dict[str, str], n: int) -> list[float]:
    exe = str(Path(sys.executable).parent / "hpcbridge")
    async with Client(StdioTransport(command=exe, args=["serve"], env=env, keep_alive=False), timeout=60) as client:
        await client.call_tool("list_jobs", {"limit": 20})  # connect / warm up
        times = []
        for _ in range(n):
            started = time.perf_counter()
            await client.call_tool("list_jobs", {"limit": 20, "user": "me"})
            times.append(time.perf_counter() - started)
            await asyncio.sleep(2.1)  # past cache_ttl: each call really asks squeue
        return times


def raw(env: dict[str, str], socket: Path, n: int) -> list[float]:
    argv = ["ssh", "-S", str(socket), "-o", "ControlMaster=no", "-o", "BatchMode=yes", "-p", env["SLURM_SSH_PORT"],
            f"{env['SLURM_SSH_USER']}@{env['SLURM_SSH_HOST']}", "--", "squeue", "--noheader", "--user",
            env["SLURM_SSH_USER"]]
    times = []
    for _ in range(n):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, timeout=30)
        times.append(time.perf_counter() - started)
    return times


def line(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return (f"{name:<48} median {statistics.median(ms):6.1f} ms   p95 {ms[min(len(ms) - 1, int(len(ms) * 0.95))]:6.1f} ms"
            f"   (n={len(ms)})")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    n = parser.parse_args().n
    home = Path(tempfile.mkdtemp(prefix="hpcb-"))
    ports = dict(line.split("=", 1) for line in (TC_DIR / "testcluster.env").read_text().split())
    otp = env_of(home, SLURM_TRANSPORT="openssh", SLURM_SSH_PORT=ports["HPCB_TC_SSH_PORT_OTP"])
    socket = home / ".ssh" / "hpcbridge-default.sock"
    open_master(otp, socket)
    try:
        print(line("list_jobs over MCP, openssh transport (master)", await mcp_list_jobs(otp, n)))
        # the same without the long-lived shells: a new local ssh per command (before issue 29)
        toml = home / "per-command.toml"
        toml.write_text(f'[clusters.default]\ntransport = "openssh"\nhost = "{otp["SLURM_SSH_HOST"]}"\n'
                        f'port = {otp["SLURM_SSH_PORT"]}\nuser = "{otp["SLURM_SSH_USER"]}"\n'
                        f'key_path = "{otp["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{otp["SLURM_SSH_KNOWN_HOSTS"]}"\n'
                        f'control_path = "{socket}"\nshell_workers = 0\n')
        per_command = {k: v for k, v in otp.items() if not k.startswith("SLURM_")}
        per_command["HPCBRIDGE_CONFIG"] = str(toml)
        print(line("list_jobs over MCP, openssh, ssh per command", await mcp_list_jobs(per_command, n)))
        print(line("list_jobs over MCP, asyncssh transport", await mcp_list_jobs(env_of(home), n)))
        print(line("raw `ssh -S <master> HOST -- squeue`", raw(otp, socket, n)))
    finally:
        await asyncio.to_thread(subprocess.run, ["ssh", "-S", str(socket), "-O", "exit", "x"], capture_output=True,
                                check=False)


if __name__ == "__main__":
    asyncio.run(main())
