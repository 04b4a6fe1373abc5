"""The stand-in TensorPool engine (tests/tensorpool_engine.py) against the real `tp` CLI (PyPI tensorpool,
pinned in the test extras): every request hpcbridge makes is one the CLI makes too, and the stand-in answers
them the way the CLI accepts. No TensorPool account is reachable from here, so this is the check that the
stand-in is faithful to the CLI, not to TensorPool itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..tensorpool_engine import Engine

KEY = "tp-test-" + os.urandom(12).hex()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    marker = tmp_path / "engine-ran-this"
    running = Engine(KEY, ssh_command="ssh -p 2222 alice@127.0.0.1", push_command=f"touch {marker}")
    running.start()
    yield running
    running.stop()


def tp(engine: Engine, cwd: Path, *args: str, key: str = KEY) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("tp", path=str(Path(sys.executable).parent)) or shutil.which("tp")
    if not exe:
        pytest.fail("the tp CLI is not installed (pip install -e '.[test]' installs tensorpool)")
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "TENSORPOOL_ENGINE": engine.url, "TENSORPOOL_KEY": key}
    return subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)


def test_the_cli_accepts_the_stand_in(engine: Engine, tmp_path: Path) -> None:
    assert "alice@hpcb.test" in tp(engine, tmp_path, "me").stdout
    pub = tmp_path / "id.pub"
    pub.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmlD8SyHbbzrBG/ZB0u5uFVNuw3CAXxRjnNrK6QSlhv t@h\n")
    created = tp(engine, tmp_path, "cluster", "create", "-i", str(pub), "1xH100", "--name", "demo", "--wait")
    assert created.returncode == 0, created.stdout + created.stderr
    (cluster,) = engine.clusters.values()
    assert cluster.status == "RUNNING" and cluster.public_keys == [pub.read_text().strip()]
    assert cluster.id in tp(engine, tmp_path, "cluster", "list").stdout
    assert "RUNNING" in tp(engine, tmp_path, "cluster", "info", cluster.id).stdout
    config = tmp_path / "job.tp.toml"
    config.write_text('commands = ["python train.py"]\noutputs = ["checkpoints"]\nseconds = 2\n')
    pushed = tp(engine, tmp_path, "job", "push", str(config), cluster.id)
    assert pushed.returncode == 0 and "pushed" in pushed.stdout, pushed.stdout + pushed.stderr
    # the CLI runs, with a shell, any command the engine sends during a push (helpers._run_streaming_command)
    assert (tmp_path / "engine-ran-this").exists()
    (job,) = engine.jobs.values()
    assert job.id in tp(engine, tmp_path, "job", "list").stdout
    listened = tp(engine, tmp_path, "job", "listen", job.id)
    assert "step 2/2" in listened.stdout and listened.returncode == 0
    assert "completed" in tp(engine, tmp_path, "job", "info", job.id).stdout
    pulled = tp(engine, tmp_path, "job", "pull", job.id)
    assert pulled.returncode == 0 and (tmp_path / "checkpoints" / "result.txt").read_text() == f"{job.id} checkpoints\n"
    job2_config = tmp_path / "long.tp.toml"
    job2_config.write_text('commands = ["sleep 100"]\nseconds = 100\n')
    tp(engine, tmp_path, "job", "push", str(job2_config), cluster.id)
    job2 = next(j for j in engine.jobs.values() if j.id != job.id)
    cancelled = tp(engine, tmp_path, "job", "cancel", job2.id, "--no-input")
    assert cancelled.returncode == 0 and job2.status == "canceled", cancelled.stdout
    destroyed = tp(engine, tmp_path, "cluster", "destroy", cluster.id, "--no-input", "--wait")
    assert destroyed.returncode == 0 and not engine.clusters, destroyed.stdout + destroyed.stderr
    assert all(h.get("authorization") == f"Bearer {KEY}" for m, _, h in engine.seen if m != "WS")


def test_the_stand_in_refuses_a_wrong_key_and_fails_on_demand(engine: Engine, tmp_path: Path) -> None:
    refused = tp(engine, tmp_path, "me", key="wrong")
    assert refused.returncode == 1 and "Invalid API key" in refused.stdout
    engine.mode = "error"
    failed = tp(engine, tmp_path, "cluster", "list")
    assert failed.returncode == 1 and "Internal server error" in failed.stdout
