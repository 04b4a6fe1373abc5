"""Parsers for Slurm's JSON (`squeue/scontrol/sacct/sinfo --json`, slurmrestd), every data_parser version.

Differences handled (see shared/fixtures/FORMATS.md):
- numbers may be plain or wrapped as {set, infinite, number} (v0.0.39+; timestamps wrapped from v0.0.40);
- job_state is a string up to 23.02 and a list from 23.11; sacct has state{current:[...], reason};
- exit_code is a wrapped number (v0.0.39) or {status, return_code, signal{id, name}} (v0.0.40+);
- sinfo is a flat nodes[] list on 21.08/22.05 and grouped sinfo[] records from 23.02.
Unknown states degrade to UNKNOWN with the native text kept; missing keys give empty values.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ...models import Job, JobDetails, JobRecord, JobStep, Node
from . import gres
from .ids import json_job_id
from .states import explain_reason, job_state, native_state_text, node_state
from .text import expand_hostlist


def num(value: Any) -> int | None:
    """Plain or wrapped number -> int; unset or infinite -> None."""
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite", False):
            return None
        value = value.get("number")
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def ts(value: Any) -> str:
    seconds = num(value)
    if not seconds:
        return ""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def minutes_text(value: Any) -> str:
    minutes = num(value)
    if minutes is None:
        return "UNLIMITED"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"{days}-{hours:02d}:{mins:02d}:00" if days else f"{hours:02d}:{mins:02d}:00"


def seconds_text(seconds: int | None) -> str:
    if seconds is None:
        return ""
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{days}-{h:02d}:{m:02d}:{s:02d}" if days else f"{h:02d}:{m:02d}:{s:02d}"


def exit_code(value: Any) -> tuple[int | None, int | None]:
    """(return code, signal) from either exit_code shape."""
    if isinstance(value, dict) and "return_code" in value:
        signal = num((value.get("signal") or {}).get("id"))
        return num(value.get("return_code")), signal or None
    code = num(value)
    if code is None:
        return None, None
    # v0.0.39 and older carry the raw wait status: high byte exit code, low byte signal
    return (code >> 8, code & 0x7F or None) if code > 255 else (code, None)


def _load(text: str) -> dict[str, Any]:
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _job_nodes(job: dict[str, Any]) -> str:
    nodes = job.get("nodes")
    if isinstance(nodes, dict):  # job_resources-style object (v0.0.41+)
        return _text(nodes.get("list"))
    return "" if nodes in (None, "None assigned") else _text(nodes)


def parse_jobs(text: str) -> list[JobDetails]:
    """`squeue --json`, `scontrol show job --json`, slurmrestd /jobs."""
    return [_job(j) for j in _load(text).get("jobs", []) if isinstance(j, dict)]


def _job(j: dict[str, Any]) -> JobDetails:
    reason = _text(j.get("state_reason"))
    native = native_state_text(j.get("job_state"))
    array_task = num(j.get("array_task_id"))
    array_job = num(j.get("array_job_id"))
    task_string = _text(j.get("array_task_string"))
    job_id = json_job_id(num(j.get("job_id")), array_job, array_task, task_string,
                         num(j.get("het_job_id")), num(j.get("het_job_offset")))
    tres = _text(j.get("tres_alloc_str")) or _text(j.get("tres_req_str"))
    gpus = gres.job_gpus(tres, num(j.get("node_count")) or 0, _text(j.get("tres_per_job")),
                         _text(j.get("tres_per_node")), _text(j.get("tres_per_task")))
    state = job_state(j.get("job_state"), reason)
    start, now_used = num(j.get("start_time")), None
    end = num(j.get("end_time"))
    if start and end and state.final:
        now_used = end - start
    job = Job(
        job_id=job_id,
        name=_text(j.get("name")),
        user=_text(j.get("user_name")),
        state=state,
        native_state=native,
        partition=_text(j.get("partition")),
        account=_text(j.get("account")),
        qos=_text(j.get("qos")),
        num_nodes=num(j.get("node_count")) or 0,
        num_cpus=num(j.get("cpus")) or 0,
        node_list=_job_nodes(j),
        reason="" if reason == "None" else reason,
        time_used=seconds_text(now_used),
        time_limit=minutes_text(j.get("time_limit")),
        submit_time=ts(j.get("submit_time")),
        start_time=ts(j.get("start_time")),
        gpus=gpus,
        array_job_id=str(array_job) if (array_task is not None or task_string) and array_job else None,
        array_task_id=str(array_task) if array_task is not None else (task_string or None),
        priority=num(j.get("priority")),
    )
    code, signal = exit_code(j.get("exit_code"))
    return JobDetails(
        job=job, exit_code=code, signal=signal,
        work_dir=_text(j.get("current_working_directory")),
        stdout_path=_text(j.get("standard_output")), stderr_path=_text(j.get("standard_error")),
        command=_text(j.get("command")), dependency=_text(j.get("dependency")), comment=_text(j.get("comment")),
        end_time=ts(j.get("end_time")), tres=tres,
        gpu_indices=_indices(j),
        reason_explained="" if state.final else explain_reason(reason),
        source="controller",
    )


def _indices(j: dict[str, Any]) -> str:
    """gres_detail has one entry per allocated node, in the order of the job's expanded node list."""
    detail = j.get("gres_detail")
    if not isinstance(detail, list) or len(detail) <= 1:
        return gres.gpu_indices(_text(detail))
    names = expand_hostlist(_job_nodes(j))
    if len(names) != len(detail):
        return gres.gpu_indices(_text(detail))
    return gres.indices_per_node([(n, str(d)) for n, d in zip(names, detail, strict=True)])


def _tres_text(items: Any) -> str:
    """sacct tres.allocated list -> 'cpu=1,mem=4000M,gres/gpu=2'."""
    parts = []
    for t in items or []:
        if not isinstance(t, dict) or (t.get("count") or 0) < 0:
            continue
        key = t.get("type", "")
        if t.get("name"):
            key = f"{key}/{t['name']}"
        count = t.get("count")
        parts.append(f"{key}={count}M" if key == "mem" else f"{key}={count}")
    return ",".join(parts)


def parse_sacct(text: str) -> list[JobRecord]:
    """`sacct --json` and slurmrestd /slurmdb/job."""
    return [_record(j) for j in _load(text).get("jobs", []) if isinstance(j, dict)]


def _state_of(j: dict[str, Any]) -> tuple[Any, str]:
    state = j.get("state")
    if isinstance(state, dict):
        return state.get("current"), _text(state.get("reason"))
    return state, ""


def _record(j: dict[str, Any]) -> JobRecord:
    current, reason = _state_of(j)
    t = j.get("time") or {}
    code, signal = exit_code(j.get("exit_code"))
    steps = []
    for s in j.get("steps") or []:
        s_state, _ = _state_of(s)
        s_code, s_sig = exit_code(s.get("exit_code"))
        step = s.get("step") or {}
        steps.append(JobStep(
            step_id=_text((step.get("id") if isinstance(step.get("id"), str) else None) or step.get("name")),
            name=_text(step.get("name")), state=job_state(s_state), native_state=native_state_text(s_state),
            exit_code=s_code, signal=s_sig, elapsed=seconds_text(num((s.get("time") or {}).get("elapsed"))),
        ))
    array = j.get("array") or {}
    task = num(array.get("task_id"))
    job_id = f"{array.get('job_id')}_{task}" if task is not None and array.get("job_id") else str(j.get("job_id", ""))
    tres = j.get("tres") or {}
    return JobRecord(
        job_id=job_id, name=_text(j.get("name")), user=_text(j.get("user")), state=job_state(current),
        native_state=native_state_text(current), partition=_text(j.get("partition")),
        account=_text(j.get("account")), exit_code=code, signal=signal,
        submit_time=ts(t.get("submission")), start_time=ts(t.get("start")), end_time=ts(t.get("end")),
        elapsed=seconds_text(num(t.get("elapsed"))), time_limit=minutes_text(t.get("limit")),
        num_nodes=len(_text(j.get("nodes")).split(",")) if j.get("nodes") not in (None, "", "None assigned") else 0,
        node_list="" if j.get("nodes") in (None, "None assigned") else _text(j.get("nodes")),
        alloc_tres=_tres_text(tres.get("allocated")), gpus=gres.parse_gpus(_tres_text(tres.get("allocated"))), reason="" if reason == "None" else reason,
        work_dir=_text(j.get("working_directory")), steps=tuple(steps),
        comment=_text((j.get("comment") or {}).get("job") if isinstance(j.get("comment"), dict) else j.get("comment")),
    )


def parse_sinfo(text: str) -> list[Node]:
    """`sinfo --json`: flat nodes[] (21.08/22.05) or grouped sinfo[] (23.02+), one Node per host name."""
    data = _load(text)
    if isinstance(data.get("nodes"), list):
        return [_flat_node(n) for n in data["nodes"] if isinstance(n, dict)]
    nodes: dict[str, Node] = {}
    for group in data.get("sinfo", []):
        names = (group.get("nodes") or {}).get("nodes") or []
        part = ((group.get("partition") or {}).get("name")) or ""
        base, flags = node_state((group.get("node") or {}).get("state"))
        g = group.get("gres") or {}
        cpus = group.get("cpus") or {}
        count = max(len(names), 1)
        for name in names:
            prev = nodes.get(name)
            parts = tuple(dict.fromkeys([*(prev.partitions if prev else ()), *([part] if part else [])]))
            nodes[name] = Node(
                name=name, state=base, flags=flags, partitions=parts,
                cpus_total=num(cpus.get("maximum")) or 0,
                cpus_alloc=(num(cpus.get("allocated")) or 0) // count,
                memory_mb=num((group.get("memory") or {}).get("maximum")) or 0,
                gpus=gres.parse_gpus(_text(g.get("total"))), gpus_used=gres.parse_gpus(_text(g.get("used"))),
                features=tuple(f for f in _text((group.get("features") or {}).get("total")).split(",") if f),
                reason=_text((group.get("reason") or {}).get("description")) or None,
            )
    return list(nodes.values())


def _flat_node(n: dict[str, Any]) -> Node:
    base, flags = node_state(n.get("state"))
    flags = tuple(dict.fromkeys([*flags, *(str(f).upper() for f in n.get("state_flags") or [])]))
    return Node(
        name=_text(n.get("name") or n.get("hostname")), state=base, flags=flags,
        partitions=tuple(n.get("partitions") or ()), cpus_total=num(n.get("cpus")) or 0,
        cpus_alloc=num(n.get("alloc_cpus")) or 0, memory_mb=num(n.get("real_memory")) or 0,
        memory_alloc_mb=num(n.get("alloc_memory")) or 0, gpus=gres.parse_gpus(_text(n.get("gres"))),
        gpus_used=gres.parse_gpus(_text(n.get("gres_used"))),
        features=tuple(f for f in _text(n.get("features")).split(",") if f),
        reason=_text(n.get("reason")) or None,
    )
