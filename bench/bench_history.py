"""The job history at scale, side by side with asking the live cluster (the test cluster must be up for the
live columns; without it they are skipped and say so):

  store size  100,000 recorded jobs (names, scripts, failure causes, transitions) per database
  ingest      a 10,000-task array snapshot: first seen, seen again unchanged, every task changed state
  search      p50/p95 of questions asked of the history: in-process (HistoryReader) and through the
              `search_history` tool of a real `hpcbridge serve` over stdio
  sacct       the same question asked live: `sacct` on an open SSH connection to the test cluster (which
              holds a few hundred jobs; a production slurmdbd holds millions) -- and which questions sacct
              cannot answer at all (words in the batch script, the failure cause).

Usage: python bench/bench_history.py [--jobs 100000] [--n 50] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import asyncssh
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from hpcbridge.history.db import Database, default_url
from hpcbridge.history.queries import Filters, HistoryReader
from hpcbridge.history.store import HistoryWriter
from hpcbridge.models import GpuCount, Job, JobState

TC_DIR = Path(os.environ.get("HPCB_TC_DIR", "/var/lib/hpcbridge-testcluster"))
PROJECTS = ["llama", "mistral", "vit", "whisper", "diffusion", "bert", "rl", "protein", "climate", "graph"]
STAGES = ["pretrain", "finetune", "eval", "sweep", "preprocess", "export"]
SCRIPTS = ["python train.py --config {p}.yaml --lr 3e-4", "torchrun --nproc_per_node 8 finetune.py --model {p}",
           "python evaluate.py --checkpoint best --dataset {p}-val", "bash preprocess.sh /data/{p}",
           "srun python sweep.py --trial $SLURM_ARRAY_TASK_ID"]
STATES = [JobState.COMPLETED] * 14 + [JobState.FAILED] * 3 + [JobState.CANCELLED, JobState.TIMEOUT,
                                                                JobState.OUT_OF_MEMORY]
CAUSES = {JobState.FAILED: ("nonzero_exit", "the program exited with status 1: CUDA error: device-side assert"),
          JobState.TIMEOUT: ("timeout", "the job reached its time limit of 24:00:00"),
          JobState.OUT_OF_MEMORY: ("out_of_memory", "the job used more memory than it asked for (oom-kill)")}
QUESTIONS: dict[str, Filters] = {
    "failed in the last 7 days": Filters.checked(states=["FAILED"], since="now-7days"),
    "name word: finetune": Filters.checked(text="finetune"),
    "script words: evaluate checkpoint": Filters.checked(text="evaluate checkpoint"),
    "cause word + project: oom, llama": Filters.checked(text="memory", project="llama"),
    "user + state: alice TIMEOUT": Filters.checked(states=["TIMEOUT"], user="alice"),
}
SACCT = {"failed in the last 7 days": "sacct -X -n -P -S now-7days -s FAILED -o JobID,JobName,State,ExitCode",
         "name word: finetune": "sacct -X -n -P -S now-90days -o JobID,JobName,State | grep finetune",
         "user + state: alice TIMEOUT": "sacct -X -n -P -S now-90days -u alice -s TIMEOUT -o JobID,JobName,State"}


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


def synthetic_jobs(count: int, rng: random.Random) -> list[tuple[Job, str]]:
    """Jobs over 90 days: names project_stage_N, five users, scripts, the usual mix of ends."""
    now = time.time()
    out = []
    for i in range(count):
        project, stage = rng.choice(PROJECTS), rng.choice(STAGES)
        submit = now - rng.uniform(0, 90 * 86400)
        state = rng.choice(STATES)
        job = Job(job_id=str(100000 + i), name=f"{project}_{stage}_{i % 97}", state=state, native_state=state.value,
                  user=rng.choice(["alice", "bob", "carol", "dan", "erin"]), account=project, partition="gpu",
                  submit_time=_iso(submit), start_time=_iso(submit + rng.uniform(0, 7200)),
                  gpus=(GpuCount("a100", rng.choice([1, 2, 4, 8])),))
        out.append((job, "#!/bin/bash\n" + rng.choice(SCRIPTS).format(p=project) + "\n"))
    return out


def fill(db: Database, count: int) -> dict[str, float]:
    writer, rng = HistoryWriter(db), random.Random(7)
    jobs = synthetic_jobs(count, rng)
    started = time.perf_counter()
    for start in range(0, count, 5000):
        writer.observe("bench", [j for j, _ in jobs[start:start + 5000]])
    observed = time.perf_counter() - started
    started = time.perf_counter()
    for job, script in jobs:
        writer.set_script("bench", job.job_id, script)
        if job.state in CAUSES:
            writer.set_diagnosis("bench", job.job_id, *CAUSES[job.state])
    texts = time.perf_counter() - started
    return {"observe_s": observed, "scripts_and_causes_s": texts}


def store_bytes(db: Database) -> int:
    if db.dialect == "sqlite":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        path = Path(db.engine.url.database or "")
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r'").scalar() or 0)


def array_ingest(db: Database, tasks: int = 10_000) -> dict[str, float]:
    writer = HistoryWriter(db)

    def snapshot(state: JobState) -> list[Job]:
        return [Job(job_id=f"900000_{i}", name="sweep_big", state=state, native_state=state.value, user="alice",
                    partition="gpu", array_job_id="900000", array_task_id=str(i), submit_time=_iso(time.time()))
                for i in range(tasks)]

    out = {}
    for label, state in (("first_s", JobState.PENDING), ("unchanged_s", JobState.PENDING),
                         ("all_changed_s", JobState.RUNNING)):
        jobs = snapshot(state)
        started = time.perf_counter()
        writer.observe("bench", jobs)
        out[label] = time.perf_counter() - started
    return out


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):7.1f} ms  p95 {p95:7.1f} ms"


def timed(n: int, fn: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def through_mcp(state_dir: Path, database_url: str | None, n: int) -> dict[str, list[float]]:
    """The same questions through search_history of a real server (no cluster is contacted to answer)."""
    cfg = state_dir / "bench.toml"
    cfg.write_text('toolsets = ["history"]\n[history]\nenabled = false\n'
                   '[clusters.bench]\ntransport = "local"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(cfg), HPCBRIDGE_STATE_DIR=str(state_dir), HPCBRIDGE_LOG_LEVEL="WARNING")
    if database_url:
        env["HPCBRIDGE_DATABASE_URL"] = database_url
    args = {"failed in the last 7 days": {"state": ["FAILED"], "since": "now-7days"},
            "name word: finetune": {"text": "finetune"},
            "script words: evaluate checkpoint": {"text": "evaluate checkpoint"},
            "cause word + project: oom, llama": {"text": "memory", "project": "llama"},
            "user + state: alice TIMEOUT": {"state": ["TIMEOUT"], "user": "alice"}}
    out: dict[str, list[float]] = {}
    transport = StdioTransport(command=str(Path(sys.executable).parent / "hpcbridge"), args=["serve"], env=env)
    async with Client(transport, timeout=60) as client:
        await client.call_tool("search_history", {"text": "warm up"})
        for label, arguments in args.items():
            out[label] = []
            for _ in range(n):
                started = time.perf_counter()
                await client.call_tool("search_history", arguments)
                out[label].append((time.perf_counter() - started) * 1000)
    return out


async def live_sacct(n: int) -> dict[str, list[float]] | str:
    env_file = TC_DIR / "connection.env"
    if not env_file.exists():
        return f"skipped: the test cluster is not up ({env_file} missing)"
    tc = dict(line.split("=", 1) for line in env_file.read_text().split())
    out: dict[str, list[float]] = {}
    async with asyncssh.connect(tc["SLURM_SSH_HOST"], port=int(tc["SLURM_SSH_PORT"]), username=tc["SLURM_SSH_USER"],
                                client_keys=[tc["SLURM_SSH_KEY_PATH"]],
                                known_hosts=tc["SLURM_SSH_KNOWN_HOSTS"]) as conn:
        for label, command in SACCT.items():
            out[label] = []
            for _ in range(n):
                started = time.perf_counter()
                result = await conn.run(command, check=False)
                out[label].append((time.perf_counter() - started) * 1000)
                if result.exit_status not in (0, 1) or result.stderr:  # grep finding nothing exits 1
                    return f"skipped: `{command}` failed: {str(result.stderr).strip()}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--n", type=int, default=50, help="samples per question")
    parser.add_argument("--database-url", default=None, help="PostgreSQL to measure instead of SQLite "
                                                             "(use an empty database: the bench fills it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpcbridge-bench-history-") as tmp:
        state_dir = Path(tmp)
        db = Database(args.database_url or default_url(state_dir))
        fill_times = fill(db, args.jobs)
        size = store_bytes(db)
        ingest = array_ingest(db)
        reader = HistoryReader(db)
        local = {label: timed(args.n, lambda f=f: reader.search(f, 0, 30)) for label, f in QUESTIONS.items()}
        totals = {label: reader.search(f, 0, 1).total for label, f in QUESTIONS.items()}
        db.close()
        mcp = asyncio.run(through_mcp(state_dir, args.database_url, args.n))
        sacct = asyncio.run(live_sacct(args.n))
    print(f"database: {db.dialect}; {args.jobs:,} jobs (each with a script; causes on the failed)")
    print(f"  fill: observe {fill_times['observe_s']:.1f} s, scripts and causes "
          f"{fill_times['scripts_and_causes_s']:.1f} s")
    print(f"  store size: {size / 1e6:.1f} MB, {size / args.jobs * 100_000 / 1e6:.1f} MB per 100k jobs")
    print(f"  10,000-task array snapshot: first {ingest['first_s'] * 1000:.0f} ms, unchanged "
          f"{ingest['unchanged_s'] * 1000:.0f} ms, every task changed {ingest['all_changed_s'] * 1000:.0f} ms")
    print(f"\n{'question':<36} {'matches':>8}  {'history (in-process)':<30} {'search_history (MCP)':<30} "
          "live sacct (open SSH)")
    for label in QUESTIONS:
        live = (percentiles(sacct[label]) if isinstance(sacct, dict) and label in sacct
                else sacct if isinstance(sacct, str) else "cannot answer (no scripts, no causes)")
        print(f"{label:<36} {totals[label]:>8,}  {percentiles(local[label]):<30} "
              f"{percentiles(mcp[label]):<30} {live}")


if __name__ == "__main__":
    main()
