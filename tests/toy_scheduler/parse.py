"""toyq's outputs (tab-separated, one record per line) read into hpcbridge's models. Pure."""

from __future__ import annotations

from hpcbridge.models import GpuCount, Job, JobDetails, JobRecord, JobState, Node, Partition
from hpcbridge.timewords import time_minutes

STATES = {"Q": JobState.PENDING, "H": JobState.HELD, "R": JobState.RUNNING, "C": JobState.COMPLETED,
          "F": JobState.FAILED, "X": JobState.CANCELLED}


def _rows(text: str, fields: int) -> list[list[str]]:
    return [row for row in (line.split("\t") for line in text.splitlines() if line.strip()) if len(row) == fields]


def version(text: str) -> str:
    return text.split()[-1] if text.split() else ""


def queues(text: str) -> list[Partition]:
    """NAME  NODES(comma)  MAXTIME  DEFAULT(yes/no)"""
    return [Partition(name=name, state="UP", nodes=tuple(nodes.split(",")), total_nodes=len(nodes.split(",")),
                      is_default=default == "yes", max_time_minutes=time_minutes(limit))
            for name, nodes, limit, default in _rows(text, 4)]


def nodes(text: str) -> list[Node]:
    """NAME  STATE  CPUS  GPUS"""
    return [Node(name=name, state=state, cpus_total=int(cpus),
                 gpus=(GpuCount(None, int(gpus)),) if int(gpus) else ())
            for name, state, cpus, gpus in _rows(text, 4)]


def jobs(text: str) -> list[Job]:
    """ID  NAME  USER  STATE  QUEUE  NODES  REASON  LIMIT  USED"""
    return [Job(job_id=jid, name=name, user=user, state=STATES.get(code, JobState.UNKNOWN), native_state=code,
                partition=queue, node_list=where, reason=reason, time_limit=limit, time_used=used)
            for jid, name, user, code, queue, where, reason, limit, used in _rows(text, 9)]


def details(text: str, job_id: str) -> JobDetails | None:
    found = [j for j in jobs(text) if j.job_id == job_id]
    return JobDetails(job=found[0]) if found else None


def history(text: str) -> list[JobRecord]:
    """ID  NAME  USER  STATE  QUEUE  EXIT"""
    return [JobRecord(job_id=jid, name=name, user=user, state=STATES.get(code, JobState.UNKNOWN),
                      native_state=code, partition=queue, exit_code=int(code_) if code_.isdigit() else None)
            for jid, name, user, code, queue, code_ in _rows(text, 6)]


def submitted(text: str) -> str:
    """'toyq: submitted 42'"""
    words = text.split()
    return words[-1] if words and words[-1].isdigit() else ""
