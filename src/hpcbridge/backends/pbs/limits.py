"""PBS server and queue limits (pure): `max_run`, `max_queued`, `max_run_res.<resource>`,
`max_queued_res.<resource>` from `qstat -Q -f` and `qstat -B -f` (JSON or text), which any user may read.

PBS Pro / OpenPBS write a limit as entries `[o:PBS_ALL=10]` (everyone together), `[u:PBS_GENERIC=4]` (each
user), `[u:alice=2]` (one user), `[g:...]` / `[p:...]` (a group, a project), several joined by commas. A job a
max_run limit holds stays queued with the comment "Not Running: User has reached queue gpu running job limit";
PBS has no short reason word, so the limit's own name (`max_run_res.ngpus`) is the word said. Group and
project entries are not read (the user's groups are not known here). The old Torque-style `max_user_run`,
`max_running` are read as `[u:PBS_GENERIC=N]` and `[o:PBS_ALL=N]`.
"""

from __future__ import annotations

import re
from typing import Any

from ..limits import Kind, Limit, Scope
from . import jsonfix
from .parse import _flatten, _records, _text_form

_ENTRY = re.compile(r"\[([ugpo]):([^=\]]+)=(\d+)\]")
_OLD = {"max_user_run": "[u:PBS_GENERIC={}]", "max_running": "[o:PBS_ALL={}]"}
_LINE = re.compile(r"^\s+((?:max_run|max_queued|max_user_run|max_running)\S*) = (.+)$", re.MULTILINE)


def queue_records(text: str) -> dict[str, dict[str, str]]:
    """`qstat -Q -f -F json` or its text form, as queue name -> dotted attributes."""
    if text.lstrip().startswith("{"):
        return {name: _flatten(rec) if isinstance(rec, dict) else rec.fields
                for name, rec in jsonfix.section(text, "Queue").items()}
    return dict(_records(text, "queue")) if _text_form(text, "qstat -Q -f") else {}


def server_record(text: str) -> dict[str, str]:
    """The limit attributes of `qstat -B -f` (JSON or text)."""
    if text.lstrip().startswith("{"):
        servers: dict[str, Any] = jsonfix.section(text, "Server")
        for rec in servers.values():
            return _flatten(rec) if isinstance(rec, dict) else rec.fields
        return {}
    return {m.group(1): m.group(2).strip() for m in _LINE.finditer(text)}


def limits_of(attrs: dict[str, str], user: str, where: str, partition: str = "") -> list[Limit]:
    """The limits among one queue's (partition set) or the server's attributes that bind `user`."""
    out: list[Limit] = []
    for key, raw in attrs.items():
        value = _OLD[key].format(raw) if key in _OLD and raw.strip().isdigit() else raw
        name = "max_run" if key in _OLD else key
        if not name.startswith(("max_run", "max_queued")):
            continue
        resource = name.partition(".")[2] or "jobs"
        running = name.startswith("max_run")
        kind: Kind = ("running_jobs" if running else "queued_jobs") if resource == "jobs" else "shared"
        if not running and resource != "jobs":
            kind = "per_job"  # max_queued_res: the job's own request is judged; queued totals are not counted
        entries = _ENTRY.findall(value)
        # PBS Professional Administrator's Guide, "Overriding Limits": an individual entry [u:NAME=N] overrides the
        # generic [u:PBS_GENERIC=N] for that user, so the generic one does not bind a user who has their own.
        own = any(who == "u" and whom == user for who, whom, _ in entries)
        for who, whom, number in entries:
            if who == "u" and whom == "PBS_GENERIC" and own:
                continue
            if who == "o":
                scope: Scope = "queue" if partition else "server"
            elif who == "u" and whom in ("PBS_GENERIC", user):
                scope = "queue_user" if partition else "server_user"
            else:
                continue
            out.append(Limit(key, where, resource, int(number), kind, scope, key, partition=partition))
    return out


def all_limits(queues_text: str, server_text: str, user: str) -> list[Limit]:
    out = limits_of(server_record(server_text), user, "the server") if server_text else []
    for name, attrs in queue_records(queues_text).items():
        out += limits_of(attrs, user, f"queue {name}", partition=name)
    return out
