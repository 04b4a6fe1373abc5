"""Reading a 10,000-task array's squeue output, without a cluster: the rows are generated here in the exact
pinned format squeue_argv asks for (a held array as bench_big_queue.py submits, plus a few running jobs).

  parse    parse_squeue on the text (every row built)
  first    a Slurm backend's SqueueReader on its first output (the same work, remembered)
  again    the reader on the next poll's identical output (rows unchanged: none built)

The end-to-end goals are bench_big_queue.py's, against the real cluster; this one isolates the parser.
Usage: python bench/bench_parse_squeue.py [--n 15] [--tasks 10000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from hpcbridge.backends.slurm.records import RS, SEP
from hpcbridge.backends.slurm.text import SQUEUE_KEYS, parse_squeue, squeue_reader


def row(job_id: str, task: str, **fields: str) -> str:
    values = {
        "job_id": f"{job_id}_{task}" if task != "N/A" else job_id, "array_job_id": job_id, "array_task_id": task,
        "state": "PENDING", "partition": "cpu", "user": "alice", "account": "research", "qos": "normal",
        "num_nodes": "1", "num_cpus": "1", "time_used": "0:00", "time_limit": "5:00", "node_list": "",
        "gres": "N/A", "tres_per_job": "N/A", "tres_alloc": "cpu=1,mem=500M,node=1,billing=1",
        "submit_time": "2026-01-10T10:55:03", "start_time": "N/A", "priority": "1", "dependency": "(null)",
        "reason": "JobHeldUser", "name": "h29c-bench-bigq", **fields,
    }
    return SEP.join(values[k] for k in SQUEUE_KEYS) + RS + "\n"


def output(tasks: int) -> str:
    running = (row(str(500 + i), "N/A", state="RUNNING", reason="None", node_list=f"c{i}", time_used="1:00",
                   start_time="2026-01-10T10:00:00") for i in range(5))
    return "".join(running) + "".join(row("4242", str(i)) for i in range(tasks))


def timed(fn: object, *args: object) -> float:
    started = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=15)
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    text = output(args.tasks)
    samples: dict[str, list[float]] = {"parse": [], "first": [], "again": []}
    for _ in range(args.n):
        reader = squeue_reader()
        samples["parse"].append(timed(parse_squeue, text))
        samples["first"].append(timed(reader.read, text))
        samples["again"].append(timed(reader.read, text))
    print(f"{len(text) / 1e6:.2f} MB, {args.tasks + 5} rows")
    for kind, values in samples.items():
        print(f"{kind:6s} median {statistics.median(values) * 1000:7.1f} ms  (n={len(values)})")


if __name__ == "__main__":
    main()
