"""Record the test cluster's real outputs into tests/data/slurm-<version>/ for the unit tests.

Run with the cluster up: python tests/data/record.py (uses the connection settings of the test cluster).
Each file is exactly what the command printed; the commands are hpcbridge's own argv builders.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hpcbridge.backends.slurm import build as b
from hpcbridge.config import load_settings
from hpcbridge.services.registry import Registry

ENV = "/var/lib/hpcbridge-testcluster/connection.env"


async def main() -> None:
    env = dict(line.split("=", 1) for line in Path(ENV).read_text().split())
    registry = Registry(load_settings(env))
    cluster = registry.get()
    version = (await cluster.backend.version()).rsplit(".", 1)[0]
    out = Path(__file__).parent / f"slurm-{version}"
    out.mkdir(exist_ok=True)
    commands = {
        "scontrol-show-node.txt": b.nodes_argv(),
        "scontrol-show-partition.txt": b.partitions_argv(),
        "scontrol-show-job.txt": ["scontrol", "show", "job", "-o", "-d"],
        "squeue-pinned.txt": b.squeue_argv(),
        "sacct-pinned.txt": b.sacct_argv(all_users=True, start_time="now-1days"),
        "squeue.json": ["squeue", "--json"],
        "sinfo.json": ["sinfo", "--json"],
        "sacct.json": ["sacct", "--json", "--allusers", "--starttime", "now-1days"],
        "sinfo-version.txt": b.version_argv(),
    }
    for name, argv in commands.items():
        result = await cluster.run(argv)
        (out / name).write_text(result.stdout)
        print(f"{name}: {len(result.stdout)} bytes, exit {result.exit_status}")
    await registry.close()


if __name__ == "__main__":
    asyncio.run(main())
