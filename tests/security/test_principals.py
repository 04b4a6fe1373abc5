"""Issue 23, items 7, 8 and 9: principals on one shared HTTP server. They share one cluster account, so their
separation is a guardrail against mistakes, not a boundary; within it, one principal's notebooks, backups and
logbook entries must not be silently read, replaced or overwritten by another. Replayed live: the real server
with two named tokens (ana, bob) over the test cluster, driven by real MCP clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.exceptions import ToolError

from ..e2e.conftest import (
    as_cluster_user,
    call,
    hpcbridge_executable,
    server_env,
    start_http_server,
    stop_and_read_log,
)

pytestmark = pytest.mark.cluster
NAMES = ("ana", "bob")
KEEP = 2


@dataclass
class Shared:
    url: str
    tokens: dict[str, str]
    state: Path
    proc: subprocess.Popen[bytes] | None

    @asynccontextmanager
    async def client(self, name: str) -> AsyncIterator[Client]:
        async with Client(StreamableHttpTransport(self.url, auth=self.tokens[name]), timeout=180) as client:
            yield client


def _tokens(directory: Path, names: tuple[str, ...]) -> tuple[dict[str, str], str]:
    tokens, toml = {}, ""
    for name in names:
        tokens[name] = f"{name}-" + os.urandom(20).hex()
        path = directory / f"{name}.token"
        path.write_text(tokens[name])
        path.chmod(0o600)
        toml += f'[[http.tokens]]\nname = "{name}"\ntoken_file = "{path}"\n'
    return tokens, toml


def _stamp(seconds_ago: float) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() - seconds_ago))


@pytest.fixture
def shared(tc_env: dict[str, str], tmp_path: Path) -> Iterator[Shared]:
    """A server for ana and bob; its log is in `shared.log` once the test is over (see `stopped`)."""
    tokens, toml = _tokens(tmp_path, NAMES)
    (tmp_path / "hpcbridge.toml").write_text(toml + f"[history]\nbackup_keep = {KEEP}\n")
    state = tmp_path / "state"
    (state / "backups").mkdir(parents=True, mode=0o700)
    state.chmod(0o700)
    # backups made before this server: a scheduled one from yesterday, and two of bob's from two and three days ago
    for name in (f"history-{_stamp(26 * 3600)}.sqlite3", f"history-{_stamp(2 * 86400)}-000000-by-bob.sqlite3",
                 f"history-{_stamp(3 * 86400)}-000000-by-bob.sqlite3"):
        (state / "backups" / name).write_bytes(b"")
    proc, url = start_http_server(server_env(tc_env, HPCBRIDGE_CONFIG=str(tmp_path / "hpcbridge.toml"),
                                             HPCBRIDGE_STATE_DIR=str(state)))
    running = Shared(url, tokens, state, proc)
    yield running
    if running.proc is not None:
        stop_and_read_log(running.proc, 30)


def stopped(shared: Shared) -> str:
    """Stop the server; what it wrote to stderr (its log and the audit log)."""
    assert shared.proc is not None
    log = stop_and_read_log(shared.proc, 30)
    shared.proc = None
    return log


def test_a_token_named_local_is_refused_at_config_load(tc_env: dict[str, str], tmp_path: Path) -> None:
    """'local' is stdio's and the CLI's principal: an HTTP client of that name would share the owner's
    sessions, profiles and notebooks."""
    _, toml = _tokens(tmp_path, ("local",))
    (tmp_path / "hpcbridge.toml").write_text(toml)
    result = subprocess.run([hpcbridge_executable(), "serve", "--transport", "http", "--port", "0"],
                            env=server_env(tc_env, HPCBRIDGE_CONFIG=str(tmp_path / "hpcbridge.toml")),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "tokens.0.name" in result.stderr and "'local' is reserved" in result.stderr, result.stderr[-2000:]


async def test_one_principal_cannot_read_or_overwrite_anothers_notebook(shared: Shared,
                                                                        tc_env: dict[str, str]) -> None:
    """The same notebook name opened by ana and by bob is two notebooks, each in its principal's directory."""
    notebook, secret = f"shared-{uuid.uuid4().hex[:6]}", f"ana-secret-{uuid.uuid4().hex[:6]}"
    async with shared.client("ana") as ana, shared.client("bob") as bob:
        try:
            started = await call(ana, "start_kernel_session", notebook=notebook, partition="cpu",
                                 time_limit="0:15:00")
            await call(ana, "execute_code", notebook=notebook, code=f"secret = {secret!r}\nprint(secret)")
            theirs = await call(bob, "start_kernel_session", notebook=notebook, partition="cpu",
                                time_limit="0:15:00")
            assert theirs["cells"] == 0 and "existed" not in theirs["note"], theirs  # not ana's notebook
            seen = await call(bob, "read_notebook", notebook=notebook)
            assert secret not in str(seen)
            await call(bob, "add_notebook_cell", notebook=notebook, source="bob was here", cell_type="markdown")
            await call(bob, "execute_code", notebook=notebook, code="print('bob ran this')")
            assert started["path"] != theirs["path"]
            await asyncio.sleep(1)  # cells are saved behind the reply; shutting down waits for the save
            await call(ana, "shutdown_kernel_session", notebook=notebook)
            await call(bob, "shutdown_kernel_session", notebook=notebook)
            on_disk = as_cluster_user(tc_env, 'cat "$1"', started["path"])
            assert secret in on_disk and "bob was here" not in on_disk and "bob ran this" not in on_disk
            bobs = as_cluster_user(tc_env, 'cat "$1"', theirs["path"])
            assert "bob was here" in bobs and secret not in bobs
        finally:
            for client in (ana, bob):
                with contextlib.suppress(ToolError):  # already stopped (or never started)
                    await call(client, "stop_jupyter_server")


async def test_logbook_entries_record_the_author_and_anothers_edit_is_audited(shared: Shared) -> None:
    async with shared.client("ana") as ana, shared.client("bob") as bob:
        entry = await call(ana, "create_logbook_entry", project="shared", title="ana's plan", body="first draft")
        assert (entry["author"], entry["updated_by"]) == ("ana", "ana")
        edited = await call(bob, "update_logbook_entry", entry_id=entry["id"], body="bob rewrote it")
        assert (edited["author"], edited["updated_by"]) == ("ana", "bob")
        read = await ana.call_tool("read_logbook_entry", {"entry_id": entry["id"]})
        assert "by ana, last changed by bob" in read.content[0].text  # type: ignore[union-attr]
        found = await call(bob, "search_logbook", project="shared")
        assert any(e["id"] == entry["id"] and e["author"] == "ana" for e in found["items"])
        own = await call(ana, "create_logbook_entry", project="shared", title="ana's note", body="x")
        await call(ana, "update_logbook_entry", entry_id=own["id"], body="y")
    log = stopped(shared)
    assert f"principal=bob logbook update #{entry['id']} written by ana" in log, log[-3000:]
    assert f"principal=ana logbook update #{own['id']}\n" in log  # one's own edit: an ordinary audit line
    assert f"principal=ana logbook create #{entry['id']} in shared" in log


async def test_backups_are_per_principal_and_never_overwrite_each_other(shared: Shared) -> None:
    backups = shared.state / "backups"
    before = {p.name for p in backups.iterdir()}
    async with shared.client("ana") as ana, shared.client("bob") as bob:
        anas = (await call(ana, "backup_history"))["path"]
        # three at once: at least two of them in the same second
        at_once = await asyncio.gather(*(call(bob, "backup_history") for _ in range(3)))
        paths = [a["path"] for a in at_once]
        assert len(set(paths)) == 3 and Path(paths[0]).name.endswith("-by-bob.sqlite3"), paths
        for _ in range(4):  # bob again and again: only bob's own recent backups are replaced
            last = (await call(bob, "backup_history"))["path"]
    left = {p.name for p in backups.iterdir()}
    bobs_new = sorted(n for n in left - before if n.endswith("-by-bob.sqlite3"))
    assert Path(anas).name in left and Path(last).name in left
    assert len(bobs_new) == KEEP, bobs_new
    yesterday = [n for n in before if "-by-" not in n]
    two_days = max(n for n in before if n.endswith("-by-bob.sqlite3"))
    three_days = min(n for n in before if n.endswith("-by-bob.sqlite3"))
    assert yesterday[0] in left  # the scheduled one: nobody's calls replace it
    assert two_days in left  # bob's newest older than a day is kept whatever bob does
    assert three_days not in left  # beyond that, bob's old ones are pruned
