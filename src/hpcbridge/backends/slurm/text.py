"""Parsers for Slurm's text output: scontrol key=value records, pinned squeue/sacct formats.

The squeue and sacct formats are pinned by hpcbridge (see slurm_build): fields separated by the ASCII unit
separator (0x1f), the free-text fields last. How records are framed when free text holds newlines or the
separator itself, and what stays ambiguous, is in slurm_records.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import hostlist

from ...models import GpuCount, Job, JobDetails, JobRecord, JobStep, Node, Partition
from ...timewords import time_minutes
from . import gres, squeue
from .ids import detail_job_id
from .records import RS, SEP, parse_kv_record, split_records, split_sep_records
from .states import explain_reason, job_state, node_state

__all__ = ["RS", "SEP", "parse_kv_record", "split_records"]

# squeue -O fields (`Field:0` = never truncated), in output order: fixed fields first, free text last, the
# name very last (see slurm_records). tres-alloc is where a --gpus job's GPUs are: its %b is N/A.
SQUEUE_FIELDS: tuple[tuple[str, str], ...] = (
    ("job_id", "JobArrayID"), ("array_job_id", "ArrayJobID"), ("array_task_id", "ArrayTaskID"),
    ("state", "State"), ("partition", "Partition"), ("user", "UserName"), ("account", "Account"),
    ("qos", "QOS"), ("num_nodes", "NumNodes"), ("num_cpus", "NumCPUs"), ("time_used", "TimeUsed"),
    ("time_limit", "TimeLimit"), ("node_list", "NodeList"), ("gres", "tres-per-node"),
    ("tres_per_job", "tres-per-job"), ("tres_alloc", "tres-alloc"), ("submit_time", "SubmitTime"),
    ("start_time", "StartTime"), ("priority", "PriorityLong"), ("dependency", "Dependency"),
    ("reason", "Reason"), ("name", "Name"),
)
SQUEUE_KEYS: tuple[str, ...] = tuple(k for k, _ in SQUEUE_FIELDS)
# The `-o %i...%j` layout hpcbridge pinned before (0x1f between fields, newline after the name): still read.
LEGACY_SQUEUE_KEYS: tuple[str, ...] = (
    "job_id", "array_job_id", "array_task_id", "state", "partition", "user", "account", "qos", "num_nodes",
    "num_cpus", "time_used", "time_limit", "node_list", "reason", "gres", "submit_time", "start_time",
    "priority", "dependency", "name",
)

# `squeue --Format` of one job's free text for get_job_details (scontrol's Key=value text cannot carry it
# exactly). Work dir and comment before the name: only the last field may hold the separator itself.
JOB_TEXT_FIELDS: tuple[tuple[str, str], ...] = (
    ("job_id", "JobArrayID"), ("work_dir", "WorkDir"), ("comment", "Comment"), ("name", "Name"),
)

# Free text last: WorkDir, Comment and JobName may hold newlines; only JobName may also hold 0x1f.
SACCT_FIELDS: tuple[str, ...] = (
    "JobID", "JobIDRaw", "State", "ExitCode", "Partition", "Account", "User", "Submit", "Start", "End",
    "Elapsed", "Timelimit", "NNodes", "NodeList", "AllocTRES", "ReqMem", "MaxRSS", "Reason", "WorkDir",
    "Comment", "JobName",
)

_EMPTY = {"(null)", "N/A", "None", "Unknown", "", "n/a"}


_EPOCH = re.compile(r"[0-9]{9,11}")


def epoch_to_iso(value: str) -> str:
    """Sites with SLURM_TIME_FORMAT=%s print epochs; we normalise to ISO so agents see one form."""
    if _EPOCH.fullmatch(value or ""):
        return datetime.fromtimestamp(int(value), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return "" if value in _EMPTY else value


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _list(value: str | None) -> tuple[str, ...]:
    if value is None or value in _EMPTY:
        return ()
    return tuple(p for p in value.split(",") if p)


def mem_mb(value: str | None) -> int:
    """'4000M', '125G', '450G', '500' -> MB (0 when absent)."""
    m = re.match(r"^([0-9.]+)([KMGTP]?)", (value or "").strip())
    if not m:
        return 0
    factor = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}[m.group(2)]
    return int(float(m.group(1)) * factor)


def expand_hostlist(value: str) -> tuple[str, ...]:
    if not value or value in _EMPTY:
        return ()
    try:
        return tuple(hostlist.expand_hostlist(value))
    except hostlist.BadHostlist:
        return (value,)


def parse_node_record(rec: dict[str, str]) -> Node:
    base, flags = node_state(rec.get("State"))
    reason = rec.get("Reason")
    return Node(
        name=rec.get("NodeName", ""),
        state=base,
        flags=flags,
        partitions=_list(rec.get("Partitions")),
        cpus_total=_int(rec.get("CPUTot")),
        cpus_alloc=_int(rec.get("CPUAlloc")),
        memory_mb=_int(rec.get("RealMemory")),
        memory_alloc_mb=_int(rec.get("AllocMem")),
        gpus=gres.parse_gpus(rec.get("Gres")),
        gpus_used=_gpus_used(rec),
        features=_list(rec.get("AvailableFeatures")),
        reason=None if reason in _EMPTY or reason is None else reason,
    )


def _gpus_used(rec: dict[str, str]) -> tuple[GpuCount, ...]:
    # GresUsed (scontrol -d) carries types; AllocTRES only the total unless the site accounts typed TRES.
    if "GresUsed" in rec:
        return gres.parse_gpus(rec["GresUsed"])
    used = gres.parse_gpus(rec.get("AllocTRES"))
    configured = gres.parse_gpus(rec.get("Gres"))
    if used and len(configured) == 1 and used[0].type is None:
        return (GpuCount(configured[0].type, used[0].count),)
    return used


def parse_nodes(text: str) -> list[Node]:
    return [parse_node_record(parse_kv_record(r)) for r in split_records(text, "NodeName")]


def parse_partition_record(rec: dict[str, str]) -> Partition:
    node_list = "" if rec.get("Nodes") in _EMPTY else rec.get("Nodes", "")
    return Partition(
        name=rec.get("PartitionName", ""),
        state=rec.get("State", "UNKNOWN").upper(),
        is_default=rec.get("Default", "NO").upper() == "YES",
        max_time_minutes=time_minutes(rec.get("MaxTime")),
        default_time_minutes=time_minutes(rec.get("DefaultTime")),
        node_list=node_list,
        nodes=expand_hostlist(node_list),
        total_cpus=_int(rec.get("TotalCPUs")),
        total_nodes=_int(rec.get("TotalNodes")),
        total_gpus=gres.total(gres.parse_gpus(rec.get("TRES"))),  # see with_node_gpus
        max_nodes=None if rec.get("MaxNodes", "UNLIMITED").upper() == "UNLIMITED" else _int(rec.get("MaxNodes")),
        allow_accounts=() if rec.get("AllowAccounts", "ALL") == "ALL" else _list(rec.get("AllowAccounts")),
        allow_qos=() if rec.get("AllowQos", "ALL") == "ALL" else _list(rec.get("AllowQos")),
    )


def parse_partitions(text: str) -> list[Partition]:
    return [parse_partition_record(parse_kv_record(r)) for r in split_records(text, "PartitionName")]


def needs_node_gpus(parts: list[Partition]) -> bool:
    """Sites that leave gres/gpu out of AccountingStorageTRES (a setting of the whole cluster) have no GPU in
    any partition's TRES, while the nodes' Gres= lists them. Where one partition's TRES counts GPUs, the site
    tracks them, and a partition with none has none: the nodes need not be asked."""
    return not any(p.total_gpus for p in parts) and any(p.nodes for p in parts)


def with_node_gpus(parts: list[Partition], nodes: list[Node]) -> list[Partition]:
    """Partitions whose TRES names no GPU get the sum of their nodes' configured GPUs (Gres=)."""
    by_name = {n.name: n for n in nodes}
    return [p if p.total_gpus else replace(p, total_gpus=sum(by_name[n].gpu_total for n in p.nodes if n in by_name))
            for p in parts]


def _exit_code(value: str | None) -> tuple[int | None, int | None]:
    """'1:0' -> (1, 0); '0:9' -> (0, 9) (killed by signal 9)."""
    m = re.match(r"^(\d+):(\d+)$", (value or "").strip())
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def _strip_uid(value: str) -> str:
    return re.sub(r"\(\d+\)$", "", value or "")


def parse_job_record(rec: dict[str, str], node_gres: list[tuple[str, str]] | None = None) -> JobDetails:
    reason = rec.get("Reason", "")
    num_nodes = _int(rec.get("NumNodes"))
    gpus = gres.job_gpus(rec.get("AllocTRES") or rec.get("TRES") or rec.get("ReqTRES"), num_nodes,
                         rec.get("TresPerJob"), rec.get("TresPerNode"), rec.get("JOB_GRES"), rec.get("TresPerTask"))
    array_job, array_task = rec.get("ArrayJobId"), rec.get("ArrayTaskId")
    job_id = detail_job_id(rec)
    job = Job(
        job_id=job_id,
        name=rec.get("JobName", ""),
        user=_strip_uid(rec.get("UserId", "")),
        state=job_state(rec.get("JobState"), reason),
        native_state=rec.get("JobState", ""),
        partition=rec.get("Partition", ""),
        account=rec.get("Account", ""),
        qos=rec.get("QOS", ""),
        num_nodes=num_nodes,
        num_cpus=_int(rec.get("NumCPUs")),
        node_list="" if rec.get("NodeList") in _EMPTY else rec.get("NodeList", ""),
        reason="" if reason == "None" else reason,
        time_used=rec.get("RunTime", ""),
        time_limit=rec.get("TimeLimit", ""),
        submit_time=epoch_to_iso(rec.get("SubmitTime", "")),
        start_time=epoch_to_iso(rec.get("StartTime", "")),
        gpus=gpus,
        array_job_id=array_job if array_task not in _EMPTY else None,
        array_task_id=array_task if array_task not in _EMPTY else None,
        priority=_int(rec.get("Priority"), 0) if rec.get("Priority") else None,
    )
    code, sig = _exit_code(rec.get("ExitCode"))
    return JobDetails(
        job=job,
        exit_code=code,
        signal=sig,
        work_dir=rec.get("WorkDir", ""),
        stdout_path=rec.get("StdOut", ""),
        stderr_path=rec.get("StdErr", ""),
        command="" if rec.get("Command") in _EMPTY else rec.get("Command", ""),
        comment="" if rec.get("Comment") in _EMPTY else rec.get("Comment", ""),
        dependency="" if rec.get("Dependency") in _EMPTY else rec.get("Dependency", ""),
        end_time=epoch_to_iso(rec.get("EndTime", "")),
        memory=rec.get("MinMemoryNode") or rec.get("MinMemoryCPU", ""),
        tres=rec.get("AllocTRES") or rec.get("TRES") or rec.get("ReqTRES", ""),
        gpu_indices=gres.indices_per_node(node_gres) if node_gres else gres.gpu_indices(rec.get("GRES")),
        reason_explained=explain_reason(reason) if job.state.final is False else "",
        source="controller",
        raw=rec,
    )


def parse_jobs_detail(text: str) -> list[JobDetails]:
    return [parse_job_record(parse_kv_record(r), gres.detail_lines(r)) for r in split_records(text, "JobId")]


def parse_squeue(text: str) -> list[Job]:
    """Records of the pinned squeue format (SQUEUE_FIELDS, RS after each record), or of the legacy `-o`
    layout (LEGACY_SQUEUE_KEYS, a newline after each record) when no record terminator is present."""
    if is_pinned(text):
        return [job_from_record(r) for r in squeue.records(text, len(SQUEUE_KEYS))]
    return [_job_from_row(dict(zip(LEGACY_SQUEUE_KEYS, cols, strict=True)))
            for cols in split_sep_records(text, len(LEGACY_SQUEUE_KEYS))]


def is_pinned(text: str) -> bool:
    return RS + "\n" in text or text.endswith(RS)


def job_from_record(record: str) -> Job:
    """One record of the pinned format: its fields joined by SEP (the name, last, may hold SEP itself)."""
    return _job_from_row(dict(zip(SQUEUE_KEYS, record.split(SEP, len(SQUEUE_KEYS) - 1), strict=True)))


def squeue_reader() -> squeue.SqueueReader:
    """parse_squeue for one cluster's successive outputs: rows unchanged since the last two are not parsed
    again (see slurm_squeue). The legacy layout is only read from recorded outputs, never asked for."""
    return squeue.SqueueReader(len(SQUEUE_KEYS), job_from_record)


def _job_from_row(row: dict[str, str]) -> Job:
    reason = row["reason"]
    num_nodes = _int(row["num_nodes"])
    gpus = gres.job_gpus(row.get("tres_alloc"), num_nodes, row.get("tres_per_job"), row["gres"])
    task = row["array_task_id"]
    return Job(
        job_id=row["job_id"],
        name=row["name"],
        user=row["user"],
        state=job_state(row["state"], reason),
        native_state=row["state"],
        partition=row["partition"],
        account=row["account"],
        qos=row["qos"],
        num_nodes=num_nodes,
        num_cpus=_int(row["num_cpus"]),
        node_list=row["node_list"],
        reason="" if reason == "None" else reason,
        time_used=row["time_used"],
        time_limit=row["time_limit"],
        submit_time=epoch_to_iso(row["submit_time"]),
        start_time=epoch_to_iso(row["start_time"]),
        gpus=gpus,
        array_job_id=row["array_job_id"] if task not in _EMPTY else None,
        array_task_id=task if task not in _EMPTY else None,
        priority=_int(row["priority"]) if row["priority"].isdigit() else None,
        dependency="" if row["dependency"] in _EMPTY else row["dependency"],
    )


# slurmdbd's stand-in name for a job whose name it has not heard yet (as_mysql_job.c: `jname = "allocation"`).
# A job that ends within seconds of starting can reach accounting by its completion message first; sacct then
# says "allocation" until slurmctld's start message (with the name) is applied, a few seconds later.
DBD_UNNAMED = "allocation"


def parse_sacct(text: str) -> list[JobRecord]:
    """Rows of `sacct -P --delimiter=SEP -o SACCT_FIELDS`; steps (123.batch, 123.0) fold into their job."""
    jobs: dict[str, JobRecord] = {}
    steps: dict[str, list[JobStep]] = {}
    order: list[str] = []
    fields = sacct_layout(text)
    for cols in split_sep_records(text, len(fields)):
        row = dict(zip(fields, cols, strict=True))
        row.setdefault("Comment", "")
        job_id, _, step = row["JobID"].partition(".")
        code, sig = _exit_code(row["ExitCode"])
        if step:
            steps.setdefault(job_id, []).append(
                JobStep(step_id=row["JobID"], name=row["JobName"], state=job_state(row["State"]),
                        native_state=row["State"], exit_code=code, signal=sig, elapsed=row["Elapsed"],
                        max_rss=row["MaxRSS"])
            )
            continue
        order.append(job_id)
        jobs[job_id] = JobRecord(
            job_id=job_id, name=row["JobName"], user=row["User"], state=job_state(row["State"]),
            native_state=row["State"], partition=row["Partition"], account=row["Account"],
            exit_code=code, signal=sig, submit_time=epoch_to_iso(row["Submit"]),
            start_time=epoch_to_iso(row["Start"]), end_time=epoch_to_iso(row["End"]),
            elapsed=row["Elapsed"], time_limit=row["Timelimit"], num_nodes=_int(row["NNodes"]),
            node_list="" if row["NodeList"].startswith("None") else row["NodeList"],
            alloc_tres=row["AllocTRES"], gpus=gres.parse_gpus(row["AllocTRES"]), req_mem=row["ReqMem"], max_rss=row["MaxRSS"],
            reason="" if row["Reason"] == "None" else row["Reason"], work_dir=row["WorkDir"],
            comment=row["Comment"],
        )
    return [_with_steps(jobs[j], steps.get(j, [])) for j in order]


# The layout pinned before Comment was added; recorded outputs of it are still read.
LEGACY_SACCT_FIELDS = tuple(f for f in SACCT_FIELDS if f != "Comment")


def sacct_layout(text: str) -> tuple[str, ...]:
    """The fields of a pinned sacct output: its header when present (sacct_argv asks for it), else the
    current layout, or the legacy one when the first record has exactly its number of separators."""
    first = text.split("\n", 1)[0]
    if first.startswith("JobID" + SEP):  # column titles may differ from the names asked for: count them
        return LEGACY_SACCT_FIELDS if first.count(SEP) == len(LEGACY_SACCT_FIELDS) - 1 else SACCT_FIELDS
    return LEGACY_SACCT_FIELDS if first.count(SEP) == len(LEGACY_SACCT_FIELDS) - 1 else SACCT_FIELDS


def _with_steps(record: JobRecord, steps: list[JobStep]) -> JobRecord:
    if not steps:
        return record
    rss = max((mem_mb(s.max_rss) for s in steps), default=0)
    return replace(record, steps=tuple(steps), max_rss=record.max_rss or (f"{rss}M" if rss else ""))


def parse_submit(text: str) -> str:
    """`sbatch --parsable` prints 'jobid' or 'jobid;cluster'."""
    for line in text.splitlines():
        m = re.match(r"^\s*([0-9]+)(?:;\S+)?\s*$", line)
        if m:
            return m.group(1)
    m = re.search(r"Submitted batch job ([0-9]+)", text)
    return m.group(1) if m else ""


def parse_version(text: str) -> str:
    """'slurm 22.05.8' / 'slurm-wlm 22.05.8' -> '22.05.8'."""
    m = re.search(r"([0-9]+\.[0-9]+(?:\.[0-9]+)?)", text)
    return m.group(1) if m else ""


def parse_job_text(text: str) -> dict[str, dict[str, str]]:
    """job id -> {work_dir, comment, name} from job_text_argv's answer."""
    keys = tuple(k for k, _ in JOB_TEXT_FIELDS)
    rows = (dict(zip(keys, cols, strict=True)) for cols in split_sep_records(text, len(keys), RS + "\n"))
    return {r["job_id"]: {**r, "comment": "" if r["comment"] == "(null)" else r["comment"]} for r in rows}


def with_job_text(details: JobDetails, text: dict[str, str] | None) -> JobDetails:
    """Details whose name, work dir and comment are the byte-exact ones of parse_job_text."""
    if not text:
        return details
    return replace(details, job=replace(details.job, name=text["name"]), work_dir=text["work_dir"],
                   comment=text["comment"])
