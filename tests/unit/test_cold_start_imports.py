"""Cold start: a server with the default toolsets answers tools/list without loading what only other toolsets
need: SQLAlchemy (the history), nbformat and the Jupyter client (jupyter), asyncssh (loaded at the first
command, not at start). Each is a tenth to a third of a second of a newcomer's first wait
(bench/bench_cold_start.py measures the whole start). Nor what fastmcp loads for work the server does itself
at registration: griffe (docstring parsing, see toolkit.take_docstring) and jsonref with requests (schema
dereferencing on every tools/list, see server/schemas.py). Run in a fresh interpreter: this one has them all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import asyncio, json, sys
from fastmcp import Client
from hpcbridge.config import load_settings
from hpcbridge.server.app import create_app

async def main():
    async with Client(create_app(load_settings())) as client:
        names = [t.name for t in await client.list_tools()]
    heavy = ("sqlalchemy", "nbformat", "asyncssh", "hpcbridge.jupyter.kernels", "hpcbridge.history.db", "griffe",
             "jsonref", "requests")
    print(json.dumps({"tools": names, "loaded": [m for m in heavy if m in sys.modules]}))

asyncio.run(main())
"""


def probe(tmp_path: Path, toolsets: str | None) -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_"))}
    env.update(SLURM_SSH_HOST="login.example.org", SLURM_SSH_USER="alice", HPCBRIDGE_CONFIG="",
               HPCBRIDGE_STATE_DIR=str(tmp_path / "state"), HPCBRIDGE_LOG_LEVEL="WARNING")
    if toolsets:
        env["HPCBRIDGE_TOOLSETS"] = toolsets
    out = subprocess.run([sys.executable, "-c", PROBE], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_default_toolsets_list_tools_without_history_jupyter_or_asyncssh(tmp_path: Path) -> None:
    result = probe(tmp_path, None)
    assert "list_jobs" in result["tools"]
    assert result["loaded"] == []


def test_the_probe_sees_them_when_their_toolsets_are_offered(tmp_path: Path) -> None:
    """The same probe with history and jupyter on: it can tell (else the test above could not fail)."""
    result = probe(tmp_path, "cluster,jobs,agent,history,jupyter")
    assert {"sqlalchemy", "nbformat", "hpcbridge.jupyter.kernels"} <= set(result["loaded"])
