"""Issue 23, item 5: hpcbridge's own secrets never reach a job, a one-shot command or a Jupyter kernel.

On a login node (`transport = "local"`) hpcbridge runs sbatch/srun itself, and Slurm's default `--export=ALL`
hands their environment to the job. The attack: a job (code hpcbridge did not write) prints `env`. Replayed
live: the real `hpcbridge serve` over stdio, its environment holding every secret it reads (marker values),
the test cluster's Slurm commands run on this machine as its ordinary user, and each output read back
through the real tools.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from ..conftest import postgres_schema
from ..e2e.conftest import call, server_env, wait_final

pytestmark = pytest.mark.cluster

USER = "alice"  # the test cluster's ordinary user (testcluster/cluster.sh)
MARK = uuid.uuid4().hex[:10]
# every variable carrying a secret that hpcbridge reads (config.ServerEnv, SlurmEnv, tensorpool/checks.py)
SECRETS = {
    "HPCBRIDGE_HTTP_TOKEN": f"http-token-{MARK}-" + "x" * 32,
    "TENSORPOOL_KEY": f"tp-key-{MARK}",
    "TENSORPOOL_API_KEY": f"tp-api-key-{MARK}",
    "SLURM_SSH_PASSWORD": f"ssh-password-{MARK}",
}


@pytest.fixture
def database_url() -> Iterator[str]:
    """A real database (the server opens it at start), so its URL is a live secret: the schema is the marker."""
    with postgres_schema() as url:
        yield url


def as_any_user() -> list[str]:
    """The installed hpcbridge, runnable by the cluster user. This machine's venv interpreter lives under
    /root (0700), so the system's Python of the same minor version runs the venv's packages: -S keeps the
    system's own site-packages out, addsitedir reads the venv's .pth files (the editable install)."""
    site_packages = next(Path(sys.executable).parent.parent.glob("lib/python3.*/site-packages"))
    python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not Path(python).exists():
        pytest.fail(f"{python} is missing: the cluster user needs a Python of the venv's version")
    boot = (f"import site, sys; site.addsitedir({str(site_packages)!r}); from hpcbridge.cli import main; "
            "sys.argv[0] = 'hpcbridge'; sys.exit(main())")
    return [python, "-S", "-c", boot]


@pytest.fixture
def state() -> Iterator[Path]:
    """hpcbridge's state directory, owned by the cluster user the server runs as."""
    path = Path(tempfile.mkdtemp(prefix="hpcbridge-secret-env-"))
    shutil.chown(path, USER, USER)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@asynccontextmanager
async def local_server(tc_env: dict[str, str], state: Path, database_url: str,
                       **extra: str) -> AsyncIterator[Client]:
    """`hpcbridge serve` as the cluster user on this machine, which is the test cluster's login node: the
    documented `transport = "local"` deployment (as root, sbatch writes into the server's directory and
    jupyter_server refuses to start). runuser keeps the environment it is given."""
    home = tc_env["SLURM_DIR_HOME"]
    env = server_env(tc_env, SLURM_TRANSPORT="local", HPCBRIDGE_STATE_DIR=str(state), HOME=home, USER=USER,
                     LOGNAME=USER, HPCBRIDGE_DATABASE_URL=database_url, **SECRETS, **extra)
    transport = StdioTransport(command="runuser", args=["-u", USER, "--", *as_any_user(), "serve"],
                               env=env, cwd=home, keep_alive=False)
    async with Client(transport, timeout=180) as client:
        yield client


def leaked(text: str, database_url: str, *more: str) -> list[str]:
    """The secret names and values found in text."""
    values = [*SECRETS.values(), database_url, database_url.rsplit("%3D", 1)[-1], *more]
    names = [f"{name}=" for name in (*SECRETS, "HPCBRIDGE_DATABASE_URL")]
    return [s for s in (*names, *values) if s in text]


async def test_a_batch_job_sees_none_of_hpcbridges_secrets(tc_env: dict[str, str], state: Path,
                                                            database_url: str) -> None:
    async with local_server(tc_env, state, database_url) as client:
        job = await call(client, "submit_job", script_content="env; echo ENV-DONE", partition="cpu",
                         time_limit="5", job_name=f"secret-env-{MARK}")
        final = await wait_final(client, job["job_id"])
        assert final["job"]["state"] == "COMPLETED"
        out = (await call(client, "read_job_output", job_id=job["job_id"]))["content"]
    assert "ENV-DONE" in out and "SLURM_JOB_ID=" in out  # the job ran and printed its environment
    assert leaked(out, database_url) == []


async def test_a_one_shot_srun_command_sees_none_of_hpcbridges_secrets(tc_env: dict[str, str], state: Path,
                                                                        database_url: str) -> None:
    async with local_server(tc_env, state, database_url) as client:
        out = await call(client, "run_interactive_command", command="env", partition="cpu", time_limit="0:05:00")
    assert out["exit_status"] == 0 and "SLURM_JOB_ID=" in out["stdout"]
    assert leaked(out["stdout"], database_url) == []


async def test_a_login_jupyter_token_does_not_take_over_the_server_and_kernels_see_no_secret(
        tc_env: dict[str, str], state: Path, database_url: str) -> None:
    """A JUPYTER_TOKEN in the login environment would win over the token file (jupyter_server reads it first):
    hpcbridge could not talk to its own server, and every kernel would carry it."""
    inherited = {"JUPYTER_TOKEN": f"login-jupyter-{MARK}", "JUPYTERHUB_API_TOKEN": f"hub-{MARK}",
                 "JPY_API_TOKEN": f"jpy-{MARK}"}
    async with local_server(tc_env, state, database_url, **inherited) as client:
        await call(client, "start_kernel_session", notebook=f"secret-env-{MARK}", partition="cpu",
                   time_limit="0:10:00", python_env=tc_env["SLURM_JUPYTER_VENV"])
        result = await client.call_tool("execute_code", {
            "notebook": f"secret-env-{MARK}",
            "code": "import os\nprint('\\n'.join(f'{k}={v}' for k, v in os.environ.items()))\nprint('KERNEL-ENV')"})
        text = (result.structured_content or {}).get("text", "")
    assert "KERNEL-ENV" in text
    assert leaked(text, database_url, *inherited.values()) == []
    assert not [name for name in inherited if f"{name}=" in text]

