"""Issue 25, kind 8: Pyxis without sbatch support (`sbatch_support=0` in plugstack.conf). srun and the steps
know --container-image, sbatch does not: a containerized batch job is refused with that reason, while a
containerized srun step still runs.

The test cluster's Pyxis stand-in honours `sbatch_support=0` as Pyxis does. The server runs with the local
transport and SLURM_CONF pointing at a copy of the cluster's slurm.conf whose PlugStackConfig passes that
argument: the client commands (sbatch --help, srun --help, srun) read it, the daemons keep theirs."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

from .conftest import call, hpcbridge_executable, server_env

pytestmark = pytest.mark.cluster

PLUGIN = Path("/usr/local/lib/hpcbridge-testcluster/pyxis_standin.so")  # built by testcluster/cluster.sh


def slurm_conf_without_sbatch_support(tmp: Path) -> Path:
    lines = [line for line in Path("/etc/slurm/slurm.conf").read_text().splitlines()
             if not line.startswith("PlugStackConfig=")]
    (tmp / "plugstack.conf").write_text(f"optional {PLUGIN} sbatch_support=0\n")
    conf = tmp / "slurm.conf"
    conf.write_text("\n".join([*lines, f"PlugStackConfig={tmp / 'plugstack.conf'}", ""]))
    conf.parent.chmod(0o755)
    return conf


async def test_pyxis_without_sbatch_support(tc_env: dict[str, str], tmp_path: Path) -> None:
    conf = slurm_conf_without_sbatch_support(tmp_path)
    helps = [(await asyncio.to_thread(subprocess.run, [cmd, "--help"], capture_output=True, text=True,
                                      env={"SLURM_CONF": str(conf), "PATH": "/usr/bin:/bin"}, check=False)).stdout
             for cmd in ("sbatch", "srun")]
    assert "--container-image" not in helps[0] and "--container-image" in helps[1]  # the set-up holds
    env = server_env(tc_env, SLURM_TRANSPORT="local", SLURM_CONF=str(conf))
    async with Client(StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env), timeout=120) as mcp:
        with pytest.raises(ToolError, match=r"no sbatch support \(sbatch_support=0") as refused:
            await call(mcp, "submit_job", script_content="echo hi\n", partition="cpu", container_image="default",
                       job_name="pyxis-batch-refused")
        assert "srun --container-image" in str(refused.value)
        out = await call(mcp, "run_interactive_command", partition="cpu", container_image="default",
                         command="echo IMAGE=$PYXIS_CONTAINER_IMAGE", time_limit="0:05:00")
    assert out["exit_status"] == 0 and out["stdout"].strip().endswith("pytorch-24.01.sqsh"), out
    queued = (await asyncio.to_thread(subprocess.run, ["squeue", "--noheader", "--name", "pyxis-batch-refused",
                                                       "--format", "%i"],
                                      capture_output=True, text=True, check=True)).stdout
    assert queued.strip() == ""  # nothing was submitted
