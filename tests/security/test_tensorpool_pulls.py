"""Issue 23, item 13: what a hostile TensorPool engine answer can make a pull (or a push) do. Replayed through a
real MCP client (stdio) against the stand-in engine (tests/tensorpool_engine.py: no TensorPool account is
reachable here) in its hostile modes: redirects to another host, download URLs on internal addresses, more
files or bytes than the caps, file names that climb or vanish, and ids that are not ids. Each is refused with
a message naming what and why, and nothing is left in (or outside) the results directory."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from ..tensorpool_engine import Engine, TpCluster, TpJob
from .conftest import client_with

pytestmark = pytest.mark.cluster
KEY = "tpkey-" + os.urandom(16).hex()
JOB = "j-1a2b"
CAPS = {"tensorpool_pull_max_files": 50, "tensorpool_pull_max_file_bytes": 100_000,
        "tensorpool_pull_max_bytes": 150_000}


@pytest.fixture
def engine() -> Iterator[Engine]:
    running = Engine(KEY)
    running.start()
    running.jobs[JOB] = TpJob(JOB, "c-1", {}, files={"ok.txt": b"fine\n", "big.bin": b"x" * 200_000})
    running.clusters["c-1"] = TpCluster("c-1", "1xH100", 1, "c-1", [], status="RUNNING")
    yield running
    running.stop()


@asynccontextmanager
async def account(tc_env: dict[str, str], tmp_path: Path, engine: Engine) -> AsyncIterator[Client]:
    caps = "".join(f"{k} = {v}\n" for k, v in CAPS.items())
    toml = (f'[clusters.tp]\nprovider = "tensorpool"\ntensorpool_engine = "{engine.url}"\ncommand_timeout = 5\n'
            f'tensorpool_results_dir = "{tmp_path / "results"}"\n{caps}')
    async with client_with(tc_env, toml, tmp_path, TENSORPOOL_API_KEY=KEY,
                           HPCBRIDGE_STATE_DIR=str(tmp_path / "state")) as client:
        yield client


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if not p.is_dir()) if path.exists() else []


async def refused(client: Client, engine: Engine, tmp_path: Path, download_map: dict[str, Any],
                  expected: str) -> None:
    """A pull of this map is refused with `expected` in the message, and the results directory holds no file
    (nor a staging directory) afterwards."""
    engine.pull_answer = {"download_map": download_map, "message": "files to pull"}
    with pytest.raises(ToolError, match=expected):
        await client.call_tool("tensorpool_job_pull", {"job_id": JOB, "overwrite": True})
    results = tmp_path / "results"
    assert files_under(results) == [], download_map
    assert not [p for p in results.glob(".pulling-*")] if results.exists() else True


async def test_engine_urls_may_not_reach_internal_addresses_nor_redirect_away(
        engine: Engine, tc_env: dict[str, str], tmp_path: Path) -> None:
    port = engine.url.rsplit(":", 1)[1]
    same_host_file = f"{engine.url}/files/{JOB}/ok.txt"
    async with account(tc_env, tmp_path, engine) as client:
        cases = {
            "https://169.254.169.254/latest/meta-data/": r"169\.254\.169\.254, a link-local address",
            f"http://127.0.0.2:{port}/files/{JOB}/ok.txt": r"127\.0\.0\.2, a loopback address",
            f"https://[::1]:{port}/files/{JOB}/ok.txt": r"::1, a loopback address",
            "https://10.20.30.40/bucket/ok.txt": r"10\.20\.30\.40, a private address",
            "https://[::ffff:169.254.169.254]/latest/": r"a link-local address",
            # a name, not an address: resolved, every address checked, and refused before connecting
            f"https://localhost:{port}/files/{JOB}/ok.txt": r"localhost, which resolves to .*, a loopback address",
            "http://example.com/ok.txt": r"plain http on another host \(example\.com\)",
            "ftp://example.com/ok.txt": r"not an http\(s\) URL",
        }
        for url, message in cases.items():
            await refused(client, engine, tmp_path, {"ok.txt": same_host_file, "second.txt": url}, message)

        engine.redirect_to = f"http://localhost:{port}/files/{JOB}/ok.txt"  # same machine, another origin
        await refused(client, engine, tmp_path, {"ok.txt": same_host_file, "moved.txt": f"{engine.url}/redirect"},
                      r"redirected to another host \(localhost\).*same scheme, host and port")
        engine.redirect_to = "http://169.254.169.254/latest/meta-data/"
        await refused(client, engine, tmp_path, {"moved.txt": f"{engine.url}/redirect"},
                      r"redirected to another host \(169\.254\.169\.254\)")
        engine.redirect_to = "/redirect"
        await refused(client, engine, tmp_path, {"loop.txt": f"{engine.url}/redirect"},
                      r"redirected more than 3 times")

        engine.redirect_to = f"/files/{JOB}/ok.txt"  # a redirect on the engine's own origin is followed
        engine.pull_answer = {"download_map": {"moved.txt": f"{engine.url}/redirect", "ok.txt": same_host_file}}
        pulled = (await client.call_tool("tensorpool_job_pull", {"job_id": JOB})).structured_content or {}
    assert pulled["written"] == ["moved.txt", "ok.txt"]
    assert (tmp_path / "results" / JOB / "moved.txt").read_bytes() == b"fine\n"


async def test_caps_on_count_and_bytes_stop_the_pull_and_leave_nothing(
        engine: Engine, tc_env: dict[str, str], tmp_path: Path) -> None:
    ok = f"{engine.url}/files/{JOB}/ok.txt"
    async with account(tc_env, tmp_path, engine) as client:
        many = {f"out/f{i}.txt": ok for i in range(10_000)}
        await refused(client, engine, tmp_path, many,
                      r"listed 10,000 files to pull, more than tensorpool_pull_max_files = 50: nothing was pulled")
        # announced with a Content-Length, and streamed without one (stopped at the cap)
        for big in (f"{engine.url}/files/{JOB}/big.bin", f"{engine.url}/stream/10000000"):
            await refused(client, engine, tmp_path, {"ok.txt": ok, "big.bin": big},
                          r"'big\.bin' is larger than tensorpool_pull_max_file_bytes = 97\.6562 KiB "
                          r"\(100,000 bytes\): stopped, nothing was pulled")
        halves = {"a.bin": f"{engine.url}/stream/90000", "b.bin": f"{engine.url}/stream/90000"}
        await refused(client, engine, tmp_path, halves, r"add up to more than tensorpool_pull_max_bytes = "
                                                        r".*\(reached at 'b\.bin'\): stopped, nothing was pulled")

        engine.pull_answer = {"download_map": {"a.bin": f"{engine.url}/stream/90000", "ok.txt": ok}}
        pulled = (await client.call_tool("tensorpool_job_pull", {"job_id": JOB})).structured_content or {}
    assert pulled["written"] == ["a.bin", "ok.txt"]
    assert (tmp_path / "results" / JOB / "a.bin").stat().st_size == 90_000


async def test_file_names_that_climb_vanish_or_are_absolute_are_refused(
        engine: Engine, tc_env: dict[str, str], tmp_path: Path) -> None:
    ok = f"{engine.url}/files/{JOB}/ok.txt"
    async with account(tc_env, tmp_path, engine) as client:
        cases = {
            ".": r"'\.', '\.\.' and empty parts are not file names",
            "a/..": r"'a/\.\.'.*'\.', '\.\.' and empty parts",
            "a/./b": r"'\.', '\.\.' and empty parts",
            "../x": r"'\.\./x'.*'\.', '\.\.' and empty parts",
            "../../escaped.txt": r"'\.', '\.\.' and empty parts",
            "a//b": r"empty parts",
            "a/": r"empty parts",
            "/etc/x": r"'/etc/x'.*an absolute path",
            "~/x": r"an absolute path",
            "a\\..\\..\\x": r"a backslash, NUL or control character",
            "a\x00b": r"a backslash, NUL or control character",
            "a\nb": r"a backslash, NUL or control character",
            "": r"empty or not text",
        }
        for name, message in cases.items():
            await refused(client, engine, tmp_path, {"ok.txt": ok, name: ok}, message)
        await refused(client, engine, tmp_path, {"ckpt": ok, "ckpt/model.pt": ok},
                      r"'ckpt' both as a file and as a directory")
        await refused(client, engine, tmp_path, ["ok.txt"], r"download_map is not a map")  # type: ignore[arg-type]
    assert files_under(tmp_path.parent / "x") == [] and not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "x").exists() and not (tmp_path / "results" / "x").exists()


async def test_engine_ids_are_checked_before_use(engine: Engine, tc_env: dict[str, str], tmp_path: Path) -> None:
    async with account(tc_env, tmp_path, engine) as client:
        await client.call_tool("tensorpool_job_write_config", {"config_name": "train", "commands": ["python t.py"]})
        for bad in ("../../x", "a;b", "j-1 --rm", "-rf"):
            engine.next_id = bad
            with pytest.raises(ToolError, match=r"the engine answered a job id that is not an id: .*it was not "
                                                r"used\. The push may have started a job"):
                await client.call_tool("tensorpool_job_push", {"config_name": "train", "cluster_id": "c-1"})
            with pytest.raises(ToolError, match=r"the engine answered a cluster id that is not an id"):
                await client.call_tool("tensorpool_cluster_create", {
                    "instance_type": "1xH100", "confirm": True,
                    "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmlD8SyHbbzrBG/ZB0u5uFVNuw3CAXxRjnNrK6QSlhv "
                                      "me@laptop"})
            with pytest.raises(ToolError, match="invalid job_id"):  # and ids from the agent, as before
                await client.call_tool("tensorpool_job_pull", {"job_id": bad})
        engine.next_id = "j-good"
        pushed = (await client.call_tool("tensorpool_job_push", {"config_name": "train", "cluster_id": "c-1"}))
    assert (pushed.structured_content or {})["job_id"] == "j-good"
    assert files_under(tmp_path / "results") == [] and not (tmp_path.parent / "x").exists()
