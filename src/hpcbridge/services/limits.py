"""Limits before submitting (issue 28): the login user's association/QOS (Slurm) or server/queue (PBS) limits,
what is in use against them now, and a request judged against them.

A request that a limit keeps pending forever (more GPUs than the account's GrpTRES, longer than the QOS's
MaxWall) is refused before anything is sent, naming the limit in the scheduler's own reason word and the
numbers; a request that fits only once running jobs end is accepted with a note. The limits are read through
Cluster.limits (cached: they change rarely); what is in use is counted from the queue listing hpcbridge
already makes (no extra command).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from .. import validate
from ..backends.limits import AccountLimits, Limit
from ..errors import HpcBridgeError, InfeasibleRequest
from ..models import Job, JobRequest, JobState

if TYPE_CHECKING:
    from .cluster import Cluster

log = logging.getLogger(__name__)

_GPUS, _CPUS, _NODES = ("gres/gpu", "ngpus"), ("cpu", "ncpus"), ("node", "nodect", "nodes")


async def current(c: Cluster) -> AccountLimits:
    """The user's limits, each with what counts against it now (every user's queued jobs, cached briefly)."""
    limits = await c.limits()
    jobs = await c.jobs()
    return replace(limits, limits=tuple(replace(lim, in_use=in_use(lim, jobs, limits.user))
                                        for lim in limits.limits))


def in_use(lim: Limit, jobs: list[Job], user: str) -> int | None:
    """What the limit's scope holds now: running jobs for shared and job-count limits, queued for submit ones."""
    if lim.kind in ("per_job", "minutes"):
        return None
    counted = [j for j in jobs if _in_scope(lim, j, user)
               and (j.state == JobState.RUNNING if lim.kind != "queued_jobs" else not j.state.final)]
    if lim.resource == "jobs":
        return len(counted)
    amounts = [_amount(lim.resource, j) for j in counted]
    return None if any(a is None for a in amounts) else sum(a for a in amounts if a is not None)


def _in_scope(lim: Limit, job: Job, user: str) -> bool:
    if lim.account and job.account != lim.account:
        return False
    if lim.qos and job.qos != lim.qos:
        return False
    if lim.partition and job.partition != lim.partition:
        return False
    return job.user == user if lim.scope in ("user", "qos_user", "queue_user", "server_user") else True


def _amount(resource: str, job: Job) -> int | None:
    base, _, kind = resource.partition(":")
    if base in _GPUS:
        return sum(g.count for g in job.gpus if not kind or g.type == kind)
    if base in _CPUS:
        return job.num_cpus
    if base in _NODES:
        return job.num_nodes
    return None  # memory, billing, licenses: the queue listing does not say


def wanted(resource: str, req: JobRequest, minutes: int | None) -> int | None:
    """What the request asks of a TRES / resource, for the whole job."""
    nodes = req.nodes or 1
    base, _, kind = resource.partition(":")
    if base in _GPUS:
        if kind and req.gpu_type and req.gpu_type != kind:
            return 0
        return max((req.gpus or 0) * nodes, req.gpus_total or 0, (req.gpus_per_task or 0) * (req.ntasks or 1))
    if base in _CPUS:
        return max((req.cpus_per_task or 1) * (req.ntasks or 1), nodes)
    if base in _NODES:
        return nodes
    if base == "mem" and req.memory:
        return validate.memory_mb("memory", req.memory) * nodes
    if base == "wall":
        return minutes
    return None


def applies(lim: Limit, limits: AccountLimits, req: JobRequest) -> bool:
    account = req.account or limits.default_account
    qos = req.qos or limits.default_qos.get(account, "") or "normal"
    if lim.account and lim.account != account:  # an unknown account: only limits on every account
        return False
    if lim.qos and lim.qos != qos:
        return False
    return not (lim.partition and req.partition and lim.partition != req.partition)


async def check(c: Cluster, req: JobRequest) -> list[str]:
    """Refuse what a limit keeps pending forever (InfeasibleRequest naming the limit); notes for a request
    that waits until running jobs end. Limits that cannot be read are not a reason to refuse (logged)."""
    try:
        limits = await current(c)
    except HpcBridgeError as exc:
        log.info("cluster=%s limits not read: %s", c.name, exc)
        return []
    minutes = validate.walltime_minutes("time_limit", req.time_limit) if req.time_limit else None
    notes: list[str] = []
    for lim in nearest(lim for lim in limits.limits if applies(lim, limits, req)):
        note = judge(lim, req, minutes)
        if note:
            notes.append(note)
    return notes


def nearest(limits: Iterable[Limit]) -> list[Limit]:
    """The limits that bind one request. Slurm's resource_limits.html, "Hierarchy": a Max* limit is taken from
    the first level that sets it (the job's QOS, then the user's association, then its account and the
    accounts above, nearest first), so a farther one with the same name and resource does not bind; Grp*
    limits hold at every level. Association limits come ordered user row first, then its ancestors."""
    ordered = sorted(limits, key=lambda lim: 0 if lim.scope.startswith("qos") else 1)  # stable: keeps the rest
    seen: set[tuple[str, str]] = set()
    out: list[Limit] = []
    for lim in ordered:
        key = (lim.name.removeprefix("QOS").removeprefix("Assoc"), lim.resource)
        if lim.name.startswith("Max"):
            if key in seen:
                continue
            seen.add(key)
        out.append(lim)
    return out


def judge(lim: Limit, req: JobRequest, minutes: int | None) -> str:
    """'' when the limit does not stand in the way; a note when it makes the job wait; raises when forever."""
    if lim.kind == "running_jobs":
        if lim.value == 0:
            raise InfeasibleRequest(f"{lim.words()}: no job may run there; use another account or QOS")
        return f"waits: {lim.words()}" if lim.in_use is not None and lim.in_use >= lim.value else ""
    if lim.kind == "queued_jobs":
        if lim.in_use is not None and lim.in_use >= lim.value:
            raise InfeasibleRequest(f"{lim.words()}: the scheduler accepts no more queued jobs there until "
                                    "some of them end")
        return ""
    want = wanted(lim.resource, req, minutes)
    if want is None:
        return ""
    if lim.kind == "minutes":
        if minutes and want and lim.resource != "wall" and want * minutes > lim.value:
            raise InfeasibleRequest(f"{lim.resource}={want} for {minutes} minutes is {want * minutes} "
                                    f"{lim.resource}-minutes, more than {lim.words()}: the job would pend forever")
        return ""
    asked = f"time_limit {validate.format_minutes(want)}" if lim.resource == "wall" else f"{lim.resource}={want}"
    if want > lim.value:
        raise InfeasibleRequest(f"{asked} exceeds {lim.words()}: the job would pend forever; ask for at most "
                                f"{validate.format_minutes(lim.value) if lim.resource == 'wall' else lim.value}")
    if lim.kind == "shared" and lim.in_use is not None and want + lim.in_use > lim.value:
        return (f"{asked} waits until running jobs end: {lim.words()}; {lim.value - lim.in_use} free now")
    return ""


async def holding(c: Cluster, job: Job) -> str:
    """The limits a queued job's reason names (Slurm's word, e.g. AssocGrpGRES; a PBS comment about a queue or
    server limit), with their numbers and what is in use now; '' when the reason is not a limit."""
    code = re.split(r"[,\s(]", job.reason.strip("()"), maxsplit=1)[0]
    slurm_word = code.startswith(("Assoc", "QOS"))
    if not slurm_word and "limit" not in job.reason.lower():
        return ""
    try:
        found = await current(c)
    except HpcBridgeError as exc:
        log.info("cluster=%s limits not read: %s", c.name, exc)
        return ""
    hits = [lim for lim in found.limits
            if (lim.reason == code if slurm_word else lim.kind in ("shared", "running_jobs"))
            and (not lim.account or not job.account or lim.account == job.account)
            and (not lim.qos or not job.qos or lim.qos == job.qos)
            and (not lim.partition or lim.partition == job.partition)]
    return "; ".join(lim.words() for lim in hits)


def render(limits: AccountLimits, cluster: str) -> str:
    head = f"limits for {limits.user} on {cluster}" + (f" ({limits.source})" if limits.source else "")
    if limits.default_account:
        head += f"; default account {limits.default_account}"
    lines = [head]
    lines += [f"- {lim.words()}" + (f" [{', '.join(_applies_to(lim))}]" if _applies_to(lim) else "")
              for lim in limits.limits]
    if not limits.limits:
        lines.append("no limit is set for you: only the partitions' own limits and policy apply")
    lines += [f"note: {n}" for n in limits.notes]
    return "\n".join(lines)


def _applies_to(lim: Limit) -> list[str]:
    return [f"{k} {v}" for k, v in (("account", lim.account), ("QOS", lim.qos), ("partition", lim.partition))
            if v and v not in lim.where]
