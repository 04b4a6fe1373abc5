"""Jupyter servers older than ours (issue 25, kind 7): jupyter-server before 2.20, started with `--port=0`,
writes port 0 in its runtime file (and its log) while it listens elsewhere. The test cluster keeps an
environment with jupyter-server 2.14.2 (testcluster/cluster.sh: jupyter-venv-2.14); a kernel runs through it.
An environment that cannot serve hpcbridge's kernels (jupyter-server 1.x, none at all) stops at once with an
error that names what it found."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from ..conftest import TC_DIR
from .conftest import as_cluster_user, call
from .test_jupyter import jupyter_jobs, run_code

pytestmark = pytest.mark.cluster
RUN = uuid.uuid4().hex[:6]


def old_venv() -> str:
    """cluster.sh writes its path into testcluster.env; a cluster started before it did has it at the default."""
    env_file = TC_DIR / "testcluster.env"
    values = dict(line.split("=", 1) for line in env_file.read_text().split()) if env_file.exists() else {}
    path = values.get("HPCB_TC_JUPYTER_OLD_VENV", str(TC_DIR / "jupyter-venv-2.14"))
    if not (Path(path) / ".complete").exists():
        pytest.fail(f"{path} is missing: 'sudo testcluster/cluster.sh up' builds it")
    return path


async def test_a_kernel_runs_through_jupyter_server_2_14(mcp: Client, tc_env: dict[str, str]) -> None:
    venv = old_venv()
    notebook = f"old-{RUN}"
    session = await call(mcp, "start_kernel_session", notebook=notebook, partition="cpu", time_limit="0:15:00",
                         python_env=venv, start_timeout=120)
    try:
        two, _ = await run_code(mcp, notebook, "1+1")
        assert two["text"].strip() == "2", two
        where, _ = await run_code(mcp, notebook, "import sys, jupyter_server; print(sys.prefix)")
        assert where["text"].split() == [venv], where
        # a version that records port 0 when the OS chooses (the report); here it serves on the port the job chose
        runtime = as_cluster_user(tc_env, 'scontrol show job "$1" | grep -o "StdOut=[^ ]*"', session["job_id"])
        runtime = runtime.strip().removeprefix("StdOut=").rsplit("/", 1)[0]
        info = json.loads(as_cluster_user(tc_env, 'cat "$1"/jpserver-*.json', runtime))
        chosen = int(as_cluster_user(tc_env, 'cat "$1/port"', runtime))
        assert (info["version"], info["port"]) == ("2.14.2", chosen) and chosen > 0, info
    finally:
        await call(mcp, "stop_jupyter_server")
    assert session["job_id"] not in jupyter_jobs()


# A real jupyter-server 1.x wants a 2022 dependency set (nbconvert, older tornado/traitlets) and 30 s more of
# every fresh CI run; what is under test is that the job reads the version the environment imports and refuses
# it before anything waits for a port, so a venv whose `jupyter_server` package says 1.24.0 stands in for it.
ONE_X = 'mkdir -p "$1" && python3 -m venv --without-pip "$1" && sp=$(echo "$1"/lib/python3*/site-packages) && ' \
        'mkdir -p "$sp/jupyter_server" && echo "__version__ = \\"1.24.0\\"" > "$sp/jupyter_server/__init__.py"'
NONE = 'mkdir -p "$1" && python3 -m venv --without-pip "$1"'


@pytest.mark.parametrize(("setup", "named"), [
    (ONE_X, r"jupyter-server 1\.24\.0 .*needs jupyter-server 2"),
    (NONE, r"no jupyter_server in the job environment .*No module named 'jupyter_server'"),
])
async def test_an_environment_without_jupyter_server_2_stops_at_once_naming_what_it_found(
        mcp: Client, tc_env: dict[str, str], setup: str, named: str) -> None:
    venv = f"{tc_env['SLURM_USER_ROOT']}/scratch/venv-{RUN}-{len(setup)}"
    as_cluster_user(tc_env, setup, venv)
    # a start timeout far beyond the test's own: the answer must come from the job, not from waiting it out
    with pytest.raises(ToolError, match=named) as refused:
        await call(mcp, "start_kernel_session", notebook=f"refused-{RUN}", partition="cpu", python_env=venv,
                   start_timeout=3600)
    job_id = str(refused.value).split("job ", 1)[1].split()[0]
    assert job_id.isdigit() and job_id not in jupyter_jobs()
