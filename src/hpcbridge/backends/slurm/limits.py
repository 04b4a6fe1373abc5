"""Association and QOS limits from sacctmgr (pure: argv and parsing; the backend runs them).

`sacctmgr -nP show assoc` prints one row per association: the account's own row (User empty, ParentName set)
and one per user in it. A limit on the account's row holds every user's jobs in that account together (and
an ancestor account's holds its children's): the rows are read up the ParentName chain. Empty fields are
"no limit". Times are Slurm's ([D-]HH:MM:SS), TRES lists `name=value,...` (mem in MB, `gres/gpu:a100=2`
for a typed GPU). Slurm 22.05 lets any user read associations and QOS when PrivateData does not hide them;
`scontrol show assoc_mgr` is also readable there, but sacctmgr's rows are the configured limits on every
version, and what is in use is counted from the queue (services/limits.py).
"""

from __future__ import annotations

from ... import validate
from ..limits import Kind, Limit, Scope

ASSOC_FIELDS = ("Cluster", "Account", "User", "Partition", "ParentName", "QOS", "DefaultQOS", "GrpTRES",
                "GrpTRESMins", "GrpJobs", "GrpSubmitJobs", "MaxTRES", "MaxJobs", "MaxSubmitJobs", "MaxWall")
QOS_FIELDS = ("Name", "MaxWall", "MaxTRES", "MaxTRESPU", "MaxJobsPU", "MaxSubmitPU", "GrpTRES", "GrpJobs",
              "GrpSubmit")

# Slurm's pending reasons (slurm.h, enum job_state_reason), by who sets the limit, its form and the TRES
_TRES_WORD = {"gres/gpu": ("GRES", "GRES"), "cpu": ("CpuLimit", "CpuLimit"), "mem": ("MemLimit", "Mem"),
              "node": ("NodeLimit", "NodeLimit"), "billing": ("Billing", "Billing")}


def assoc_argv(*, user: str | None = None, accounts: list[str] | None = None) -> list[str]:
    where = [f"user={user}"] if user else [f"account={','.join(accounts or [])}"]
    return ["sacctmgr", "-nP", "show", "assoc", "where", *where, f"format={','.join(ASSOC_FIELDS)}"]


def qos_argv() -> list[str]:
    return ["sacctmgr", "-nP", "show", "qos", f"format={','.join(QOS_FIELDS)}"]


def default_account_argv(user: str) -> list[str]:
    return ["sacctmgr", "-nP", "show", "user", user, "format=DefaultAccount"]


def config_argv() -> list[str]:
    return ["scontrol", "show", "config"]


def cluster_name(config: str) -> str:
    """ClusterName from `scontrol show config`: one slurmdbd may keep several clusters' associations."""
    for line in config.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ClusterName":
            return value.strip()
    return ""


def rows(text: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """sacctmgr -nP rows as dicts; a row with another field count (a message, a newer column) is skipped."""
    out = []
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) == len(fields):
            out.append(dict(zip(fields, (c.strip() for c in cells), strict=True)))
    return out


def tres(text: str) -> dict[str, int]:
    """'cpu=8,gres/gpu=2,mem=64G' -> {'cpu': 8, 'gres/gpu': 2, 'mem': 65536}; a typed GPU keeps its type."""
    out: dict[str, int] = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if not name or not value:
            continue
        try:
            out[name] = validate.memory_mb("mem", value) if name == "mem" else int(value)
        except (ValueError, validate.InvalidParameter):
            continue  # an unknown form degrades to no limit, never an exception
    return out


def _minutes(value: str) -> int | None:
    if not value or value.upper() in ("UNLIMITED", "INFINITE"):
        return None
    try:
        return validate.walltime_minutes("MaxWall", value)
    except validate.InvalidParameter:
        return None


def _count(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def reason(owner: str, name: str, resource: str) -> str:
    """Slurm's reason word for a limit: owner 'Assoc' or 'QOS', the limit's sacctmgr name, the TRES."""
    grp, per_job = _TRES_WORD.get(resource.split(":")[0], ("", ""))
    if name == "MaxWall":
        return f"{owner}MaxWallDurationPerJobLimit"
    if name in ("GrpJobs", "MaxJobs", "MaxJobsPU"):
        return {"GrpJobs": f"{owner}GrpJobsLimit", "MaxJobs": "AssocMaxJobsLimit",
                "MaxJobsPU": "QOSMaxJobsPerUserLimit"}[name]
    if name in ("GrpSubmitJobs", "GrpSubmit", "MaxSubmitJobs", "MaxSubmitPU"):
        return {"MaxSubmitJobs": "AssocMaxSubmitJobLimit", "MaxSubmitPU": "QOSMaxSubmitJobPerUserLimit"}.get(
            name, f"{owner}GrpSubmitJobsLimit")
    if not grp:
        return f"{owner}{name}"
    if name == "GrpTRES":
        return f"{owner}Grp{grp}"
    if name == "GrpTRESMins":
        return f"{owner}Grp{grp.replace('Limit', '')}Minutes" if grp != "CpuLimit" else f"{owner}GrpCPUMinutesLimit"
    if name == "MaxTRESPU":
        return f"QOSMax{per_job.replace('Limit', '')}PerUser" + ("Limit" if per_job.endswith("Limit") else "")
    return f"{owner}Max{per_job.replace('Limit', '')}PerJob" + ("Limit" if per_job.endswith("Limit") else "")


def _limits(row: dict[str, str], owner: str, where: str, scope: Scope, user_scope: Scope, *, account: str = "",
            qos: str = "", partition: str = "") -> list[Limit]:
    out: list[Limit] = []

    def add(name: str, resource: str, value: int | None, kind: Kind, sc: Scope) -> None:
        if value is not None:
            out.append(Limit(name, where, resource, value, kind, sc, reason(owner, name, resource), account=account,
                             qos=qos, partition=partition))

    for name, kind, sc in (("GrpTRES", "shared", scope), ("GrpTRESMins", "minutes", scope),
                           ("MaxTRES", "per_job", scope), ("MaxTRESPU", "shared", user_scope)):
        for resource, value in tres(row.get(name, "")).items():
            add(name, resource, value, kind, sc)  # type: ignore[arg-type]
    add("GrpJobs", "jobs", _count(row.get("GrpJobs", "")), "running_jobs", scope)
    add("MaxJobs", "jobs", _count(row.get("MaxJobs", "")), "running_jobs", user_scope)
    add("MaxJobsPU", "jobs", _count(row.get("MaxJobsPU", "")), "running_jobs", user_scope)
    for name in ("GrpSubmitJobs", "GrpSubmit"):
        add(name, "jobs", _count(row.get(name, "")), "queued_jobs", scope)
    add("MaxSubmitJobs", "jobs", _count(row.get("MaxSubmitJobs", "")), "queued_jobs", user_scope)
    add("MaxSubmitPU", "jobs", _count(row.get("MaxSubmitPU", "")), "queued_jobs", user_scope)
    add("MaxWall", "wall", _minutes(row.get("MaxWall", "")), "per_job", scope)
    return out


def assoc_limits(assocs: list[dict[str, str]], user: str) -> list[Limit]:
    """The limits of the user's associations and of their accounts up to the root. A user row's MaxJobs and
    Grp* count that user's jobs in the account; an account row's count every user's jobs in it."""
    accounts = {r["Account"]: r for r in assocs if not r["User"]}
    out: list[Limit] = []
    for row in assocs:
        if row["User"] != user:
            continue
        part = row["Partition"]
        where = f"user {user} in account {row['Account']}" + (f", partition {part}" if part else "")
        out += _limits(row, "Assoc", where, "user", "user", account=row["Account"], partition=part)
        seen, parent = set(), accounts.get(row["Account"])
        while parent is not None and parent["Account"] not in seen:
            seen.add(parent["Account"])
            # an ancestor's Grp limits hold every job below it; in use is counted from this account's jobs
            # only (an undercount where sibling accounts share the ancestor's limit)
            out += _limits(parent, "Assoc", f"account {parent['Account']}", "account", "user",
                           account=row["Account"])
            parent = accounts.get(parent["ParentName"])
    return list(dict.fromkeys(out))


def qos_limits(qos: list[dict[str, str]]) -> list[Limit]:
    out: list[Limit] = []
    for row in qos:
        out += _limits(row, "QOS", f"QOS {row['Name']}", "qos", "qos_user", qos=row["Name"])
    return out


def parents_missing(assocs: list[dict[str, str]]) -> list[str]:
    """Accounts named as a parent whose own row has not been read yet."""
    have = {r["Account"] for r in assocs if not r["User"]}
    return sorted({r["ParentName"] for r in assocs if not r["User"] and r["ParentName"]} - have)


def only_qos(allowed: str) -> str:
    """The QOS a job gets with none named and no DefaultQOS: the only one allowed, else Slurm's 'normal'."""
    names = [q for q in allowed.split(",") if q]
    return names[0] if len(names) == 1 else "normal"
