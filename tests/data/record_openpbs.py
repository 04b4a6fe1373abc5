"""Record the test cluster's real OpenPBS outputs into tests/data/openpbs-<version>/ for the unit tests.

Run with the cluster up (testcluster/openpbs.sh): python tests/data/record_openpbs.py. It submits a small
scene as the test user over the OpenPBS login sshd (a GPU job, a job array, a job waiting on a dependency, a
failing job, a walltime overrun), waits for the two that end, records, deletes the rest and records the history
again. Each file is exactly what the command printed; the commands are hpcbridge's own argv builders.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hpcbridge.backends.pbs import build as b
from hpcbridge.config import ClusterConfig
from hpcbridge.services.cluster import Cluster
from hpcbridge.services.registry import make_transport

ENV = "/var/lib/hpcbridge-testcluster/openpbs.env"


async def qsub(cluster: Cluster, script: str, *options: str) -> str:
    result = await cluster.run(["qsub", *options], stdin=script.encode(), idempotent=False)
    assert result.ok, result.stderr
    return result.stdout.strip()


async def wait_finished(cluster: Cluster, job_ids: list[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        states = (await cluster.run(["qstat", "-x", *job_ids])).stdout
        if all(" F " in line for line in states.splitlines() if line.split()[:1] and line.split()[0] in job_ids):
            return
        await asyncio.sleep(2)
    raise SystemExit(f"jobs {job_ids} did not finish within {seconds}s")


async def main() -> None:
    env = dict(line.split("=", 1) for line in Path(ENV).read_text().split())
    config = ClusterConfig(name="openpbs", scheduler="pbs", host=env["OPENPBS_SSH_HOST"],
                           port=int(env["OPENPBS_SSH_PORT"]), user=env["OPENPBS_SSH_USER"],
                           key_path=env["OPENPBS_SSH_KEY_PATH"], known_hosts=env["OPENPBS_SSH_KNOWN_HOSTS"])
    cluster = Cluster(config, make_transport(config))
    account = env["OPENPBS_ACCOUNT"]
    gpu = await qsub(cluster, "sleep 600\n", "-N", "train-gpu", "-q", "gpu", "-A", account,
                     "-l", "select=1:ncpus=2:ngpus=1:gpu_type=a100", "-l", "walltime=00:20:00")
    array = await qsub(cluster, "sleep 600\n", "-N", "sweep", "-J", "0-3", "-l", "select=1:ncpus=1",
                       "-l", "walltime=00:20:00")
    waiting = await qsub(cluster, "true\n", "-N", "after-train", "-W", f"depend=afterok:{gpu}",
                         "-l", "select=1:ncpus=1")
    failed = await qsub(cluster, "echo failing >&2; exit 3\n", "-N", "fails-3", "-A", account,
                        "-l", "select=1:ncpus=1")
    overrun = await qsub(cluster, "sleep 300\n", "-N", "overrun", "-l", "select=1:ncpus=1",
                         "-l", "walltime=00:00:03")
    await wait_finished(cluster, [failed, overrun])
    version = env["OPENPBS_VERSION"].rsplit(".", 1)[0]
    out = Path(__file__).parent / f"openpbs-{version}"
    out.mkdir(exist_ok=True)
    commands = {
        "qstat-f-t-F-json.json": b.qstat_argv(subjobs=True),
        "qstat-f-x-F-json-failed.json": b.qstat_argv(failed, history=True),
        "qstat-f-x-F-json-overrun.json": b.qstat_argv(overrun, history=True),
        "qstat-Q-f-F-json.json": b.queues_argv(),
        "qstat-B-f-F-json.json": b.server_argv(),
        "pbsnodes-a-F-json.json": b.nodes_argv(),
        "qstat-version.txt": b.version_argv(),
        "qmgr-list-server.txt": b.server_list_argv(),
        "qstat-f-text.txt": b.qstat_argv(json=False),
    }
    for name, argv in commands.items():
        result = await cluster.run(argv)
        (out / name).write_text(result.stdout)
        print(f"{name}: {len(result.stdout)} bytes, exit {result.exit_status}")
    for job_id in (waiting, array, gpu):
        await cluster.run(["qdel", job_id], idempotent=False)
    await wait_finished(cluster, [gpu, waiting])
    result = await cluster.run(b.qstat_argv(history=True))
    (out / "qstat-f-x-F-json.json").write_text(result.stdout)
    print(f"qstat-f-x-F-json.json: {len(result.stdout)} bytes, exit {result.exit_status}")
    print(f"jobs: gpu {gpu}, array {array}, waiting {waiting}, failed {failed}, overrun {overrun}")
    await cluster.close()


if __name__ == "__main__":
    asyncio.run(main())
