"""The script's own directive block, read as sbatch 22.05 and qsub read it (behaviour verified live on the test
cluster: unique prefixes, column-0 only, later wins, #PBS obeyed by sbatch without --ignore-pbs)."""

from __future__ import annotations

import pytest

from hpcbridge.backends import merge
from hpcbridge.backends.pbs.directives import pbs_values
from hpcbridge.backends.pbs.directives import read_pbs as _read_pbs
from hpcbridge.backends.registry import foreign_directives
from hpcbridge.backends.slurm.build import render_script, sbatch_argv
from hpcbridge.backends.slurm.directives import read_sbatch as _read_sbatch
from hpcbridge.backends.slurm.directives import slurm_values
from hpcbridge.errors import InvalidParameter
from hpcbridge.models import JobRequest


def read_sbatch(script: str):  # type: ignore[no-untyped-def]
    """As the cluster reads it: another registered scheduler's directives refused."""
    return _read_sbatch(script, foreign_directives("slurm"))


def read_pbs_(script: str):  # type: ignore[no-untyped-def]
    return _read_pbs(script, foreign_directives("pbs"))


ATTACK = "#SBATCH --partition=gpu\n#SBATCH --gres=gpu:a100:4\n#SBATCH --time=20:00:00\nsleep 30"


def values(script: str) -> dict[str, object]:
    return {k: v for k, (v, _) in slurm_values(read_sbatch(script)).items()}


def test_the_review_attack_is_read_as_gpu_partition_four_gpus_twenty_hours() -> None:
    assert values(ATTACK) == {"partition": "gpu", "gpus": 4, "gpu_type": "a100", "time_limit": "20:00:00"}


@pytest.mark.parametrize(("script", "expected"), [
    ("#!/bin/bash\n#SBATCH --part=gpu\nx", {"partition": "gpu"}),  # getopt prefixes
    ("#!/bin/bash\n#SBATCH -pgpu -t 5\nx", {"partition": "gpu", "time_limit": "5"}),
    ("#!/bin/bash\n#SBATCH   --partition gpu # note\nx", {"partition": "gpu"}),
    ("#!/bin/bash\n#SBATCH --partition=\"gpu\"\nx", {"partition": "gpu"}),
    ("#!/bin/bash\n#SBATCH -p cpu\n#SBATCH -p gpu\nx", {"partition": "gpu"}),  # later wins
    ("#!/bin/bash\n# c\n\n#SBATCH -G a100:2\nx", {"gpus_total": 2, "gpu_type": "a100"}),
    ("#!/bin/bash\n#SBATCH --gpus-per-node=3 -N 2\nx", {"gpus": 3, "nodes": 2}),
    ("#!/bin/bash\n#SBATCH --gres=gpu\nx", {"gpus": 1}),
    ("#!/bin/bash\n#SBATCH -HA acct\nx", {"hold": True, "account": "acct"}),
    ("#!/bin/bash\n  #SBATCH -p gpu\nx", {}),  # not in column 0: a comment to sbatch
    ("#!/bin/bash\nexport A=1\n#SBATCH -p gpu\nx", {}),  # after the first command: ignored by sbatch
])
def test_directives_are_read_as_sbatch_reads_them(script: str, expected: dict[str, object]) -> None:
    assert values(script) == expected


@pytest.mark.parametrize(("script", "words"), [
    ("#!/bin/bash\n#SBATCH -M other\nx", "another cluster"),
    ("#!/bin/bash\n#SBATCH --cluster=other\nx", "several sbatch options"),
    ("#!/bin/bash\n#SBATCH --ti=3\nx", "several sbatch options"),
    ("#!/bin/bash\n#SBATCH --gpus-per-socket=2\nx", "cannot count"),
    ("#!/bin/bash\n#SBATCH --tres-per-task=gres/gpu:4\nx", "cannot count"),
    ("#!/bin/bash\n#SBATCH --gres=gpu:2,mps:100\nx", "GRES hpcbridge cannot check"),
    ("#!/bin/bash\n#SBATCH --wait\nx", "wait for the job"),
    ("#!/bin/bash\n#SBATCH hetjob\nx", "not an option"),
    ("#!/bin/bash\n#PBS -q gpu\nx", "#PBS directive"),
    ("#!/bin/bash\n#BSUB -q gpu\nx", "#BSUB directive"),
    ("#!/bin/bash\n#SBATCH -p gpu,cpu\nx", "several partitions"),
])
def test_directives_that_escape_the_checks_are_refused_naming_the_line(script: str, words: str) -> None:
    with pytest.raises(InvalidParameter, match=words) as err:
        values(script)
    assert "line 2" in str(err.value)


def test_a_conflict_with_a_parameter_names_both() -> None:
    with pytest.raises(InvalidParameter, match="partition='cpu' conflicts with the script's line 1"):
        merge.merge({"partition": "cpu"}, slurm_values(read_sbatch(ATTACK)))
    same = merge.merge({"partition": "gpu", "time_limit": "1200"},
                       slurm_values(read_sbatch(ATTACK)))
    assert same["time_limit"] == "20:00:00"  # 1200 minutes is the same limit


def test_kept_directives_stay_before_exports() -> None:
    found = read_sbatch("#!/bin/sh\n#SBATCH --mail-type=END -p gpu\nrun")
    script = render_script(JobRequest(found.script, partition="gpu", env={"A": "1"}))
    assert script.splitlines() == ["#!/bin/sh", "#SBATCH --partition=gpu", "#SBATCH --mail-type=END",
                                   "export A=1", "run"]


def test_sbatch_ignores_pbs_lines() -> None:
    assert "--ignore-pbs" in sbatch_argv()


def test_pbs_block() -> None:
    found = read_pbs_("#!/bin/bash\n#PBS -q gpu -l select=2:ncpus=4:ngpus=4:mem=8gb,walltime=20:00:00\n"
                                "#PBS -m abe\n#PBS -W depend=afterok:12\necho")
    got = {k: v for k, (v, _) in pbs_values(found).items()}
    assert got == {"partition": "gpu", "nodes": 2, "cpus_per_task": 4, "gpus": 4, "memory": "8gb",
                   "time_limit": "20:00:00", "dependency": "afterok:12"}
    assert found.script == "#!/bin/bash\n#PBS -m abe\necho"
    with pytest.raises(InvalidParameter, match="interactive"):
        read_pbs_("#!/bin/bash\n#PBS -I\necho")
    with pytest.raises(InvalidParameter, match="#SBATCH directive"):
        read_pbs_("#!/bin/bash\n#SBATCH -p gpu\necho")
