"""Batch scripts are rendered exactly as the reference files in tests/data/scripts say."""

from __future__ import annotations

import pytest

from hpcbridge.backends.registry import command_env
from hpcbridge.backends.slurm import build as b
from hpcbridge.config import ClusterConfig
from hpcbridge.errors import InvalidParameter

from ..conftest import DATA

SCRIPTS = DATA / "scripts"


def test_full_gpu_training_script() -> None:
    req = b.JobRequest(
        script_content="#!/bin/bash\nset -e\npython train.py --epochs 3\n",
        job_name="llm finetune", partition="gpu", account="research", nodes=2, ntasks=8, cpus_per_task=4,
        memory="16384M", time_limit="1-00:00:00", output_file="logs/%x-%j.out", error_file="logs/%x-%j.err",
        working_directory="/home/alice/project", gpus=4, gpu_type="a100", array="0-3%2",
        dependency="afterok:41", constraint="a100&ib", exclusive=True,
        env={"WANDB_PROJECT": "my project", "QUOTE": "it's $(not) `run`"},
    )
    assert b.render_script(req) == (SCRIPTS / "gpu-training.sh").read_text()


def test_commands_only_get_a_shebang() -> None:
    req = b.JobRequest(script_content="echo hello", partition="cpu", hold=True)
    assert b.render_script(req) == (SCRIPTS / "commands-only.sh").read_text()


def test_directive_refuses_quotes_and_newlines() -> None:
    for bad in ('a"b', "a\nb"):
        with pytest.raises(InvalidParameter):
            b.directive("--job-name", bad)


def test_env_names_are_checked() -> None:
    with pytest.raises(InvalidParameter, match="env"):
        b.render_script(b.JobRequest(script_content="true", env={"A;B": "x"}))


def test_argv_builders_are_plain_lists() -> None:
    assert b.scancel_argv("12", "USR1") == ["scancel", "--verbose", "--signal", "USR1", "12"]
    assert b.sbatch_argv() == ["sbatch", "--parsable", "--ignore-pbs"]
    env = command_env(ClusterConfig(name="c"))
    prefix = env.argv_prefix()
    assert prefix[0] == "env" and "LC_ALL=C" in prefix and "SQUEUE_FORMAT" in prefix
    assert env.apply({"SQUEUE_FORMAT": "%i", "HOME": "/h"}) == {"HOME": "/h", "LC_ALL": "C"}
    with pytest.raises(InvalidParameter, match="start_time"):
        b.sacct_time("start_time", "yesterday; id")
