"""What PBS commands print besides job data (pure): versions, server attributes, qsub's answer, errors,
and the history-time words this backend accepts."""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum

from ...timewords import absolute_time


class Problem(Enum):
    """Why a qdel/qsig/qhold/qrls failed, read from its message (PBS Pro, Torque and their wrappers word it
    differently)."""

    NONE = "none"
    BAD_OPTION = "bad option"
    PRIVILEGE = "privilege"
    FINISHED = "finished"
    UNKNOWN_JOB = "unknown job"


_PRIVILEGE = re.compile(r"Unauthorized Request|Access/permission denied|Permission denied|Invalid user id|"
                        r"not authorized|must be (?:a )?(?:manager|operator)", re.IGNORECASE)
_UNKNOWN_JOB = re.compile(r"Unknown Job Id|Invalid job id|does not exist|Job ID .* not found", re.IGNORECASE)
_FINISHED = re.compile(r"Job has finished|already completed|Request invalid for state of job", re.IGNORECASE)
_BAD_OPTION = re.compile(r"Unknown option: ?(\S+)|invalid option -- '?(\w)'|illegal option", re.IGNORECASE)
_JOB_ID_LINE = re.compile(r"^\s*([0-9]+(?:\[[0-9]*\])?(?:\.[A-Za-z0-9_.-]+)?)\s*$")
_SERVER = re.compile(r'^Server[: ]|"Server"\s*:', re.MULTILINE)  # qstat -B -f text/json, qmgr "Server NAME"


def problem(text: str) -> tuple[Problem, str]:
    """(kind, the words that said so) for a failed job command's output, checked in this order."""
    bad = _BAD_OPTION.search(text)
    if bad or "Usage:" in text:
        return Problem.BAD_OPTION, bad.group(0) if bad else "usage error"
    for kind, pattern in ((Problem.PRIVILEGE, _PRIVILEGE), (Problem.FINISHED, _FINISHED),
                          (Problem.UNKNOWN_JOB, _UNKNOWN_JOB)):
        found = pattern.search(text)
        if found:
            return kind, found.group(0)
    return Problem.NONE, ""


def job_is_gone(text: str) -> bool:
    """qstat's message for a job the server no longer (or never) had."""
    return bool(_UNKNOWN_JOB.search(text) or _FINISHED.search(text))


def parse_version(text: str) -> tuple[str, str]:
    """`qstat --version` -> (flavor, version said to users). PBS Pro prints `pbs_version = 23.06.06`, Torque
    `Version: 6.1.3`; the Torque-style wrappers print neither."""
    pbspro = re.search(r"pbs_version\s*=\s*(\S+)", text)
    if pbspro:
        return "pbspro", f"PBS Pro/OpenPBS {pbspro.group(1)}"
    torque = re.search(r"^Version:\s*(\S+)", text, re.MULTILINE)
    return "torque", f"Torque {torque.group(1)}" if torque else "Torque-style qstat (no --version)"


def is_server_listing(text: str) -> bool:
    """A Torque-style wrapper may take `qstat -B -f`'s `-f` as -B's argument and print jobs instead."""
    return bool(_SERVER.search(text))


def default_queue(text: str) -> str:
    """`default_queue` from `qstat -B -f` (text or -F json), or '' when the server names none."""
    if not is_server_listing(text):
        return ""
    match = re.search(r'"?default_queue"?\s*[=:]\s*"?([\w.-]+)', text)
    return match.group(1) if match else ""


def server_roles(text: str, user: str) -> list[str]:
    """Which of the server's `managers`/`operators` lists (entries `user@host`) name the user."""
    return [role for role in ("managers", "operators")
            if re.search(rf'"?{role}"?\s*[=:]\s*"?[^"\n]*\b{re.escape(user)}@', text)]


def parse_submit(text: str) -> str:
    """qsub prints the new job's id on a line of its own ('1234.server', '1234[].server', Torque: '1234')."""
    lines = [m.group(1) for m in map(_JOB_ID_LINE.match, text.splitlines()) if m]
    return lines[-1] if lines else ""


def since(parameter: str, value: str | None, now: datetime | None = None) -> str | None:
    """sacct's time words as ISO, so qstat's absolute times can be compared with them."""
    return absolute_time(parameter, value, "this PBS cluster's history", now)


# qstat/qsub when pbs_server does not answer: "Connection refused", "cannot connect to server pbs01
# (errno=111)", pbs_iff's "cannot connect to host"; under Debian's Torque-style wrappers the Slurm client
# underneath says "Unable to contact slurm controller" or times out on its socket.
_SERVER_DOWN = re.compile(r"cannot connect to (server|host)|Connection refused|Unable to contact slurm controller|"
                          r"Socket timed out on send/recv|Communications connection failure|pbs_connect", re.IGNORECASE)


def server_down(text: str) -> bool:
    return bool(_SERVER_DOWN.search(text))
