"""PBS Pro / OpenPBS / Torque output parsers (pure), for the PBS backend (issue 5).

Forms handled (shared/fixtures/FORMATS.md): `qstat -f -F json` (jobs, `-x` history), `qstat -Q -f -F json`,
`pbsnodes -a -F json`; the plain `qstat -f` text (4-space `key = value`, long values wrapped onto TAB
continuation lines, sometimes mid-token) and the Torque-style form of Debian's slurm-wlm-torque wrappers
(`Job Id:\\t<n>` with TAB-indented pairs, short ids); default `qstat`/`qstat -x` listings; `pbsnodes -a`
text. Known JSON bugs are tolerated: invalid `\\` escapes and unquoted numeric-looking values.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from ..models import GpuCount, Job, JobDetails, JobRecord, JobState, Node, Partition
from .slurm_text import time_minutes

# qstat(1B) job states. F/X/C need Exit_status to tell success from failure.
_STATES = {
    "Q": JobState.PENDING, "W": JobState.PENDING, "T": JobState.PENDING, "M": JobState.PENDING,
    "H": JobState.HELD, "R": JobState.RUNNING, "B": JobState.RUNNING, "E": JobState.COMPLETING,
    "S": JobState.SUSPENDED, "U": JobState.SUSPENDED,
}
# Negative Exit_status values are PBS's own reasons (pbs_job.h JOB_EXEC_*).
EXEC_CODES: dict[int, tuple[JobState, str]] = {
    -1: (JobState.FAILED, "job exec failed, before files, no retry"),
    -2: (JobState.FAILED, "job exec failed, after files, no retry"),
    -3: (JobState.FAILED, "job exec failed, will retry"),
    -4: (JobState.FAILED, "job aborted on MOM initialisation"),
    -5: (JobState.FAILED, "job aborted on MOM initialisation, checkpoint, no migrate"),
    -6: (JobState.FAILED, "job aborted on MOM initialisation, checkpoint, ok migrate"),
    -7: (JobState.FAILED, "job restart failed"),
    -8: (JobState.FAILED, "exec() of the user command failed"),
    -9: (JobState.FAILED, "could not create or move the job's standard output/error"),
    -10: (JobState.FAILED, "the user id or group could not be set up on the node"),
    -11: (JobState.FAILED, "the job was rerun"),
    -12: (JobState.FAILED, "checkpoint failed"),
    -13: (JobState.FAILED, "password check failed"),
    -15: (JobState.FAILED, "requeued because of a sister node failure"),
    -16: (JobState.FAILED, "a hook requested a rerun"),
    -17: (JobState.FAILED, "a hook deleted the job"),
    -20: (JobState.NODE_FAIL, "a sister MOM (node) failed"),
    -23: (JobState.FAILED, "killed: ncpus burst limit exceeded"),
    -24: (JobState.FAILED, "killed: ncpus sum limit exceeded"),
    -25: (JobState.OUT_OF_MEMORY, "killed: vmem limit exceeded"),
    -26: (JobState.OUT_OF_MEMORY, "killed: mem limit exceeded"),
    -27: (JobState.TIMEOUT, "killed: cput limit exceeded"),
    -29: (JobState.TIMEOUT, "killed: walltime limit exceeded"),
}


def exit_meaning(status: int | None) -> tuple[JobState, int | None, int | None, str]:
    """(state, exit code, signal, explanation) of a finished job's Exit_status."""
    if status is None:  # Torque (and its wrappers) may not report one; do not guess success
        return JobState.ENDED, None, None, "finished; the server reported no exit status"
    if status == 0:
        return JobState.COMPLETED, 0, None, ""
    if status < 0:
        state, why = EXEC_CODES.get(status, (JobState.FAILED, f"PBS exec error {status}"))
        return state, status, None, why
    if status > 256:  # killed by signal status-256 (qdel of a running job usually gives 271 = SIGTERM)
        sig = status - 256
        state = JobState.CANCELLED if sig in (9, 15) else JobState.FAILED
        return state, None, sig, f"killed by signal {sig}"
    return JobState.FAILED, status, None, ""


def job_state(letter: str, exit_status: int | None = None) -> JobState:
    code = (letter or "").strip().upper()[:1]
    if code in ("F", "X", "C"):
        return exit_meaning(exit_status)[0]
    return _STATES.get(code, JobState.UNKNOWN)


# --- JSON -----------------------------------------------------------------------------------------

_BAD_ESCAPE = re.compile(r'\\(?!["\\/bfnrtu])')
_BARE_VALUE = re.compile(r'(:\s*)(-?[0-9][^,\s{}\[\]"]*)(\s*[,}\n])')


def load_json(text: str) -> dict[str, Any]:
    """qstat/pbsnodes JSON, repaired where PBS is known to emit invalid JSON (openpbs#1255 and others)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        fixed = _BAD_ESCAPE.sub(r"\\\\", text)
        fixed = _BARE_VALUE.sub(lambda m: m.group(1) + (m.group(2) if _is_number(m.group(2)) else
                                                         json.dumps(m.group(2))) + m.group(3), fixed)
        data = json.loads(fixed)
    return data if isinstance(data, dict) else {}


def _is_number(token: str) -> bool:
    try:
        json.loads(token)
    except json.JSONDecodeError:
        return False
    return True


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested JSON -> the dotted keys of the text form (Resource_List.walltime)."""
    flat: dict[str, str] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "Variable_List":
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, dict):
            flat[name] = ",".join(f"{k}={v}" for k, v in value.items())
        else:
            flat[name] = str(value)
    return flat


def parse_jobs_json(text: str) -> list[JobDetails]:
    jobs = load_json(text).get("Jobs") or {}
    return [job_from_record(job_id, _flatten(rec)) for job_id, rec in jobs.items() if isinstance(rec, dict)]


# --- text -----------------------------------------------------------------------------------------

def _records(text: str) -> list[tuple[str, dict[str, str]]]:
    """`Job Id: X` / `Queue: X` / bare node-name headed blocks of `key = value` lines, continuations joined."""
    records: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    last_key = ""
    for raw in text.splitlines():
        if not raw.strip():
            continue
        header = re.match(r"^(?:Job Id|Queue|Server):\s*(\S+)\s*$", raw)
        if header or (not raw[0].isspace() and "=" not in raw):
            current = {}
            records.append((header.group(1) if header else raw.strip(), current))
            last_key = ""
            continue
        if current is None:
            continue
        pair = re.match(r"^\s+([A-Za-z_][\w.]*)\s=\s?(.*)$", raw)
        if pair:
            last_key = pair.group(1)
            current[last_key] = pair.group(2).rstrip()
        elif last_key:  # a TAB continuation of a wrapped value, possibly mid-token
            current[last_key] += raw.lstrip("\t").rstrip("\n")
    return records


def parse_jobs_text(text: str) -> list[JobDetails]:
    return [job_from_record(job_id, rec) for job_id, rec in _records(text) if rec]


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _path(value: str) -> str:
    return value.split(":", 1)[1] if ":" in value and not value.startswith("/") else value


def to_iso(value: str) -> str:
    """ctime strings ('Thu Jun 19 10:36:47 2025') or epochs -> ISO."""
    value = (value or "").strip()
    for fmt in ("%a %b %d %H:%M:%S %Y",):
        try:
            return datetime.strptime(" ".join(value.split()), fmt).strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError:
            pass
    if value.isdigit():
        return datetime.fromtimestamp(int(value)).strftime("%Y-%m-%dT%H:%M:%S")
    return value


def _hosts(exec_host: str) -> str:
    return ",".join(dict.fromkeys(part.split("/")[0] for part in exec_host.split("+") if part)) if exec_host else ""


# PBS Pro subjobs: 1234[7].server, whose array (parent) is 1234[].server
_SUBJOB = re.compile(r"^(\d+)\[(\d+)\](.*)$")


def array_parent(job_id: str) -> str | None:
    m = _SUBJOB.match(job_id)
    return f"{m.group(1)}[]{m.group(3)}" if m else None


def _hold_reason(rec: dict[str, str]) -> str:
    """An operator (o) or system (s) hold is one the owner cannot release: say it in Slurm's word for that."""
    holds = rec.get("Hold_Types", "n")
    if rec.get("job_state", "")[:1] == "H" and ("o" in holds or "s" in holds):
        return f"JobHeldAdmin (PBS Hold_Types={holds})"
    return ""


def job_from_record(job_id: str, rec: dict[str, str]) -> JobDetails:
    exit_status = _int(rec.get("Exit_status") or rec.get("exit_status"))
    letter = rec.get("job_state", "")
    state = job_state(letter, exit_status)
    _, code, signal, why = exit_meaning(exit_status) if letter[:1] in ("F", "X", "C") else (state, None, None, "")
    ngpus = _int(rec.get("Resource_List.ngpus")) or 0
    variables = dict(kv.split("=", 1) for kv in rec.get("Variable_List", "").split(",") if "=" in kv)
    job = Job(
        job_id=job_id,
        name=rec.get("Job_Name", ""),
        user=rec.get("Job_Owner", "").split("@")[0] or rec.get("euser", "").split("(")[0],
        state=state,
        native_state=letter,
        partition=rec.get("queue", ""),
        account=rec.get("Account_Name", rec.get("project", "")),
        num_nodes=_int(rec.get("Resource_List.nodect")) or 0,
        num_cpus=_int(rec.get("Resource_List.ncpus")) or 0,
        node_list=_hosts(rec.get("exec_host", "")),
        reason=_hold_reason(rec) or rec.get("comment", ""),
        time_used=rec.get("resources_used.walltime", ""),
        time_limit=rec.get("Resource_List.walltime", ""),
        submit_time=to_iso(rec.get("qtime") or rec.get("ctime", "")),
        start_time=to_iso(rec.get("stime", "")),
        gpus=(GpuCount(None, ngpus),) if ngpus else (),
        array_job_id=array_parent(job_id),
        array_task_id=_SUBJOB.match(job_id).group(2) if _SUBJOB.match(job_id) else None,  # type: ignore[union-attr]
        priority=_int(rec.get("Priority")),
        dependency=rec.get("depend", ""),
    )
    return JobDetails(
        job=job, exit_code=code, signal=signal,
        work_dir=rec.get("jobdir") or variables.get("PBS_O_WORKDIR", ""),
        stdout_path=_path(rec.get("Output_Path", "")), stderr_path=_path(rec.get("Error_Path", "")),
        end_time=to_iso(rec.get("obittime", "")), memory=rec.get("Resource_List.mem", ""),
        tres=rec.get("Resource_List.select", ""), reason_explained=why or rec.get("comment", ""),
        dependency=rec.get("depend", ""), source="controller", raw=rec,
    )


def parse_queues(text: str) -> list[Partition]:
    """`qstat -Q -f -F json`, or the `qstat -Qf` text form."""
    if text.lstrip().startswith("{"):
        queues = {name: _flatten(rec) for name, rec in (load_json(text).get("Queue") or {}).items()}
    else:
        queues = {name: rec for name, rec in _records(text)}
    parts = []
    for name, rec in queues.items():
        # PBS Pro prints True/False, Torque yes/no
        enabled = rec.get("enabled", "True") in ("True", "yes") and rec.get("started", "True") in ("True", "yes")
        walltime = rec.get("resources_max.walltime")
        parts.append(Partition(
            name=name, state="UP" if enabled else "DOWN",
            is_default=False, max_time_minutes=time_minutes(walltime) if walltime else None,
            default_time_minutes=time_minutes(rec.get("resources_default.walltime")),
            total_nodes=_int(rec.get("resources_available.nodect") or rec.get("resources_max.nodect")) or 0,
            allow_accounts=tuple(a for a in rec.get("acl_groups", "").split(",") if a),
        ))
    return parts


def parse_nodes(text: str) -> list[Node]:
    """`pbsnodes -a -F json`, or `pbsnodes -a` text (PBS Pro and Torque forms)."""
    if text.lstrip().startswith("{"):
        nodes = {name: _flatten(rec) for name, rec in (load_json(text).get("nodes") or {}).items()}
    else:
        nodes = {name: rec for name, rec in _records(text)}
    result = []
    for name, rec in nodes.items():
        states = [s.strip() for s in rec.get("state", "unknown").split(",") if s.strip()]
        base = {"free": "IDLE", "job-exclusive": "ALLOCATED", "job-busy": "ALLOCATED", "busy": "ALLOCATED",
                "down": "DOWN", "offline": "DOWN", "resv-exclusive": "ALLOCATED"}.get(states[0], states[0].upper())
        flags = tuple(s.upper() for s in states[1:]) + (("DRAIN",) if "offline" in states else ())
        gpus = _int(rec.get("resources_available.ngpus") or rec.get("gpus")) or 0
        used = _int(rec.get("resources_assigned.ngpus")) or 0
        gtype = rec.get("resources_available.gputype") or None
        result.append(Node(
            name=name, state=base, flags=flags,
            partitions=tuple(q for q in rec.get("queue", "").split(",") if q),
            cpus_total=_int(rec.get("resources_available.ncpus") or rec.get("pcpus") or rec.get("np")) or 0,
            cpus_alloc=_int(rec.get("resources_assigned.ncpus")) or 0,
            gpus=(GpuCount(gtype.lower() if gtype else None, gpus),) if gpus else (),
            gpus_used=(GpuCount(gtype.lower() if gtype else None, used),) if used else (),
            reason=rec.get("comment") or None,
        ))
    return result


def parse_listing(text: str) -> list[Job]:
    """Default `qstat` / `qstat -x` columns: Job id, Name, User, Time Use, S, Queue (names may be cut '*')."""
    jobs = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 6 or cols[0].startswith(("Job", "---")) or not cols[0][0].isdigit():
            continue
        job_id, name, user, used, letter, queue = cols[0], cols[1], cols[2], cols[-3], cols[-2], cols[-1]
        jobs.append(Job(job_id=job_id, name=name, user=user, state=job_state(letter), native_state=letter,
                        partition=queue, time_used="" if used == "0" else used))
    return jobs


def record_from_details(d: JobDetails) -> JobRecord:
    j = d.job
    return JobRecord(
        job_id=j.job_id, name=j.name, user=j.user, state=j.state, native_state=j.native_state,
        partition=j.partition, account=j.account, exit_code=d.exit_code, signal=d.signal,
        submit_time=j.submit_time, start_time=j.start_time, end_time=d.end_time, elapsed=j.time_used,
        time_limit=j.time_limit, num_nodes=j.num_nodes, node_list=j.node_list, alloc_tres=d.tres,
        req_mem=d.memory, max_rss=d.raw.get("resources_used.mem", ""), reason=d.reason_explained,
        work_dir=d.work_dir,
    )


def short_id(job_id: str) -> str:
    """'1004.pbs' -> '1004' (Torque wrappers print short ids; PBS Pro the full one)."""
    return job_id.split(".", 1)[0]


_FINAL_STATES = frozenset(s for s in JobState if s.final)
# qstat(1B) job state letters as list filters; F/X/C are finished jobs, whatever their end
STATE_WORDS: dict[str, frozenset[JobState]] = {
    "Q": frozenset({JobState.PENDING}), "W": frozenset({JobState.PENDING}), "T": frozenset({JobState.PENDING}),
    "M": frozenset({JobState.PENDING}), "H": frozenset({JobState.HELD}), "R": frozenset({JobState.RUNNING}),
    "B": frozenset({JobState.RUNNING}), "E": frozenset({JobState.COMPLETING}), "S": frozenset({JobState.SUSPENDED}),
    "U": frozenset({JobState.SUSPENDED}), "F": _FINAL_STATES, "X": _FINAL_STATES, "C": _FINAL_STATES,
}
# pbsnodes(8B) node words in hpcbridge's node vocabulary (Slurm's)
NODE_WORDS: dict[str, tuple[str, ...]] = {"FREE": ("IDLE",), "BUSY": ("ALLOCATED", "MIXED"),
                                          "JOB-EXCLUSIVE": ("ALLOCATED",), "OFFLINE": ("DRAIN",)}
