"""Why a job failed or waits: a pure classifier over accounting facts and the tails of its output.

Rules run in order; the first that matches names the cause, quotes its evidence (the exact lines) and
says what to do next. Scheduler-neutral: Slurm and PBS services fill the same DiagnosisInput.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .models import JobState


@dataclass(frozen=True)
class DiagnosisInput:
    job_id: str
    state: JobState
    native_state: str = ""
    exit_code: int | None = None
    signal: int | None = None
    reason: str = ""
    reason_explained: str = ""
    step_states: tuple[str, ...] = ()  # e.g. ("OUT_OF_MEMORY", "COMPLETED")
    step_signals: tuple[int, ...] = ()
    req_mem: str = ""
    max_rss: str = ""
    elapsed: str = ""
    time_limit: str = ""
    estimated_start: str = ""
    standing: str = ""  # a pending job's priority, rank and biggest factor (services/standing.priority_words)
    limit: str = ""  # the limit a pending job's reason names, with its numbers (services/limits.holding)
    stdout_tail: str = ""
    stderr_tail: str = ""
    output_note: str = ""  # why output could not be read, if it could not
    progress: str = ""  # a running job: how far its output says it is (watch/progress.py)
    stalled: str = ""  # a running job: its output stopped growing ("no output for 14 min")


@dataclass(frozen=True)
class Diagnosis:
    job_id: str
    state: str
    cause: str  # a stable keyword an agent can branch on
    summary: str
    evidence: list[str] = field(default_factory=list)
    next_step: str = ""


_SIGNALS = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}
NEVER_STARTS = {
    "DependencyNeverSatisfied": "its dependency can never be satisfied",
    "PartitionTimeLimit": "its time limit is above the partition's maximum",
    "PartitionNodeLimit": "it asks for more nodes than the partition allows",
    "BadConstraints": "no node has the features it asks for",
    "InvalidAccount": "its account is invalid",
    "InvalidQOS": "its QOS is invalid",
    "PartitionConfig": "the partition's nodes cannot satisfy it",
    "QOSMaxWallDurationPerJobLimit": "its time limit is above the QOS maximum",
    "AssocMaxWallDurationPerJobLimit": "its time limit is above the association's maximum",
    "JobHeldAdmin": "an administrator holds it",
}


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _find(inp: DiagnosisInput, pattern: str, flags: int = re.IGNORECASE) -> list[str]:
    rx = re.compile(pattern, flags)
    return [line for line in _lines(inp.stderr_tail) + _lines(inp.stdout_tail) if rx.search(line)][:5]


def _python_exception(inp: DiagnosisInput) -> tuple[str, list[str]] | None:
    for text in (inp.stderr_tail, inp.stdout_tail):
        lines = _lines(text)
        for i, line in enumerate(lines):
            if line.startswith("Traceback (most recent call last)"):
                tail = lines[i:]
                exc = next((x for x in reversed(tail) if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)"
                                                                   r"\b|^[A-Za-z_][\w.]*: ", x)), tail[-1])
                frame = next((x.strip() for x in reversed(tail) if x.strip().startswith("File ")), "")
                return exc, [x for x in (frame, exc) if x]
    return None


Rule = Callable[[DiagnosisInput], Diagnosis | None]


def _d(inp: DiagnosisInput, cause: str, summary: str, evidence: list[str], next_step: str) -> Diagnosis:
    return Diagnosis(inp.job_id, inp.state.value, cause, summary, evidence, next_step)


def _pending(inp: DiagnosisInput) -> Diagnosis | None:
    if inp.state not in (JobState.PENDING, JobState.HELD):
        return None
    code = re.split(r"[,\s(]", inp.reason.strip("()"), maxsplit=1)[0]
    if code in NEVER_STARTS:
        step = ("cancel it and resubmit without the failed dependency" if code == "DependencyNeverSatisfied"
                else "cancel it and resubmit with a request the partition accepts (get_partition_info)")
        if code == "JobHeldAdmin":
            step = "ask the cluster administrators; only they can release it"
        limit = f" ({inp.limit})" if inp.limit else ""
        return _d(inp, "never_starts", f"job {inp.job_id} will never start: {NEVER_STARTS[code]}{limit}",
                  [f"reason: {inp.reason}"] + ([f"limit: {inp.limit}"] if inp.limit else []), step)
    if inp.reason.startswith("Can Never Run"):  # PBS Pro's scheduler comment for impossible requests
        return _d(inp, "never_starts", f"job {inp.job_id} will never start: {inp.reason}", [f"reason: {inp.reason}"],
                  "cancel it and resubmit with a request the queue accepts (get_partition_info)")
    if inp.state is JobState.HELD:
        return _d(inp, "held", f"job {inp.job_id} is held by its owner", [f"reason: {inp.reason}"],
                  "release_job to let it run")
    when = f"; the scheduler expects it to start at {inp.estimated_start}" if inp.estimated_start else ""
    standing = f" ({inp.standing})" if inp.standing else ""
    limit = f"; {inp.limit}" if inp.limit else ""
    return _d(inp, "pending", f"job {inp.job_id} is waiting: {inp.reason_explained or inp.reason}{limit}{standing}"
              f"{when}", [f"reason: {inp.reason}"] + ([f"limit: {inp.limit}"] if inp.limit else [])
              + ([f"standing: {inp.standing}"] if inp.standing else [])
              + ([f"estimated start: {inp.estimated_start}"] if inp.estimated_start else []),
              "wait_for_job, or recommend_submission to find a partition where it could start sooner")


def _scheduler_states(inp: DiagnosisInput) -> Diagnosis | None:
    states = {inp.state.value, *inp.step_states}
    if "OUT_OF_MEMORY" in states or _find(inp, r"oom[-_ ]kill|Exceeded (job|step) memory limit|"
                                             r"out of memory.*kill|Killed process .* \(.*\) total-vm"):
        ev = _find(inp, r"oom|memory limit|Killed") or [f"state: {inp.native_state}"]
        used = f" (peak {inp.max_rss} of {inp.req_mem} requested)" if inp.max_rss and inp.req_mem else ""
        return _d(inp, "out_of_memory", f"job {inp.job_id} ran out of host memory{used}", ev,
                  "resubmit with more memory (memory='…G') or reduce batch size / data held in RAM")
    if inp.state is JobState.TIMEOUT or _find(inp, r"DUE TO TIME LIMIT"):
        return _d(inp, "time_limit", f"job {inp.job_id} hit its time limit ({inp.time_limit or '?'}) after "
                  f"{inp.elapsed or '?'}", _find(inp, r"TIME LIMIT") or [f"state: {inp.native_state}"],
                  "resubmit with a longer time_limit (within the partition maximum) or checkpoint and resume")
    if inp.state is JobState.NODE_FAIL:
        return _d(inp, "node_failure", f"a node of job {inp.job_id} failed", [f"state: {inp.native_state}"],
                  "resubmit (Slurm may requeue it); if it repeats on the same node, exclude that node")
    if inp.state is JobState.PREEMPTED or _find(inp, r"DUE TO PREEMPTION"):
        return _d(inp, "preempted", f"job {inp.job_id} was preempted by higher-priority work",
                  _find(inp, r"PREEMPT") or [f"state: {inp.native_state}"],
                  "resubmit to a non-preemptible partition/QOS, or make the job resumable from checkpoints")
    if inp.state is JobState.BOOT_FAIL:
        return _d(inp, "node_failure", f"job {inp.job_id}'s node failed to boot", [f"state: {inp.native_state}"],
                  "resubmit; report the node if it repeats")
    return None


def _cancelled(inp: DiagnosisInput) -> Diagnosis | None:
    if inp.state is not JobState.CANCELLED:
        return None
    m = re.search(r"CANCELLED by (\S+(?: \(\S+\))?)", inp.native_state)
    who = m.group(1) if m else "someone"
    return _d(inp, "cancelled", f"job {inp.job_id} was cancelled by {who}",
              [f"state: {inp.native_state}"] + _find(inp, r"CANCELLED"),
              "nothing failed; resubmit if the cancellation was not intended")


_OUTPUT_RULES: list[tuple[str, str, str, str]] = [
    ("gpu_out_of_memory",
     (r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|"
      r"cudaErrorMemoryAllocation|RESOURCE_EXHAUSTED: Out of memory|out of memory on device"),
     "ran out of GPU memory",
     ("reduce the batch size, enable gradient checkpointing or mixed precision, or "
      "use more/larger GPUs (get_gpu_info)")),
    ("nccl_error",
     (r"\bNCCL (error|WARN)|ncclInternalError|ncclSystemError|ncclUnhandledCudaError|"
      r"NCCL communicator|Watchdog caught collective operation timeout"),
     "failed in NCCL (multi-GPU communication)",
     ("rerun with NCCL_DEBUG=INFO; check that all ranks start, "
      "network interfaces (NCCL_SOCKET_IFNAME) and that GPUs are visible to every task")),
    ("cuda_error",
     (r"CUDA error|CUDA_ERROR_|cudaError|device-side assert|no CUDA-capable device|"
      r"CUDA driver version is insufficient"),
     "failed with a CUDA error",
     ("check the CUDA/driver versions of the image or modules, and "
      "CUDA_VISIBLE_DEVICES; a device-side assert usually means bad indices (rerun with CUDA_LAUNCH_BLOCKING=1)")),
    ("disk_quota", r"Disk quota exceeded|No space left on device|EDQUOT|ENOSPC",
     "ran out of disk space or quota",
     ("free space (find_files with min_size/min_age, delete_file) or write "
      "to scratch; get_disk_usage shows usage and quota")),
    ("container_image",
     (r"pyxis:|enroot|\[ERROR\].*(image|squashfs)|Failed to (import|create) container|"
      r"container image.*not found|invalid image"),
     "could not start its container image",
     "validate_container_image, and check the image path and permissions"),
]


def _from_output(inp: DiagnosisInput) -> Diagnosis | None:
    for cause, pattern, what, step in _OUTPUT_RULES:
        evidence = _find(inp, pattern)
        if evidence:
            return _d(inp, cause, f"job {inp.job_id} {what}", evidence, step)
    return None


def _missing(inp: DiagnosisInput) -> Diagnosis | None:
    evidence = _find(inp, r"ModuleNotFoundError|No module named|ImportError|command not found|"
                          r"No such file or directory|cannot open shared object file|module: command not found")
    if not evidence:
        return None
    m = re.search(r"No module named '([^']+)'", " ".join(evidence))
    thing = f"the Python module '{m.group(1)}'" if m else "a module, program or file"
    return _d(inp, "missing_dependency", f"job {inp.job_id} could not find {thing}", evidence,
              "install it in the job's environment or image (or load the module), or fix the path; "
              "check the working directory the job ran in")


def _signal(inp: DiagnosisInput) -> Diagnosis | None:
    signals = [s for s in (inp.signal, *inp.step_signals) if s]
    evidence = _find(inp, r"Segmentation fault|core dumped|Aborted|Bus error|Floating point exception|"
                          r"Illegal instruction")
    if not signals and not evidence:
        return None
    sig = signals[0] if signals else 0
    name = _SIGNALS.get(sig, f"signal {sig}") if sig else "a signal"
    kinds = {11: "a segmentation fault (invalid memory access)", 6: "an abort (failed assertion or "
             "library error)", 7: "a bus error", 9: "SIGKILL (often the memory limit or an administrator)"}
    what = kinds.get(sig, name)
    if not sig and evidence:
        what = evidence[0]
    return _d(inp, "killed_by_signal", f"job {inp.job_id} was killed by {what}",
              (evidence or []) + ([f"signal: {sig} ({name})"] if sig else []),
              "run it under a debugger or with core dumps (ulimit -c unlimited); check library/ABI versions "
              "and array bounds" if sig in (11, 6, 7) or not sig else "check memory use and who sent it")


def _traceback(inp: DiagnosisInput) -> Diagnosis | None:
    found = _python_exception(inp)
    if not found:
        return None
    exc, evidence = found
    return _d(inp, "python_exception", f"job {inp.job_id} raised {exc}", evidence,
              "fix the code at the frame shown (read_job_output with stream='stderr' shows the whole traceback)")


def _exit_code(inp: DiagnosisInput) -> Diagnosis | None:
    if inp.state is JobState.COMPLETED:
        return _d(inp, "completed", f"job {inp.job_id} completed successfully", [f"exit code: {inp.exit_code}"],
                  "nothing to fix")
    if inp.state is JobState.ENDED:
        tail = _lines(inp.stderr_tail)[-3:] or _lines(inp.stdout_tail)[-3:]
        return _d(inp, "ended", f"job {inp.job_id} finished; the scheduler did not report its exit status",
                  [f"state: {inp.native_state}", *tail] + ([inp.output_note] if inp.output_note else []),
                  "read its output (read_job_output) to see whether it succeeded")
    if inp.state.final:
        tail = _lines(inp.stderr_tail)[-3:] or _lines(inp.stdout_tail)[-3:]
        return _d(inp, "nonzero_exit", f"job {inp.job_id} exited with code {inp.exit_code}",
                  [f"exit code: {inp.exit_code}", *tail] + ([inp.output_note] if inp.output_note else []),
                  "read the end of its output (read_job_output tail_lines=100) and fix the failing command")
    if inp.stalled:
        return _d(inp, "log_stalled", f"job {inp.job_id} is {inp.state.value.lower()} but its output stopped: "
                  f"{inp.stalled}", [f"state: {inp.native_state}", inp.stalled] + _lines(inp.stdout_tail)[-2:],
                  "check whether it hangs (get_job_stats for GPU use; a deadlock or a stuck data loader), "
                  "cancel_job if it does")
    progress = f" at {inp.progress}" if inp.progress else ""
    return _d(inp, "running", f"job {inp.job_id} is {inp.state.value.lower()}{progress}",
              [f"state: {inp.native_state}"] + ([f"progress: {inp.progress}"] if inp.progress else []),
              "wait_for_job to follow it")


RULES: list[Rule] = [_pending, _cancelled, _scheduler_states, _from_output, _missing, _traceback, _signal,
                     _exit_code]


def diagnose(inp: DiagnosisInput) -> Diagnosis:
    for rule in RULES:
        found = rule(inp)
        if found is not None and inp.state is JobState.RUNNING and found.cause not in ("running", "log_stalled"):
            # trouble in the output of a job the scheduler still runs (a traceback in one rank, a hang after it)
            return Diagnosis(found.job_id, found.state, found.cause, found.summary + " (the job is still RUNNING)",
                             found.evidence, found.next_step + "; cancel_job it if it cannot recover")
        if found is not None:
            return found
    raise AssertionError("the last rule always answers")
