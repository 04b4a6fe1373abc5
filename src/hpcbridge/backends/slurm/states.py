"""Slurm job and node states, and pending reasons in plain English.

Job state names and codes: squeue(1) "JOB STATE CODES"; reasons: squeue(1) "JOB REASON CODES" and
https://slurm.schedmd.com/job_reason_codes.html. A held job is PENDING with reason JobHeldUser/JobHeldAdmin
in Slurm; we report it as HELD so an agent knows to release it.
"""

from __future__ import annotations

import re

from ...models import JobState

_JOB_STATES: dict[str, JobState] = {
    "PENDING": JobState.PENDING, "PD": JobState.PENDING,
    "RUNNING": JobState.RUNNING, "R": JobState.RUNNING,
    "SUSPENDED": JobState.SUSPENDED, "S": JobState.SUSPENDED,
    "STOPPED": JobState.SUSPENDED, "ST": JobState.SUSPENDED,
    "COMPLETING": JobState.COMPLETING, "CG": JobState.COMPLETING,
    "COMPLETED": JobState.COMPLETED, "CD": JobState.COMPLETED,
    "CONFIGURING": JobState.CONFIGURING, "CF": JobState.CONFIGURING,
    "CANCELLED": JobState.CANCELLED, "CA": JobState.CANCELLED,
    "FAILED": JobState.FAILED, "F": JobState.FAILED,
    "TIMEOUT": JobState.TIMEOUT, "TO": JobState.TIMEOUT,
    "PREEMPTED": JobState.PREEMPTED, "PR": JobState.PREEMPTED,
    "BOOT_FAIL": JobState.BOOT_FAIL, "BF": JobState.BOOT_FAIL,
    "DEADLINE": JobState.DEADLINE, "DL": JobState.DEADLINE,
    "NODE_FAIL": JobState.NODE_FAIL, "NF": JobState.NODE_FAIL,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY, "OOM": JobState.OUT_OF_MEMORY,
    "REQUEUED": JobState.REQUEUED, "RQ": JobState.REQUEUED,
    "REQUEUE_FED": JobState.REQUEUED, "RF": JobState.REQUEUED,
    "REQUEUE_HOLD": JobState.HELD, "RH": JobState.HELD,
    "RESIZING": JobState.RUNNING, "RS": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING, "SI": JobState.RUNNING,
    "STAGE_OUT": JobState.COMPLETING, "SO": JobState.COMPLETING,
    "SPECIAL_EXIT": JobState.FAILED, "SE": JobState.FAILED,
    "REVOKED": JobState.CANCELLED, "RV": JobState.CANCELLED,
}

_HELD_REASONS = {"JobHeldUser", "JobHeldAdmin"}


def job_state(native: str | list[str] | None, reason: str = "") -> JobState:
    """Map Slurm's state (text 'CANCELLED by 1001', code 'PD', or JSON list ['PENDING']) to JobState."""
    if isinstance(native, list):
        native = native[0] if native else ""
    word = (native or "").strip().split(" ")[0].upper().rstrip("+")
    state = _JOB_STATES.get(word, JobState.UNKNOWN)
    if state is JobState.PENDING and reason in _HELD_REASONS:
        return JobState.HELD
    return state


def native_state_text(native: str | list[str] | None) -> str:
    if isinstance(native, list):
        return "+".join(native)
    return (native or "").strip()


PENDING_REASONS: dict[str, str] = {
    "None": "No reason recorded.",
    "Priority": "Waiting behind higher-priority jobs in the same partition.",
    "Resources": "Waiting for resources (nodes, CPUs, memory or GPUs) to become free; it is next in line.",
    "Dependency": "Waiting for the jobs it depends on to finish.",
    "DependencyNeverSatisfied": "Its dependency can never be satisfied (a job it depends on failed or was "
    "cancelled); it will not start. Cancel it, or fix the dependency with scontrol update.",
    "JobHeldUser": "Held by its owner; release it to let it run.",
    "JobHeldAdmin": "Held by an administrator; only an administrator can release it.",
    "BeginTime": "Its requested start time (--begin) has not arrived yet.",
    "ReqNodeNotAvail": "A node it needs is not available (down, drained or reserved).",
    "PartitionTimeLimit": "Its time limit is longer than the partition allows; it will never start. "
    "Lower --time or choose another partition.",
    "PartitionNodeLimit": "It asks for more nodes than the partition allows.",
    "PartitionDown": "The partition is down.",
    "PartitionInactive": "The partition is inactive.",
    "PartitionConfig": "The request does not fit the partition's configuration (e.g. GPUs or memory "
    "the partition's nodes do not have).",
    "InvalidAccount": "The account is not valid for this user or partition.",
    "InvalidQOS": "The QOS is not valid for this user, account or partition.",
    "QOSMaxGRESPerUser": "The QOS caps how many GPUs (GRES) one user may hold; your running jobs are at the cap.",
    "QOSMaxJobsPerUserLimit": "The QOS caps how many jobs one user may run at once.",
    "QOSMaxCpuPerUserLimit": "The QOS caps how many CPUs one user may hold.",
    "QOSMaxWallDurationPerJobLimit": "The time limit is above what the QOS allows per job.",
    "QOSGrpGRES": "The QOS's group GPU (GRES) limit is reached.",
    "QOSGrpCpuLimit": "The QOS's group CPU limit is reached.",
    "QOSGrpNodeLimit": "The QOS's group node limit is reached.",
    "AssocGrpGRES": "Your association (account/user) has reached its GPU (GRES) limit.",
    "AssocGrpCpuLimit": "Your association has reached its CPU limit.",
    "AssocGrpMemLimit": "Your association has reached its memory limit.",
    "AssocGrpNodeLimit": "Your association has reached its node limit.",
    "AssocMaxJobsLimit": "Your association has reached its limit of running jobs.",
    "AssocGrpJobsLimit": "Your association's group has reached its limit of running jobs.",
    "AssocGrpSubmitJobsLimit": "Your association has reached its limit of submitted jobs.",
    "AssocGrpBillingMinutes": "Your association has used up its billing minutes.",
    "AssocGrpCPUMinutesLimit": "Your association has used up its CPU minutes.",
    "AssocGrpGRESMinutes": "Your association has used up its GPU (GRES) minutes.",
    "AssocMaxWallDurationPerJobLimit": "The time limit is above what your association allows per job.",
    "Reservation": "Waiting for its advanced reservation to start.",
    "Licenses": "Waiting for licenses.",
    "NodeDown": "A node it needs is down.",
    "BadConstraints": "Its constraints cannot be satisfied by any node.",
    "Cleaning": "The job is being requeued and is still cleaning up.",
    "FrontEndDown": "No front end node is available.",
    "JobLaunchFailure": "The job could not be launched (often a file system or node problem).",
    "NonZeroExitCode": "The job ended with a non-zero exit code.",
    "TimeLimit": "The job reached its time limit.",
    "OutOfMemory": "The job ran out of memory.",
    "SystemFailure": "A failure of the Slurm system, file system or network.",
    "launch_failed_requeued_held": "Launch failed; the job was requeued and held.",
    "MaxRequeue": "The job reached its maximum number of requeues.",
    "WaitingForScheduling": "Submitted; the scheduler has not evaluated it yet.",
    "Prolog": "Its prolog program is still running.",
    "InactiveLimit": "The job reached the system's inactive limit.",
    "MaxJobsPerUser": "You have reached the limit of running jobs per user.",
}


def explain_reason(reason: str | None) -> str:
    """Plain-English meaning of a Slurm reason code; unknown codes are said to be unknown, not guessed."""
    if not reason:
        return ""
    code = reason.strip()
    if code.startswith("(") and code.endswith(")"):
        code = code[1:-1]
    if code in PENDING_REASONS:
        return PENDING_REASONS[code]
    # e.g. 'ReqNodeNotAvail, UnavailableNodes:gpu1' or 'Dependency,Priority'
    head = re.split(r"[,\s]", code, maxsplit=1)[0]
    if head in PENDING_REASONS:
        return PENDING_REASONS[head]
    if code.startswith(("QOS", "Assoc")):
        return f"A scheduling limit ({code}) is reached; it starts when usage drops below the limit."
    return f"Scheduler reason '{code}' (not in hpcbridge's table; see squeue(1) JOB REASON CODES)."


_NODE_FLAG_SUFFIX = {"*": "NOT_RESPONDING", "~": "POWERED_DOWN", "#": "POWERING_UP", "!": "POWERING_DOWN",
                     "%": "POWERING_DOWN", "$": "MAINTENANCE", "@": "REBOOT_REQUESTED", "^": "REBOOT_ISSUED",
                     "-": "PLANNED"}
_NODE_SHORT = {"idle": "IDLE", "mix": "MIXED", "alloc": "ALLOCATED", "down": "DOWN", "drain": "DRAINED",
               "drng": "DRAINING", "drain*": "DRAINED", "comp": "COMPLETING", "resv": "RESERVED",
               "maint": "MAINTENANCE", "unk": "UNKNOWN", "fail": "FAIL", "failg": "FAILING",
               "futr": "FUTURE", "plnd": "PLANNED", "pow_dn": "POWERED_DOWN", "boot": "BOOTING"}


def node_state(native: str | list[str] | None) -> tuple[str, tuple[str, ...]]:
    """'IDLE+DRAIN', 'DOWN*+DRAIN', 'mix', ['MIXED','PLANNED'] -> ('IDLE', ('DRAIN',)) etc."""
    if isinstance(native, list):
        parts = [str(p) for p in native]
    else:
        parts = (native or "UNKNOWN").split("+")
    flags: list[str] = []
    base_raw = parts[0].strip()
    while base_raw and base_raw[-1] in _NODE_FLAG_SUFFIX:
        flags.append(_NODE_FLAG_SUFFIX[base_raw[-1]])
        base_raw = base_raw[:-1]
    base = _NODE_SHORT.get(base_raw.lower(), base_raw.upper())
    if base in {"DRAINED", "DRAINING"}:
        flags.append("DRAIN")
    flags.extend(p.strip().upper().rstrip("*") for p in parts[1:] if p.strip())
    return base or "UNKNOWN", tuple(dict.fromkeys(flags))


# squeue(1) JOB STATE CODES as list filters (the long names are hpcbridge's own words already)
STATE_WORDS: dict[str, frozenset[JobState]] = {
    "PD": frozenset({JobState.PENDING}), "R": frozenset({JobState.RUNNING}), "CG": frozenset({JobState.COMPLETING}),
    "CD": frozenset({JobState.COMPLETED}), "F": frozenset({JobState.FAILED}), "CA": frozenset({JobState.CANCELLED}),
    "CANCELED": frozenset({JobState.CANCELLED}), "TO": frozenset({JobState.TIMEOUT}),
    "OOM": frozenset({JobState.OUT_OF_MEMORY}), "NF": frozenset({JobState.NODE_FAIL}),
    "PR": frozenset({JobState.PREEMPTED}), "S": frozenset({JobState.SUSPENDED}), "BF": frozenset({JobState.BOOT_FAIL}),
    "DL": frozenset({JobState.DEADLINE}), "RQ": frozenset({JobState.REQUEUED}), "CF": frozenset({JobState.CONFIGURING}),
}
NODE_WORDS: dict[str, tuple[str, ...]] = {}  # Slurm's node states are hpcbridge's node vocabulary
