"""TensorPool through a real MCP client, against the stand-in engine (tests/tensorpool_engine.py; no TensorPool
account is reachable here, and tests/integration/test_tensorpool_cli.py shows the real `tp` CLI accepts the
stand-in). What is verified: the requests, the confirmation and key rules, what hpcbridge refuses that the CLI
would do, and that the key never shows. What is not: TensorPool's own answers and wording."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.exceptions import ToolError

from ..tensorpool_engine import Engine
from .conftest import HTTP_TOKEN, server_env, start_http_server, stop_and_read_log

pytestmark = pytest.mark.cluster
KEY = "tpkey-" + os.urandom(16).hex()
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmlD8SyHbbzrBG/ZB0u5uFVNuw3CAXxRjnNrK6QSlhv me@laptop"


@pytest.fixture
def engine(tc_env: dict[str, str], tmp_path: Path) -> Iterator[Engine]:
    ssh = f"ssh -p {tc_env['SLURM_SSH_PORT']} {tc_env['SLURM_SSH_USER']}@{tc_env['SLURM_SSH_HOST']}"
    running = Engine(KEY, ssh_command=ssh, push_command=f"touch {tmp_path / 'engine-ran-this'}")
    running.start()
    yield running
    running.stop()


async def _all(client: Client, tool: str, **args: Any) -> tuple[dict[str, Any], str]:
    result = await client.call_tool(tool, args)
    return result.structured_content or {}, result.content[0].text


async def test_clusters_and_jobs_on_the_stand_in(engine: Engine, tc_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    results = tmp_path / "results"
    config.write_text(f'[clusters.tp]\nprovider = "tensorpool"\ntensorpool_engine = "{engine.url}"\n'
                      f'command_timeout = 3\ntensorpool_results_dir = "{results}"\n')
    env = server_env(tc_env, HPCBRIDGE_CONFIG=str(config), HPCBRIDGE_STATE_DIR=str(tmp_path / "state"),
                     HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, TENSORPOOL_API_KEY=KEY)
    proc, url = start_http_server(env)
    seen: list[str] = []
    try:
        async with Client(StreamableHttpTransport(url, auth=HTTP_TOKEN), timeout=60) as client:
            async def use(tool: str, **args: Any) -> dict[str, Any]:
                data, text = await _all(client, tool, **args)
                seen.extend([text, str(data)])
                return data

            await _tour(use, client, engine, tc_env, results, tmp_path)
    finally:
        log = stop_and_read_log(proc)
    assert "engine POST /cluster/create -> 202" in log and "engine WS /job/push" in log  # the audit log
    assert all(KEY not in text for text in [*seen, log]) and len(seen) > 30, len(seen)


async def _tour(use: Any, client: Client, engine: Engine, tc_env: dict[str, str], results: Path,
                tmp_path: Path) -> None:
    assert "alice@hpcb.test" in (await use("tensorpool_me"))["message"]
    with pytest.raises(ToolError, match=r"costs money \(1 node\(s\) of 8xH100: 8 H100 GPU\(s\) billed per hour"):
        await use("tensorpool_cluster_create", instance_type="8xH100", ssh_public_key=PUBLIC_KEY)
    for bad in ("-----BEGIN OPENSSH PRIVATE KEY-----", "ssh-ed25519 AAAAnotbase64", PUBLIC_KEY + "\n" + PUBLIC_KEY):
        with pytest.raises(ToolError, match="invalid ssh_public_key"):
            await use("tensorpool_cluster_create", instance_type="1xH100", ssh_public_key=bad, confirm=True)
    assert not engine.clusters  # nothing reached the engine
    created = await use("tensorpool_cluster_create", instance_type="1xH100", ssh_public_key=PUBLIC_KEY,
                        confirm=True, name="demo", wait_seconds=20)
    cid = created["cluster_id"]
    assert created["status"] == "COMPLETED" and engine.clusters[cid].public_keys == [PUBLIC_KEY]
    assert cid in (await use("tensorpool_cluster_list"))["message"]
    assert "RUNNING" in (await use("tensorpool_cluster_info", cluster_id=cid))["message"]

    await use("tensorpool_job_write_config", config_name="train", commands=["python train.py"],
              outputs=["checkpoints/"], instance_type="1xH100")
    pushed = await use("tensorpool_job_push", config_name="train", cluster_id=cid)
    jid = pushed["job_id"]
    assert jid in engine.jobs and "does not do: touch" in pushed["notes"][0]
    assert not (tmp_path / "engine-ran-this").exists()  # the engine's command was refused, not run
    assert jid in (await use("tensorpool_job_list"))["message"]
    listened = await use("tensorpool_job_listen", job_id=jid, seconds=20)
    assert "step 3/3" in listened["message"] and listened["done"]
    assert (await use("tensorpool_job_info", job_id=jid))["status"] == "completed"
    pulled = await use("tensorpool_job_pull", job_id=jid)
    assert pulled["written"] == ["checkpoints/result.txt"]
    assert (results / jid / "checkpoints" / "result.txt").read_text() == f"{jid} checkpoints/\n"
    engine.jobs[jid].files["../../escaped.txt"] = b"x"
    with pytest.raises(ToolError, match="outside the results directory"):
        await use("tensorpool_job_pull", job_id=jid, overwrite=True)
    assert not (results / "escaped.txt").exists() and not (results.parent / "escaped.txt").exists()

    second = await use("tensorpool_job_push", config_name="train", cluster_id=cid)
    with pytest.raises(ToolError, match="confirm=true"):
        await use("tensorpool_job_cancel", job_id=second["job_id"])
    await use("tensorpool_job_cancel", job_id=second["job_id"], confirm=True)
    assert (await use("tensorpool_job_info", job_id=second["job_id"]))["status"] == "canceled"

    instance = engine.clusters[cid].instance_id
    added = await use("tensorpool_add_ssh_cluster", instance_id=instance, cluster_name="tpnode",
                      key_path=tc_env["SLURM_SSH_KEY_PATH"], known_hosts=tc_env["SLURM_SSH_KNOWN_HOSTS"])
    assert added["host"] == tc_env["SLURM_SSH_HOST"] and added["port"] == int(tc_env["SLURM_SSH_PORT"])
    status = await use("get_cluster_status", cluster="tpnode")  # an ordinary cluster now
    assert status["cluster"] == "tpnode" and status["partitions"]

    with pytest.raises(ToolError, match="confirm=true"):
        await use("tensorpool_cluster_destroy", cluster_id=cid)
    destroyed = await use("tensorpool_cluster_destroy", cluster_id=cid, confirm=True)
    assert destroyed["request_id"] and not destroyed["done"]  # a handle, not a wait
    for _ in range(10):
        if (await use("tensorpool_request_status", request_id=destroyed["request_id"]))["done"]:
            break
        await asyncio.sleep(0.5)
    assert not engine.clusters

    engine.mode = "error"
    with pytest.raises(ToolError, match="TensorPool engine error 500 on GET /job/list: Internal server error"):
        await use("tensorpool_job_list")
    engine.mode = "hang"
    started = time.monotonic()
    with pytest.raises(ToolError, match="did not answer GET /cluster/list within 3s; nothing was retried"):
        await use("tensorpool_cluster_list")
    assert time.monotonic() - started < 10
    engine.mode = "ok"


def test_check_reports_the_account(engine: Engine, tc_env: dict[str, str], tmp_path: Path) -> None:
    import subprocess

    from .conftest import hpcbridge_executable

    config = tmp_path / "config.toml"
    config.write_text(f'[clusters.tp]\nprovider = "tensorpool"\ntensorpool_engine = "{engine.url}"\n')
    env = server_env(tc_env, HPCBRIDGE_CONFIG=str(config), TENSORPOOL_KEY=KEY)
    out = subprocess.run([hpcbridge_executable(), "check", "--cluster", "tp"], env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0 and "[ok  ] tp: tensorpool: alice@hpcb.test" in out.stdout, out.stdout + out.stderr
    env["TENSORPOOL_KEY"] = "wrong"
    out = subprocess.run([hpcbridge_executable(), "check", "--cluster", "tp"], env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 1 and "TensorPool refused the API key: Invalid API key" in out.stdout
