"""Record framing of Slurm's text outputs, where job names, comments, work dirs and reasons are free text.

A Slurm job name may hold anything but NUL: blanks, `=`, `|`, tabs, newlines, non-ASCII, even 0x1f and 0x1e
(sbatch 22.05 takes them all, checked on the test cluster). So the readers here never split on lines or
strip values blindly:

- squeue (`-O field:0<SEP>`, see SQUEUE_FIELDS in slurm_text): fixed fields (ids, states, numbers, TRES)
  first, the free-text fields last, the name very last, each record ended by RS + newline. Fixed fields
  cannot hold SEP or a newline, so they are read by counting separators; the last field runs to the first
  RS + newline that is followed by the end or by the start of another record. Still ambiguous: a free-text
  field other than the last that holds SEP itself (a work dir with 0x1f), and a last field holding
  RS + newline + digits + SEP.
- sacct (`--parsable2 --delimiter SEP`, no record terminator): the same, with a bare newline as the end of a
  record; a name holding newline + digits + SEP is ambiguous.
- scontrol `Key=value` records: there is no escaping at all. See parse_kv_record for how free-text values
  are bounded and what stays ambiguous; hpcbridge takes the free text of a queued job from squeue instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

SEP = "\x1f"  # between fields
RS = "\x1e"  # after the last field of a squeue record
# A record starts with a job id (123, 123_4, 123_[1-9%2], 123+0, 123.batch) and its separator.
_RECORD_START = re.compile(r"[0-9]+[0-9_\[\]%,+.\-A-Za-z]*" + SEP)


def begins_record(text: str) -> bool:
    return _RECORD_START.match(text) is not None


def _starts_record(text: str, pos: int) -> bool:
    return pos >= len(text) or bool(_RECORD_START.match(text, pos))


def split_sep_records(text: str, width: int, end: str = "\n") -> Iterator[list[str]]:
    """Records of `width` SEP-separated fields, each ended by `end` (RS + newline, or a newline), where the
    last field may hold anything, including newlines and SEP. Lines that do not start a record (an error
    message mixed into stdout, a header) are skipped."""
    pos, size = 0, len(text)
    while pos < size:
        if not _RECORD_START.match(text, pos):
            nl = text.find("\n", pos)
            pos = size if nl < 0 else nl + 1
            continue
        fields, cur = [], pos
        for _ in range(width - 1):
            nxt = text.find(SEP, cur)
            if nxt < 0:
                return
            fields.append(text[cur:nxt])
            cur = nxt + 1
        stop = text.find(end, cur)
        while stop >= 0 and not _starts_record(text, stop + len(end)):
            stop = text.find(end, stop + 1)
        if stop < 0:  # the output's last record without its terminator
            last = text[cur:]
            fields.append(last.removesuffix("\n"))
            yield fields
            return
        fields.append(text[cur:stop])
        yield fields
        pos = stop + len(end)


# --- scontrol Key=value records -------------------------------------------------------------------------

# Values that are free text: a name like `train lr=0.1 bs=64` must not become three keys.
FREE_TEXT = frozenset({
    "JobName", "Comment", "AdminComment", "SystemComment", "WorkDir", "StdErr", "StdIn", "StdOut", "Command",
    "Reason", "OS", "Features", "ActiveFeatures", "AvailableFeatures", "Extra",
})
# Keys scontrol prints (show job/node/partition, 19.05-25.x). After a free-text value only these end it.
KNOWN_KEYS = frozenset(["Account", "AccrueTime", "ActiveFeatures", "AdminComment", "AllocMem", "AllocNode:Sid", "AllocTRES", "AllowAccounts", "AllowGroups", "AllowQos", "Alternate", "Arch", "ArrayJobId", "ArrayTaskId", "ArrayTaskThrottle", "AveWatts", "BatchFlag", "BatchHost", "Boards", "BootTime", "BurstBuffer", "CPUAlloc", "CPUEfctv", "CPULoad", "CPUTot", "CPU_IDs", "CPUs/Task", "CapWatts", "CfgTRES", "ClusterFeatures", "Command", "Comment", "Contiguous", "CoreSpec", "CoresPerSocket", "CpuBind", "CpusPerTres", "CurrentWatts", "DefMemPerCPU", "DefMemPerNode", "DefaultTime", "Deadline", "Default", "DelayBoot", "DenyAccounts", "DenyQos", "Dependency", "DerivedExitCode", "DisableRootJobs", "EligibleTime", "EndTime", "ExcNodeList", "ExclusiveUser", "ExitCode", "ExtSensorsJoules", "ExtSensorsTemp", "ExtSensorsWatts", "Extra", "Features", "FedActiveSiblings", "FedOrigin", "FedViableSiblings", "FreeMem", "GRES", "Gres", "GresDrain", "GresEnforceBind", "GresUsed", "GraceTime", "GroupId", "Hidden", "HetJobId", "HetJobIdSet", "HetJobOffset", "InstanceId", "InstanceType", "JOB_GRES", "JobId", "JobName", "JobState", "LLN", "LastBusyTime", "LastSchedEval", "LicensesAlloc", "Licenses", "MCS_label", "MailType", "MailUser", "MaxCPUsPerNode", "MaxCPUsPerSocket", "MaxMemPerCPU", "MaxMemPerNode", "MaxNodes", "MaxTime", "Mem", "MemPerTres", "MinCPUsNode", "MinMemoryCPU", "MinMemoryNode", "MinNodes", "MinTmpDiskNode", "Network", "Nice", "NodeAddr", "NodeHostName", "NodeList", "NodeName", "NodeSets", "Nodes", "NtasksPerN:B:S:C", "NumCPUs", "NumNodes", "NumTasks", "OS", "OverSubscribe", "OverTimeLimit", "Owner", "Partition", "PartitionName", "Partitions", "Power", "PowerDownOnIdle", "PreemptEligibleTime", "PreemptMode", "PreemptTime", "Priority", "PriorityJobFactor", "PriorityTier", "QOS", "QoS", "RealMemory", "Reason", "ReqB:S:C:T", "ReqNodeList", "ReqTRES", "Reboot", "Requeue", "Reservation", "Restarts", "ResumeAfterTime", "ResizeTime", "RootOnly", "RunTime", "Scheduler", "SecsPreSuspend", "SelectTypeParameters", "SlurmdStartTime", "Sockets", "Socks/Node", "SpecNodeList", "State", "StdErr", "StdIn", "StdOut", "SubmitTime", "SuspendTime", "SystemComment", "TRES", "ThreadsPerCore", "TimeLimit", "TimeMin", "TmpDisk", "TotalCPUs", "TotalNodes", "TresBind", "TresFreq", "TresPerJob", "TresPerNode", "TresPerSocket", "TresPerTask", "TresWeights", "UserId", "Version", "Weight", "WorkDir"])

_KEY = r"[A-Za-z][A-Za-z0-9_:/().]*"
_CANDIDATE = re.compile(rf" +(?=({_KEY})=)")
# The multi-line form (scontrol without -o) puts pairs on lines indented by three blanks.
_CONTINUATION = re.compile(rf" *\n[ \t]+(?={_KEY}=)")


def parse_kv_record(text: str) -> dict[str, str]:
    """One scontrol record, one-line (-o) or multi-line -> {key: value}; the first occurrence of a key wins.

    scontrol prints values unquoted and unescaped. A pair ends where blanks are followed by a key-shaped
    word and '='; after a free-text key (FREE_TEXT) only a KNOWN_KEYS key ends it, so `JobName=train lr=0.1
    bs=64 UserId=...` is one name. Newlines inside a value are kept (the one-line form has no other newlines).
    Still ambiguous, and recovered elsewhere: a free-text value holding ' <KnownKey>=' (cut there), a value's
    trailing blanks (scontrol separates pairs by one or two blanks), and a value's newline followed by an
    indented 'Key=' (read as the multi-line form)."""
    flat = _CONTINUATION.sub(" ", text.strip("\n").lstrip(" "))
    record: dict[str, str] = {}
    key, start = flat.partition("=")[0], 0
    for m in _CANDIDATE.finditer(flat):
        nxt = m.group(1)
        if key in FREE_TEXT and (nxt not in KNOWN_KEYS or nxt in record or nxt == key):
            continue
        _store(record, flat[start:m.start()])
        key, start = nxt, m.end()
    _store(record, flat[start:])
    return record


def _store(record: dict[str, str], pair: str) -> None:
    key, sep, value = pair.partition("=")
    if sep and key and key not in record:
        record[key] = value.rstrip(" ")


def split_records(text: str, first_key: str) -> list[str]:
    """Split `scontrol show X` output into records that each start with `first_key=` at a line start. A
    free-text value with a newline followed by `first_key=` would start a record: ambiguous, and rare."""
    chunks = re.split(rf"(?m)^(?={re.escape(first_key)}=)", text)
    return [c for c in chunks if c.strip().startswith(f"{first_key}=")]
