"""Fairshare (sshare), priority factors (sprio) and start estimates (squeue --start): argv and readers.

Pure. sshare(1) `--parsable --long`: '|'-separated with a header naming the columns (read by name: Slurm
adds columns between versions); the Account column is indented one space per level of the tree. A LevelFS
of `inf` means no usage yet; an empty FairShare is an account's own row. sprio(1) `--format` with our own '|'
separator: one line per job and partition; the weighted factors are the parts of the priority, the normalised
ones the same before their weights (0..1). An unknown value degrades to None, never an exception.
"""

from __future__ import annotations

import math

from ...standing import PriorityRow, ShareRow, StartEstimate

# sprio's format letters: weighted (upper case) and normalised (lower case) per factor. Site (%S) and
# association (%B/%b) factors exist from 22.05 on; their columns read 0 where the site weighs nothing.
SPRIO_FIELDS = (("i", "job_id"), ("u", "user"), ("r", "partition"), ("Y", "priority"),
                ("A", "w:age"), ("a", "n:age"), ("F", "w:fairshare"), ("f", "n:fairshare"),
                ("J", "w:job_size"), ("j", "n:job_size"), ("P", "w:partition"), ("p", "n:partition"),
                ("Q", "w:qos"), ("q", "n:qos"), ("S", "w:site"), ("N", "w:nice"))
SPRIO_FORMAT = "|".join(f"%{letter}" for letter, _ in SPRIO_FIELDS)


def sshare_argv(user: str) -> list[str]:
    """The user's associations and the accounts above them."""
    return ["sshare", "--parsable", "--long", "--users", user]


def default_account_argv(user: str) -> list[str]:
    return ["sacctmgr", "--noheader", "--parsable2", "show", "user", user, "format=DefaultAccount"]


def sprio_jobs_argv(job_ids: list[str]) -> list[str]:
    return ["sprio", "--noheader", "--format", SPRIO_FORMAT, "--jobs", ",".join(job_ids)]


def sprio_partition_argv(partition: str) -> list[str]:
    """Every pending job that may run in the partition (every user's, unless PrivateData hides them)."""
    return ["sprio", "--noheader", "--format", SPRIO_FORMAT, "--partition", partition]


def start_argv(job_id: str) -> list[str]:
    """squeue --start: the expected start (%S) and the nodes it expects (%Y, SCHEDNODES)."""
    return ["squeue", "--start", "--noheader", "--jobs", job_id, "--format", "%S|%Y"]


def _float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int(text: str) -> int | None:
    value = _float(text)
    return int(value) if value is not None else None


def parse_sshare(text: str) -> list[ShareRow]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or "|" not in lines[0]:
        return []
    header = [h.strip() for h in lines[0].split("|")]
    rows = []
    for line in lines[1:]:
        cells = dict(zip(header, line.split("|"), strict=False))
        account = cells.get("Account", "")
        rows.append(ShareRow(
            account=account.strip(), user=cells.get("User", "").strip(),
            depth=len(account) - len(account.lstrip(" ")), raw_shares=cells.get("RawShares", "").strip(),
            norm_shares=_float(cells.get("NormShares", "")), raw_usage=_int(cells.get("RawUsage", "")),
            effective_usage=_float(cells.get("EffectvUsage", "")), fairshare=_float(cells.get("FairShare", "")),
            level_fs=_float(cells.get("LevelFS", ""))))
    return rows


def parse_sprio(text: str) -> list[PriorityRow]:
    rows = []
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) != len(SPRIO_FIELDS):
            continue  # a message line ("You are not running a supported priority plugin"), not a job
        values = {name: cell.strip() for (_, name), cell in zip(SPRIO_FIELDS, cells, strict=True)}
        priority = _int(values["priority"])
        if priority is None:
            continue
        weighted = {k[2:]: v for k, raw in values.items() if k.startswith("w:") and (v := _float(raw)) is not None}
        normalized = {k[2:]: v for k, raw in values.items() if k.startswith("n:") and (v := _float(raw)) is not None}
        rows.append(PriorityRow(values["job_id"], values["user"], values["partition"], priority, weighted, normalized))
    return rows


def parse_start(text: str) -> StartEstimate:
    """The first line of `squeue --start -h -o %S|%Y`; N/A and Unknown mean no estimate, (null) no nodes."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    start, _, nodes = first.partition("|")
    start, nodes = start.strip(), nodes.strip()
    return StartEstimate("" if start in ("N/A", "Unknown", "") else start,
                         "" if nodes in ("(null)", "N/A", "") else nodes)


def no_priority_plugin(text: str) -> bool:
    """sprio's words when the controller runs priority/basic (every job the same priority)."""
    return "not running a supported priority plugin" in text
