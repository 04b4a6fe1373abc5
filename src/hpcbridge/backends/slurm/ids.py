"""Slurm job id forms: the one hpcbridge answers with, and the ones the commands accept (checked on 22.05).

    123              a job
    123_4            an array task                    scancel, scontrol: yes
    123_[1-50%5]     a pending throttled array        squeue and sacct print it; scancel refuses the '%5'
                                                      ("Invalid range"), takes 123_[1-50]; scontrol show job
                                                      refuses the brackets, takes 123
    123+1            a component of a het job         squeue, scontrol: yes; scancel refuses a component
                                                      ("not permitted on individual component"), takes 123
    123;cluster      sbatch --parsable on a federation / multi-cluster site: the id is the part before ';'
    123.0, 123.batch a step
Federated job ids are plain (large) numbers; the origin cluster lives in the id's high bits.
"""

from __future__ import annotations

import re

_EMPTY = {"(null)", "N/A", "None", ""}
_THROTTLE = re.compile(r"%[0-9]+(?=\])")
_BRACKETS = re.compile(r"^([0-9]+)_\[[^\]]*\]")
_HET = re.compile(r"^([0-9]+)\+[0-9]+")


def detail_job_id(rec: dict[str, str]) -> str:
    """The id squeue and sacct print for a `scontrol show job` record: 123_4, 123_[9201-10000%500] for a
    pending array (scontrol prints ArrayTaskId=9201-10000%500), 123+1 for a het job component."""
    array_job, task = rec.get("ArrayJobId", ""), rec.get("ArrayTaskId", "")
    if array_job and task not in _EMPTY:
        return f"{array_job}_{task}" if task.isdigit() else f"{array_job}_[{task}]"
    het, offset = rec.get("HetJobId", ""), rec.get("HetJobOffset", "")
    if het not in _EMPTY and offset.isdigit():
        return f"{het}+{offset}"
    return rec.get("JobId", "")


def json_job_id(job_id: int | None, array_job: int | None, array_task: int | None, task_string: str,
                het_job: int | None, het_offset: int | None) -> str:
    """The same id from a JSON job record (array_task_string carries a pending array's ranges)."""
    if array_job and array_task is not None:
        return f"{array_job}_{array_task}"
    if array_job and task_string:
        return f"{array_job}_{task_string}" if task_string.isdigit() else f"{array_job}_[{task_string}]"
    if het_job and het_offset is not None:
        return f"{het_job}+{het_offset}"
    return str(job_id or "")


def pasted(job_id: str) -> str:
    """A pasted id in the form the commands take: the ';cluster' of sbatch --parsable dropped."""
    return job_id.strip().split(";", 1)[0]


def for_signal(job_id: str) -> str:
    """scancel / scontrol hold / release: a throttled array's '%N' dropped (its ranges are kept)."""
    return _THROTTLE.sub("", job_id)


def for_show(job_id: str) -> str:
    """scontrol show job: an array's bracketed ranges become the array job (it lists every task)."""
    m = _BRACKETS.match(job_id)
    return m.group(1) if m else job_id


def het_leader(job_id: str) -> str | None:
    """'123+1' -> '123' (the id scancel takes for a heterogeneous job); None for other ids."""
    m = _HET.match(job_id)
    return m.group(1) if m else None
