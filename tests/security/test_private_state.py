"""Issue 23, item 3: hpcbridge's state on this machine is the owner's only. On a login node (`transport =
"local"`) other users share the machine; the state directory holds every recorded batch script, the logbook,
interactive command history and the HTTP token. Replayed live: a real server over the test cluster, state made
through the front doors (a job recorded by the history, a logbook entry, a backup, a TensorPool job config, a
generated HTTP token), then every file and directory under the state directory is stat'ed.

The servers start with umask 022, the usual login-node default: with it, a directory made by a plain mkdir is
0755 and a file 0644, which is what this test must not find."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from ..e2e.conftest import call, server_env, start_http_server, stop_and_read_log
from ..tensorpool_engine import Engine, TpJob
from .conftest import client_with

pytestmark = pytest.mark.cluster
OPEN = stat.S_IRWXG | stat.S_IRWXO
KEY = "tpkey-" + os.urandom(16).hex()
JOB = "j-9f8e"


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """Servers started in this test inherit umask 022 (a mask of 077 would hide the fault)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def engine() -> Iterator[Engine]:
    """The stand-in TensorPool engine (no TensorPool account is reachable here), with one job's files."""
    running = Engine(KEY)
    running.start()
    running.jobs[JOB] = TpJob(JOB, "c-1", {}, files={"out/model.txt": b"weights\n", "log.txt": b"done\n"})
    yield running
    running.stop()


def too_open(root: Path) -> list[str]:
    """Every entry under root (root included) with a group or other permission bit, with its mode."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & OPEN:
            found.append(f"{path.relative_to(root.parent)} {stat.S_IMODE(mode):o}")
    return found


async def _until(what: str, probe: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(2)
    pytest.fail(f"not within {seconds:g}s: {what}")


async def test_state_made_through_every_door_is_owner_only(tc_env: dict[str, str], tmp_path: Path,
                                                            usual_umask: None, engine: Engine) -> None:
    state = tmp_path / "state"  # not made here: the server makes it
    toml = f'[clusters.tp]\nprovider = "tensorpool"\ntensorpool_engine = "{engine.url}"\n'
    tag = os.urandom(3).hex()
    async with client_with(tc_env, toml, tmp_path, HPCBRIDGE_STATE_DIR=str(state), TENSORPOOL_API_KEY=KEY) as mcp:
        job = await call(mcp, "submit_job", script_content=f"echo private {tag}", job_name=f"priv_{tag}",
                         partition="cpu")
        await call(mcp, "wait_for_job", job_id=job["job_id"], until="final", timeout=120)

        async def recorded() -> Any:
            facts = await call(mcp, "get_history_job", job_id=job["job_id"])
            return facts if f"private {tag}" in facts.get("script", "") else None

        await _until("the job and its script in the history", recorded, 120)
        await call(mcp, "create_logbook_entry", project="priv", title="secret plan", body="nobody else reads this")
        backup = await call(mcp, "backup_history")
        await call(mcp, "save_interactive_profile", profile_name="mine", partition="cpu")
        written = await call(mcp, "tensorpool_job_write_config", config_name="train", commands=["python t.py"])
        pulled = await call(mcp, "tensorpool_job_pull", job_id=JOB)
        entries = sorted(p.name for p in state.rglob("*"))
        assert too_open(state) == [], entries
    assert Path(backup["path"]).parent.parent == state and Path(written["path"]).is_relative_to(state)
    assert Path(pulled["directory"]).is_relative_to(state), pulled
    assert {"history.sqlite3", "history.sqlite3-wal", "hpcbridge.sqlite3", "hpcbridge.sqlite3-wal", "backups",
            "configs", "train.tp.toml", "results", JOB, "out", "model.txt", "log.txt"} <= set(entries), entries


async def test_the_generated_http_token_and_state_are_owner_only(tc_env: dict[str, str], tmp_path: Path,
                                                                 usual_umask: None) -> None:
    state = tmp_path / "deeper" / "state"  # every level hpcbridge makes is private, not only the last
    proc, url = start_http_server(server_env(tc_env, HPCBRIDGE_STATE_DIR=str(state)))
    try:
        token = (state / "http-token").read_text().strip()
        async with Client(StreamableHttpTransport(url, auth=token), timeout=60) as mcp:
            await call(mcp, "create_logbook_entry", project="priv", title="over http", body="x")
            assert too_open(tmp_path / "deeper") == []
    finally:
        stop_and_read_log(proc)


async def test_an_old_world_readable_state_directory_is_tightened_at_start(tc_env: dict[str, str],
                                                                           tmp_path: Path,
                                                                           usual_umask: None) -> None:
    """An install from before: the state directory 0755, its databases and a backup 0644."""
    state = tmp_path / "state"
    (state / "backups").mkdir(parents=True)
    for name in ("history.sqlite3", "hpcbridge.sqlite3", "backups/history-20240101-000000.sqlite3"):
        (state / name).write_bytes(b"")
    os.chmod(state, 0o755)
    assert too_open(state)  # the starting point is really open
    log = tmp_path / "server.log"
    async with client_with(tc_env, HPCBRIDGE_STATE_DIR=str(state), log_file=log) as mcp:
        await call(mcp, "get_history_summary")
        assert too_open(state) == []
    said = log.read_text()
    assert f"the state directory {state} was mode 755" in said and "now 0700" in said, said[-2000:]
