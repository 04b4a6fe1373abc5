"""What Slurm commands print besides job data (pure): controller and job-command errors, salloc's grant,
sbatch --test-only's estimate, sacctmgr's admin level, accounting's 'CANCELLED by <uid>'."""

from __future__ import annotations

import re
from enum import Enum

# squeue/sbatch/scontrol when slurmctld is stopped: "Unable to contact slurm controller (connect failure)"
_CONTROLLER_DOWN = re.compile(r"Unable to contact slurm controller|Slurm backup controller in standby mode|"
                              r"Socket timed out on send/recv operation|Connection refused.*slurmctld", re.IGNORECASE)


class Problem(Enum):
    """Why scancel / scontrol hold|release failed, read from its message."""

    NONE = "none"
    UNKNOWN_JOB = "unknown job"
    FINISHED = "finished"
    DENIED = "denied"


def controller_down(text: str) -> bool:
    return bool(_CONTROLLER_DOWN.search(text))


def problem(text: str) -> Problem:
    if re.search(r"Invalid job id|does not exist|Job ID .* not found", text, re.IGNORECASE):
        return Problem.UNKNOWN_JOB
    if re.search(r"already completed|Job/step already completing or completed", text, re.IGNORECASE):
        return Problem.FINISHED
    if "Access/permission denied" in text or "Permission denied" in text:
        return Problem.DENIED
    return Problem.NONE


def accounting_disabled(text: str) -> bool:
    """sacct's answer on a cluster with AccountingStorageType=accounting_storage/none."""
    return "accounting_storage/none" in text or "not running a supported accounting" in text


def granted_allocation(text: str) -> str:
    """salloc(1) prints 'salloc: Granted job allocation 1234' on stderr once the allocation starts."""
    m = re.search(r"Granted job allocation ([0-9]+)", text)
    return m.group(1) if m else ""


def allocation_gone(stderr: str) -> bool:
    """srun --jobid into an allocation that ended (time limit, scancel, node failure)."""
    return bool(re.search(r"Invalid job id|has expired|Job/step already completing", stderr))


def test_only_start(message: str) -> str:
    """sbatch --test-only: 'sbatch: Job 7 to start at 2024-05-01T10:00:00 using 4 processors on nodes ...'
    (the cluster's local time)."""
    m = re.search(r"to start at (\S+)", message)
    return m.group(1) if m else ""


def estimated_start(text: str) -> str:
    """First line of `squeue --start -h -o %S` or ''; N/A and Unknown mean no estimate."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return "" if first in ("N/A", "Unknown") else first


def admin_level(text: str) -> str:
    """`sacctmgr -n -P show user <u> format=AdminLevel`: None, Operator, Administrator, or '' for no record."""
    return text.strip().splitlines()[0] if text.strip() else ""


def cancelled_by_uid(native_state: str) -> str:
    """sacct's 'CANCELLED by 1001' names a uid; '' for every other state."""
    m = re.match(r"^CANCELLED by ([0-9]+)$", native_state.strip())
    return m.group(1) if m else ""
