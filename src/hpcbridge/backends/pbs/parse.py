"""PBS Pro / OpenPBS / Torque output parsers (pure), for the PBS backend (issue 5).

Forms handled (shared/fixtures/FORMATS.md): `qstat -f -F json` (jobs, `-x` history), `qstat -Q -f -F json`,
`pbsnodes -a -F json`; the plain `qstat -f` text (4-space `key = value`, long values wrapped onto TAB
continuation lines, sometimes mid-token) and the Torque-style form of Debian's slurm-wlm-torque wrappers
(`Job Id:\\t<n>` with TAB-indented pairs, short ids); default `qstat`/`qstat -x` listings; `pbsnodes -a`
text. Known JSON bugs are tolerated: invalid `\\` escapes and unquoted numeric-looking values.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from ...errors import SchedulerError
from ...models import GpuCount, Job, JobDetails, JobRecord, JobState, Node, Partition
from ...timewords import time_minutes
from . import jsonfix
from .ids import array_parent, short, subjob_index

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


# A finished job's substate says how it ended (OpenPBS src/include/job.h): 91 TERMINATED is set whenever a
# qdel reached it (svr_jobfunc.c, ji_terminated), whatever Exit_status says: none for a job deleted while it
# waited or was held, 271 (SIGTERM+256) or a shell's 143 for one deleted while it ran. 92 FINISHED, 93 FAILED.
SUBSTATE_TERMINATED = "91"


def ended_by_qdel(letter: str, substate: str | None) -> bool:
    return (letter or "")[:1].upper() in ("F", "X") and (substate or "").strip() == SUBSTATE_TERMINATED


def job_state(letter: str, exit_status: int | None = None) -> JobState:
    code = (letter or "").strip().upper()[:1]
    if code in ("F", "X", "C"):
        return exit_meaning(exit_status)[0]
    return _STATES.get(code, JobState.UNKNOWN)


# --- JSON -----------------------------------------------------------------------------------------

_VAR_SPECIAL = re.compile(r"[,'\"]")
_VAR_SPLIT = re.compile(r"(?<!\\),")
_VAR_ESCAPED = re.compile(r"\\([,'\"])")
# A `qstat -f` text answer: its first non-blank line is a record header.
_TEXT_FORM = re.compile(r"\A\s*(?:Job Id|Queue|Server):[ \t]*\S")

def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested JSON -> the dotted keys of the text form (Resource_List.walltime); Variable_List back to the
    text form's `K=v,K2=v2` with a comma, quote or apostrophe inside a value escaped as PBS escapes it."""
    flat: dict[str, str] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "Variable_List":
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, dict):
            flat[name] = ",".join(f"{k}={_VAR_SPECIAL.sub(_backslashed, _scalar(v))}" for k, v in value.items())
        else:
            flat[name] = _scalar(value)
    return flat


def _backslashed(m: re.Match[str]) -> str:
    return "\\" + m.group()


def variables(value: str) -> dict[str, str]:
    """Variable_List `K=v,K2=v2`: qsub escapes a `,` `'` or `"` inside a value with a backslash. A value whose
    own text ends in a backslash reads as escaping the comma after it (ambiguous in PBS's form itself)."""
    found: dict[str, str] = {}
    for part in _VAR_SPLIT.split(value):
        key, sep, val = part.partition("=")
        if sep and key:
            found[key] = _VAR_ESCAPED.sub(lambda m: m.group(1), val)
    return found


def _scalar(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_scalar(v) for v in value)
    return str(value)


def parse_jobs_json(text: str) -> list[JobDetails]:
    """`qstat -f [-x] [-t] -F json`; the text form when the version answered with it; a job whose record
    cannot be read is listed with what could be read of it and says so."""
    if not jsonfix.is_json(text):
        return parse_jobs_text(text) if _text_form(text, "qstat -f -F json") else []
    return [_unreadable_job(job_id, rec) if isinstance(rec, jsonfix.Unreadable) else
            job_from_record(job_id, _flatten(rec), _env(rec)) for job_id, rec in jsonfix.section(text, "Jobs").items()]


def _env(record: dict[str, Any]) -> dict[str, str]:
    """JSON's Variable_List, read from the object itself: its text rendering cannot tell a value that ends in
    a backslash from an escaped comma."""
    found = record.get("Variable_List")
    return {k: _scalar(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _unreadable_job(job_id: str, rec: jsonfix.Unreadable) -> JobDetails:
    said = f"qstat's JSON for this job could not be read ({rec.why}); the fields shown were read line by line"
    d = job_from_record(job_id, rec.fields)
    return replace(d, job=replace(d.job, reason=said), reason_explained=said)


def _text_form(text: str, command: str) -> bool:
    """Some PBS versions answer `-F json` in the text form: True for that, False for an empty answer, and
    anything else is an error that names the command."""
    if not text.strip():
        return False
    if _TEXT_FORM.search(text):
        return True
    raise SchedulerError(f"{command} answered neither JSON nor PBS's text form: {text.strip()[:200]!r}")


# --- text -----------------------------------------------------------------------------------------

_HEADERS = {"job": re.compile(r"^Job Id:[ \t]*(\S+)[ \t]*$"), "queue": re.compile(r"^Queue:[ \t]*(\S+)[ \t]*$")}
_PAIR = re.compile(r"^([ \t]+)([A-Za-z_][\w.\-]*) =(?: |$)(.*)$")


def _records(text: str, kind: str = "node") -> list[tuple[str, dict[str, str]]]:
    """`Job Id: X` / `Queue: X` / bare node-name headed blocks of `key = value` lines.

    qstat prints values raw (prt_attr): a long value is wrapped with newline + TAB, at a comma or mid-token,
    and a newline inside a value (a name, a comment, an exported shell function in Variable_List) is printed
    as it is. So a record's pairs are the lines at its first pair's indentation (4 blanks in PBS Pro/OpenPBS,
    a TAB in Torque-style wrappers); a TAB line under a blank-indented record (or 8 blanks: a TAB expanded by
    a copy) continues the value; any other line is the value's own newline and text. Still ambiguous: a
    value's newline followed by a TAB, by the record's indentation + `key = `, or by `Job Id: `; a value's
    trailing newlines (read as the blank line between records); and empty items of a comma list (prt_attr
    splits with strtok, which drops them)."""
    header = _HEADERS.get(kind)
    records: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    key, indent, blanks = "", "", 0
    for line in text.split("\n"):
        found = header.match(line) if header else (
            re.match(r"^(\S[^=]*?)\s*$", line) if line and not line[0].isspace() else None)
        if found:
            current, key, indent, blanks = {}, "", "", 0
            records.append((found.group(1), current))
            continue
        if current is None:
            continue
        if not line:
            blanks += 1
            continue
        pair = _PAIR.match(line)
        if pair and indent in ("", pair.group(1)):
            key, indent, blanks = pair.group(2), pair.group(1), 0
            current.setdefault(key, pair.group(3))
            continue
        if not key:
            continue
        if blanks:
            current[key] += "\n" * blanks
            blanks = 0
        if indent != "\t" and line.startswith("\t"):
            current[key] += line[1:]
        elif indent == "    " and line.startswith(" " * 8):
            current[key] += line[8:]
        else:
            current[key] += "\n" + line
    return records


def parse_jobs_text(text: str) -> list[JobDetails]:
    return [job_from_record(job_id, rec) for job_id, rec in _records(text, "job") if rec]


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


def _job_nodes(rec: dict[str, str]) -> str:
    """The vnodes of exec_vnode ('(gpu1:ncpus=2:ngpus=1)+(cpu1:ncpus=1+cpu2:ncpus=1)'): on a host that presents
    several vnodes, exec_host names only the host, while pbsnodes lists the vnodes."""
    vnodes = re.findall(r"(?:^|[(+])([^:()+]+):", rec.get("exec_vnode", ""))
    return ",".join(dict.fromkeys(vnodes)) if vnodes else _hosts(rec.get("exec_host", ""))


def _size_mb(value: str | None) -> int:
    """PBS sizes ('16gb', '24684084kb', '0kb', bare bytes, w for 8-byte words) in megabytes."""
    m = re.fullmatch(r"\s*(\d+)([kmgtp]?)([bw]?)\s*", str(value or ""), re.IGNORECASE)
    if not m:
        return 0
    factor = 1024 ** "_kmgtp".index(m.group(2).lower() or "_") * (8 if m.group(3).lower() == "w" else 1)
    return int(m.group(1)) * factor // 1024**2


def _account(rec: dict[str, str]) -> str:
    """Account_Name, else a project the user set: OpenPBS gives every job project=_pbs_project_default."""
    project = rec.get("project", "")
    return rec.get("Account_Name") or ("" if project == "_pbs_project_default" else project)


def _hold_reason(rec: dict[str, str]) -> str:
    """An operator (o) or system (s) hold is one the owner cannot release: say it in Slurm's word for that."""
    holds = rec.get("Hold_Types", "n")
    if rec.get("job_state", "")[:1] == "H" and ("o" in holds or "s" in holds):
        return f"JobHeldAdmin (PBS Hold_Types={holds})"
    return ""


def job_from_record(job_id: str, rec: dict[str, str], env: dict[str, str] | None = None) -> JobDetails:
    exit_status = _int(rec.get("Exit_status") or rec.get("exit_status"))
    letter = rec.get("job_state", "")
    state = job_state(letter, exit_status)
    _, code, signal, why = exit_meaning(exit_status) if letter[:1] in ("F", "X", "C") else (state, None, None, "")
    if ended_by_qdel(letter, str(rec.get("substate", ""))):
        ran = bool(rec.get("stime"))
        state, why = JobState.CANCELLED, ("deleted (qdel) while it ran" if ran else "deleted (qdel) before it ran") + (
            f"; {why}" if why and ran else "")
    ngpus = _int(rec.get("Resource_List.ngpus")) or 0
    env = variables(rec.get("Variable_List", "")) if env is None else env
    job = Job(
        job_id=job_id,
        name=rec.get("Job_Name", ""),
        user=rec.get("Job_Owner", "").split("@")[0] or rec.get("euser", "").split("(")[0],
        state=state,
        native_state=letter,
        partition=rec.get("queue", ""),
        account=_account(rec),
        num_nodes=_int(rec.get("Resource_List.nodect")) or 0,
        num_cpus=_int(rec.get("Resource_List.ncpus")) or 0,
        node_list=_job_nodes(rec),
        reason=_hold_reason(rec) or rec.get("comment", ""),
        time_used=rec.get("resources_used.walltime", ""),
        time_limit=rec.get("Resource_List.walltime", ""),
        submit_time=to_iso(rec.get("qtime") or rec.get("ctime", "")),
        start_time=to_iso(rec.get("stime", "")),
        gpus=(GpuCount(None, ngpus),) if ngpus else (),
        array_job_id=array_parent(job_id),
        array_task_id=subjob_index(job_id),
        priority=_int(rec.get("Priority")),
        dependency=rec.get("depend", ""),
    )
    return JobDetails(
        job=job, exit_code=code, signal=signal,
        work_dir=rec.get("jobdir") or env.get("PBS_O_WORKDIR", ""),
        stdout_path=_path(rec.get("Output_Path", "")), stderr_path=_path(rec.get("Error_Path", "")),
        end_time=to_iso(rec.get("obittime", "")), memory=rec.get("Resource_List.mem", ""),
        tres=rec.get("Resource_List.select", ""), reason_explained=why or rec.get("comment", ""),
        dependency=rec.get("depend", ""), source="controller", raw=rec,
    )


def parse_queues(text: str) -> list[Partition]:
    """`qstat -Q -f -F json`, or the `qstat -Qf` text form."""
    if text.lstrip().startswith("{"):
        queues = {name: _flatten(rec) if isinstance(rec, dict) else rec.fields
                  for name, rec in jsonfix.section(text, "Queue").items()}
    else:
        queues = dict(_records(text, "queue")) if _text_form(text, "qstat -Q -f") else {}
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
        nodes = {name: _flatten(rec) if isinstance(rec, dict) else rec.fields
                 for name, rec in jsonfix.section(text, "nodes").items()}
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
        # sites name their GPU type resource gputype or gpu_type (NCAR's, and the test cluster's)
        gtype = rec.get("resources_available.gputype") or rec.get("resources_available.gpu_type") or None
        result.append(Node(
            name=name, state=base, flags=flags,
            partitions=tuple(q for q in rec.get("queue", "").split(",") if q),
            cpus_total=_int(rec.get("resources_available.ncpus") or rec.get("pcpus") or rec.get("np")) or 0,
            cpus_alloc=_int(rec.get("resources_assigned.ncpus")) or 0,
            memory_mb=_size_mb(rec.get("resources_available.mem")),
            memory_alloc_mb=_size_mb(rec.get("resources_assigned.mem")),
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
        time_limit=j.time_limit, num_nodes=j.num_nodes, node_list=j.node_list, alloc_tres=d.tres, gpus=j.gpus,
        req_mem=d.memory, max_rss=d.raw.get("resources_used.mem", ""), reason=d.reason_explained,
        work_dir=d.work_dir,
    )


def short_id(job_id: str) -> str:
    """'1004.pbs' -> '1004' (Torque wrappers print short ids; PBS Pro the full one)."""
    return short(job_id)


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
