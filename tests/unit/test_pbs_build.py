"""qsub scripts and PBS argv are rendered as the reference files say."""

from __future__ import annotations

import pytest

from hpcbridge.backends.pbs import build as p
from hpcbridge.errors import InvalidParameter
from hpcbridge.models import JobRequest

from ..conftest import DATA


def test_pbs_pro_gpu_script() -> None:
    req = JobRequest(script_content="python train.py", job_name="llm finetune", partition="gpu", account="research",
                     nodes=2, ntasks=4, cpus_per_task=4, memory="64G", time_limit="1-00:00:00",
                     output_file="logs/out.txt", working_directory="/home/alice/project", gpus=4,
                     dependency="afterok:41", array="0-3", env={"WANDB_PROJECT": "my project"})
    assert p.render_script(req) == (DATA / "scripts" / "pbs-gpu.sh").read_text()


def test_torque_spelling_and_hold() -> None:
    script = p.render_script(JobRequest(script_content="true", array="1-5", hold=True, cpus_per_task=2), "torque")
    assert "#PBS -t 1-5" in script and "#PBS -l nodes=1:ppn=2" in script and "#PBS -h" in script


def test_argv_and_refusals() -> None:
    assert p.qdel_argv("12.srv", force=True) == ["qdel", "-W", "force", "12.srv"]
    assert p.qalter_argv("7", "90") == ["qalter", "-l", "walltime=01:30:00", "7"]
    assert p.qstat_argv("7", history=True) == ["qstat", "-f", "-x", "-F", "json", "7"]
    with pytest.raises(InvalidParameter):
        p.render_script(JobRequest(script_content="true", job_name='a"b'))


def test_torque_argv_values_are_plain() -> None:
    ok = p.qsub_argv(p.qsub_options(JobRequest(script_content="x", job_name="run-1", output_file="/l/o%j.txt",
                                               dependency="afterok:12"), "torque"), "/tmp/s")
    assert ok[:3] == ["qsub", "-N", "run-1"] and ok[-1] == "/tmp/s"
    for bad in ("a b", "x[1]", "$(id)", "a*"):
        with pytest.raises(InvalidParameter, match="job_name"):
            p.qsub_argv(p.qsub_options(JobRequest(script_content="x", job_name=bad), "torque"))
