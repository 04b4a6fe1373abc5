"""What scheduler commands print besides data: the messages hpcbridge reads to decide what happened.
Strings are as Slurm 22.05 (the test cluster) and the PBS versions in shared/fixtures print them."""

from __future__ import annotations

from datetime import datetime

import pytest

from hpcbridge.backends.pbs import messages as pbs
from hpcbridge.backends.slurm import messages as slurm
from hpcbridge.errors import InvalidParameter


@pytest.mark.parametrize(("text", "kind"), [
    ("scancel: error: Kill job error on job id 99999: Invalid job id specified", slurm.Problem.UNKNOWN_JOB),
    ("slurm_suspend error: Job/step already completing or completed", slurm.Problem.FINISHED),
    ("scancel: error: Kill job error on job id 12: Access/permission denied", slurm.Problem.DENIED),
    ("", slurm.Problem.NONE),
])
def test_slurm_job_command_problems(text: str, kind: slurm.Problem) -> None:
    assert slurm.problem(text) is kind


def test_slurm_controller_down_and_accounting_off() -> None:
    assert slurm.controller_down("squeue: error: Unable to contact slurm controller (connect failure)")
    assert not slurm.controller_down("squeue: error: Invalid user: bob")
    assert slurm.accounting_disabled("sacct: error: Slurm accounting storage is disabled\n"
                                     "You are not running a supported accounting_storage plugin")


def test_slurm_grant_estimate_and_canceller() -> None:
    assert slurm.granted_allocation("salloc: Pending job allocation 41\nsalloc: Granted job allocation 41\n") == "41"
    assert slurm.granted_allocation("salloc: error: Job submit/allocate failed: Invalid partition") == ""
    assert slurm.allocation_gone("srun: error: Unable to confirm allocation for job 41: Invalid job id specified")
    message = "sbatch: Job 3079 to start at 2026-11-22T10:00:05 using 1 processors on nodes n1 in partition cpu"
    assert slurm.test_only_start(message) == "2026-11-22T10:00:05"
    assert slurm.test_only_start("sbatch: error: Batch job submission failed") == ""
    assert slurm.estimated_start("N/A\n") == "" and slurm.estimated_start("1763805605\n") == "1763805605"
    assert slurm.admin_level("Administrator\n") == "Administrator" and slurm.admin_level("") == ""
    assert slurm.cancelled_by_uid("CANCELLED by 1001") == "1001"
    assert slurm.cancelled_by_uid("CANCELLED") == "" and slurm.cancelled_by_uid("FAILED") == ""


@pytest.mark.parametrize(("text", "kind"), [
    ("qdel: Unknown Job Id 1234.pbs", pbs.Problem.UNKNOWN_JOB),
    ("qdel: Unauthorized Request  1234.pbs", pbs.Problem.PRIVILEGE),
    ("qhold: Request invalid for state of job 1234.pbs", pbs.Problem.FINISHED),
    ("qdel: invalid option -- 'W'\nusage: qdel [-p] job_id", pbs.Problem.BAD_OPTION),
    ("qsig: Usage: qsig [-s signal] job_identifier...", pbs.Problem.BAD_OPTION),
    ("", pbs.Problem.NONE),
])
def test_pbs_job_command_problems(text: str, kind: pbs.Problem) -> None:
    assert pbs.problem(text)[0] is kind


def test_pbs_version_tells_the_flavour() -> None:
    assert pbs.parse_version("pbs_version = 23.06.06") == ("pbspro", "PBS Pro/OpenPBS 23.06.06")
    assert pbs.parse_version("Version: 6.1.3\nCommit: abc") == ("torque", "Torque 6.1.3")
    assert pbs.parse_version("qstat: invalid option -- '-'") == ("torque", "Torque-style qstat (no --version)")


def test_pbs_server_attributes_text_and_json() -> None:
    text = ("Server: pbs\n    server_state = Active\n    managers = root@pbs,ops@login1\n"
            "    operators = alice@login1\n    default_queue = workq\n")
    assert pbs.default_queue(text) == "workq"
    assert pbs.server_roles(text, "alice") == ["operators"] and pbs.server_roles(text, "ops") == ["managers"]
    assert pbs.server_roles(text, "bob") == []
    as_json = '{"Server": {"pbs": {"default_queue": "gpuq", "managers": "root@pbs"}}}'
    assert pbs.default_queue(as_json) == "gpuq"
    # a Torque-style wrapper that printed jobs for `qstat -B -f` has no server and no default queue
    assert pbs.default_queue("Job Id:\t12\n\tdefault_queue = x\n") == ""


def test_pbs_submit_answer() -> None:
    assert pbs.parse_submit("1234.pbs-server\n") == "1234.pbs-server"
    assert pbs.parse_submit("56[].pbs\n") == "56[].pbs"
    assert pbs.parse_submit("qsub: warning: x\n77\n") == "77"
    assert pbs.parse_submit("qsub: Unknown queue\n") == ""


def test_pbs_history_words_become_iso() -> None:
    now = datetime(2026, 11, 22, 10, 30, 0)
    assert pbs.since("t", "now-2weeks", now) == "2026-11-08T10:30:00"
    assert pbs.since("t", "today", now) == "2026-11-22T00:00:00"
    assert pbs.since("t", "2026-01-02", now) == "2026-01-02"
    assert pbs.since("t", None, now) is None
    with pytest.raises(InvalidParameter, match="t"):
        pbs.since("t", "yesterday", now)
