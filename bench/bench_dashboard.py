"""The dashboard against the test cluster (run as root, cluster up), side by side in one run:

  rpcs     slurmctld's RPCs per minute (sdiag, every message type) with the dashboard server running and
           no page open, then with one board page open (its server-sent events stream)
  board    the board page's load time and size with 10,000 jobs in the queue (a held 10,000-task array),
           next to a raw `squeue` for the same user on an open SSH connection

Usage: python bench/bench_dashboard.py [--seconds 60] [--n 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import asyncssh

TC_DIR = Path(os.environ.get("HPCB_TC_DIR", "/var/lib/hpcbridge-testcluster"))
TOKEN = secrets.token_urlsafe(32)


def rpcs() -> int:
    out = subprocess.run(["sdiag"], capture_output=True, text=True, check=True).stdout
    by_type = out.split("Remote Procedure Call statistics by message type", 1)[-1].split("by user", 1)[0]
    return sum(int(n) for n in re.findall(r"count:(\d+)", by_type))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(tc: dict[str, str], state: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    env.update(tc, HPCBRIDGE_HTTP_TOKEN=TOKEN, HPCBRIDGE_STATE_DIR=state, HPCBRIDGE_CONFIG="",
               HPCBRIDGE_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "hpcbridge"), "dashboard", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the dashboard did not start")


def login(base: str) -> str:
    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object) -> None:
            return None

    try:
        urllib.request.build_opener(Keep).open(urllib.request.Request(
            base + "/login", data=f"token={TOKEN}".encode()), timeout=10)
    except urllib.error.HTTPError as exc:
        return str(exc.headers["set-cookie"]).split(";")[0]
    raise SystemExit("login did not redirect")


def get(base: str, path: str, cookie: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    request = urllib.request.Request(base + path, headers={"Cookie": cookie, "Accept": "text/html"})
    with urllib.request.urlopen(request, timeout=300) as response:
        body = response.read()
    return (time.perf_counter() - started) * 1000, len(body), body.decode()


def rpcs_per_minute(seconds: float) -> float:
    before = rpcs()
    time.sleep(seconds)
    return (rpcs() - before) * 60 / seconds


def open_board(base: str, cookie: str, stop: threading.Event) -> None:
    request = urllib.request.Request(base + "/events/board", headers={"Cookie": cookie,
                                                                      "Accept": "text/event-stream"})
    with urllib.request.urlopen(request, timeout=600) as response:
        while not stop.is_set():
            if not response.readline():
                break


def as_alice(command: str) -> str:
    return subprocess.run(["su", "-", "alice", "-c", command], capture_output=True, text=True, check=True,
                          timeout=300).stdout.strip()


async def raw_squeue(tc: dict[str, str], n: int) -> list[float]:
    async with asyncssh.connect(tc["SLURM_SSH_HOST"], port=int(tc["SLURM_SSH_PORT"]), username=tc["SLURM_SSH_USER"],
                                client_keys=[tc["SLURM_SSH_KEY_PATH"]],
                                known_hosts=tc["SLURM_SSH_KNOWN_HOSTS"]) as conn:
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            await conn.run("squeue -r -u alice", check=True)
            samples.append((time.perf_counter() - started) * 1000)
        return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--n", type=int, default=10)
    args = parser.parse_args()
    tc = dict(line.split("=", 1) for line in (TC_DIR / "connection.env").read_text().split())
    with tempfile.TemporaryDirectory(prefix="hpcbridge-bench-dashboard-") as state:
        proc, base = start(tc, state)
        try:
            cookie = login(base)
            time.sleep(5)  # start-up work (orphan reaping) is not the steady state
            idle = rpcs_per_minute(args.seconds)
            stop = threading.Event()
            reader = threading.Thread(target=open_board, args=(base, cookie, stop), daemon=True)
            reader.start()
            time.sleep(3)
            watched = rpcs_per_minute(args.seconds)
            stop.set()
            array = as_alice("sbatch --parsable --hold -p cpu --array=0-9999 -J bench_board --wrap 'sleep 1'")
            try:
                time.sleep(3)
                first = get(base, "/", cookie)
                page = [get(base, "/", cookie) for _ in range(args.n)]
                raw = asyncio.run(raw_squeue(tc, args.n))
            finally:
                as_alice(f"scancel {array}")
        finally:
            proc.terminate()
            proc.wait(20)
    print(f"slurmctld RPCs per minute: no page open {idle:.1f}, one board page open {watched:.1f}")
    queued = re.search(r"(\d+) in queue", page[-1][2])
    print(f"board with {queued.group(1) if queued else '?'} queued jobs: first load {first[0]:.0f} ms, then p50 "
          f"{statistics.median(t for t, _, _ in page):.0f} ms, {page[-1][1] / 1024:.0f} KB; "
          f"raw `squeue -r -u alice` p50 {statistics.median(raw):.0f} ms")


if __name__ == "__main__":
    main()
