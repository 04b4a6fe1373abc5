"""The classifier on its own: every cause, including those the test cluster cannot provoke."""

from __future__ import annotations

import pytest

from hpcbridge.backends.slurm import jsonout as slurm_json
from hpcbridge.diagnosis import DiagnosisInput, diagnose
from hpcbridge.models import JobState

from ..conftest import shared_fixtures

F = JobState.FAILED


@pytest.mark.parametrize(
    ("inp", "cause", "evidence"),
    [
        (DiagnosisInput("1", JobState.OUT_OF_MEMORY, "OUT_OF_MEMORY", max_rss="3900M", req_mem="4000M"),
         "out_of_memory", "OUT_OF_MEMORY"),
        (DiagnosisInput("2", F, "FAILED", stderr_tail="slurmstepd: error: Exceeded job memory limit\n"),
         "out_of_memory", "Exceeded job memory limit"),
        (DiagnosisInput("3", F, stderr_tail="Traceback (most recent call last):\n  File \"t.py\", line 3\n"
                        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"),
         "gpu_out_of_memory", "CUDA out of memory"),
        (DiagnosisInput("4", JobState.TIMEOUT, "TIMEOUT", elapsed="01:00:05", time_limit="01:00:00",
                        stderr_tail="slurmstepd: error: *** JOB 4 ON n1 CANCELLED AT 2026 DUE TO TIME LIMIT ***"),
         "time_limit", "TIME LIMIT"),
        (DiagnosisInput("5", JobState.NODE_FAIL, "NODE_FAIL"), "node_failure", "NODE_FAIL"),
        (DiagnosisInput("6", JobState.PREEMPTED, "PREEMPTED"), "preempted", "PREEMPTED"),
        (DiagnosisInput("7", JobState.CANCELLED, "CANCELLED by 1001 (alice)"), "cancelled", "alice"),
        (DiagnosisInput("8", F, exit_code=0, signal=11), "killed_by_signal", "signal: 11"),
        (DiagnosisInput("9", F, stderr_tail="python: x.c:3: f: Assertion `0' failed.\nAborted (core dumped)\n"),
         "killed_by_signal", "Aborted"),
        (DiagnosisInput("10", F, exit_code=1, stderr_tail="Traceback (most recent call last):\n  File \"train.py\", "
                        "line 9, in <module>\n    raise ValueError('lr must be > 0')\nValueError: lr must be > 0\n"),
         "python_exception", "ValueError: lr must be > 0"),
        (DiagnosisInput("11", F, exit_code=1, stderr_tail="ModuleNotFoundError: No module named 'apex'\n"),
         "missing_dependency", "No module named 'apex'"),
        (DiagnosisInput("12", F, exit_code=127, stderr_tail="/var/spool/slurmd/job12/slurm_script: line 3: "
                        "torchrun: command not found\n"), "missing_dependency", "command not found"),
        (DiagnosisInput("13", F, stderr_tail="RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1269, unhandled "
                        "system error, NCCL version 2.18.1\n"), "nccl_error", "NCCL error"),
        (DiagnosisInput("14", F, stderr_tail="RuntimeError: CUDA error: device-side assert triggered\n"),
         "cuda_error", "device-side assert"),
        (DiagnosisInput("15", F, stderr_tail="OSError: [Errno 122] Disk quota exceeded: '/scratch/ckpt'\n"),
         "disk_quota", "Disk quota exceeded"),
        (DiagnosisInput("16", F, stderr_tail="pyxis: importing docker image ...\npyxis: failed to import docker "
                        "image\n"), "container_image", "pyxis: failed"),
        (DiagnosisInput("17", JobState.PENDING, reason="DependencyNeverSatisfied"), "never_starts", "Dependency"),
        (DiagnosisInput("18", JobState.PENDING, reason="PartitionTimeLimit"), "never_starts", "PartitionTimeLimit"),
        (DiagnosisInput("19", JobState.HELD, reason="JobHeldUser"), "held", "JobHeldUser"),
        (DiagnosisInput("20", JobState.PENDING, reason="Priority", reason_explained="Waiting behind higher-priority "
                        "jobs", estimated_start="2026-11-23T10:00:00"), "pending", "2026-11-23T10:00:00"),
        (DiagnosisInput("21", JobState.COMPLETED, exit_code=0), "completed", "exit code: 0"),
        (DiagnosisInput("22", F, exit_code=3, stderr_tail="something odd\n"), "nonzero_exit", "something odd"),
        (DiagnosisInput("23", JobState.RUNNING, "RUNNING"), "running", "RUNNING"),
        # PBS forms: the scheduler's comment, an operator/system hold, no exit status reported
        (DiagnosisInput("24.pbs", JobState.PENDING, "Q", reason="Can Never Run: Insufficient amount of queue "
                        "resource: ncpus (total 4 < requested 8)"), "never_starts", "Can Never Run"),
        (DiagnosisInput("25.pbs", JobState.PENDING, "Q", reason="Not Running: Insufficient amount of resource: "
                        "ngpus"), "pending", "ngpus"),
        (DiagnosisInput("26.pbs", JobState.HELD, "H", reason="JobHeldAdmin (PBS Hold_Types=s)"), "never_starts",
         "Hold_Types=s"),
        (DiagnosisInput("27", JobState.ENDED, "C", stdout_tail="done\n"), "ended", "done"),
    ],
)
def test_each_cause_with_its_evidence(inp: DiagnosisInput, cause: str, evidence: str) -> None:
    result = diagnose(inp)
    assert result.cause == cause, result
    assert any(evidence in e for e in result.evidence) or evidence in result.summary, result
    assert result.next_step


def test_out_of_memory_from_a_real_sacct_record() -> None:
    text = (shared_fixtures("slurm") / "sacct-24.11.6-v0.0.42-trimmed.json").read_text()
    record = {r.job_id: r for r in slurm_json.parse_sacct(text)}["9652708"]
    inp = DiagnosisInput(record.job_id, record.state, record.native_state, record.exit_code, record.signal,
                         step_states=tuple(s.native_state for s in record.steps))
    assert diagnose(inp).cause == "out_of_memory"
