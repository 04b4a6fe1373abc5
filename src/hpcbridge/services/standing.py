"""get_fairshare and get_job_priority: where the user and a pending job stand with the scheduler (issue 28).

Fairshare: the user's factor in each of its accounts (what the priority weighs) beside the account's own
standing among its siblings. A job: its priority in parts (biggest first), its rank among the pending jobs
that may run in its partition (ties go to the older job id, as the scheduler breaks them) and the
scheduler's start estimate. Three commands at most per question, none cached (a job's standing moves).
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import HpcBridgeError
from ..models import Job, JobState
from ..standing import (
    FACTOR_WORDS,
    AccountShare,
    Factor,
    Fairshare,
    JobStanding,
    PriorityRow,
    ShareRow,
    StartEstimate,
)
from .cluster import Cluster


async def fairshare(cluster: Cluster, user: str | None = None) -> Fairshare:
    who = await cluster.resolve_user(user or "me") or await cluster.user()
    if not cluster.capabilities.fairshare:
        raise cluster.refuse("fairshare", "ask the site how it shares the machine")
    rows, default = await cluster.fairshare(who)
    accounts = [_account_share(rows, r, default) for r in rows if r.user == who]
    note = "" if accounts else f"{who} has no association in the scheduler's fairshare tree on {cluster.name}"
    return Fairshare(cluster.name, who, sorted(accounts, key=lambda a: (not a.default, a.account)), note)


def _account_share(rows: list[ShareRow], mine: ShareRow, default: str) -> AccountShare:
    account = next((r for r in rows if r.account == mine.account and not r.user), None)
    return AccountShare(
        account=mine.account, fairshare=mine.fairshare, user_shares=mine.norm_shares,
        user_usage=mine.effective_usage, user_raw_usage=mine.raw_usage,
        account_shares=account.norm_shares if account else None,
        account_usage=account.effective_usage if account else None,
        account_level_fs=account.level_fs if account else None, default=mine.account == default)


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_fairshare(f: Fairshare) -> str:
    lines = [f"fairshare of {f.user} on {f.cluster} (factor 0..1: 1 = used nothing lately, higher starts sooner)"]
    for a in f.accounts:
        level = "no usage yet" if a.account_level_fs is None else f"level {a.account_level_fs:.2f}"
        lines.append(f"{a.account}{' (default)' if a.default else ''}: fairshare {_num(a.fairshare)}, "
                     f"your usage {_num(a.user_usage)} of the account (shares {_num(a.user_shares)}); "
                     f"account usage {_num(a.account_usage)}, shares {_num(a.account_shares)}, {level}")
    if f.note:
        lines.append(f.note)
    return "\n".join(lines)


def rank_of(rows: list[PriorityRow], job_id: str) -> int | None:
    """1 + the pending jobs before it: higher priority, or equal priority and an older (smaller) id."""
    mine = next((r for r in rows if r.job_id == job_id), None)
    if mine is None:
        return None
    key = _order(mine)
    return 1 + sum(1 for r in {r.job_id: r for r in rows}.values() if r.job_id != job_id and _order(r) < key)


def _order(row: PriorityRow) -> tuple[int, int, str]:
    head = row.job_id.split("_")[0]
    return (-row.priority, int(head) if head.isdigit() else 0, row.job_id)


def factors_of(row: PriorityRow) -> list[Factor]:
    named = [Factor(k, v, row.normalized.get(k)) for k, v in row.weighted.items() if v]
    return sorted(named, key=lambda f: -abs(f.weighted))


async def job_standing(cluster: Cluster, job_id: str) -> JobStanding:
    details = await cluster.job_details(job_id)
    job = details.job
    if job.state not in (JobState.PENDING, JobState.HELD):
        said = f"job {job.job_id} is {job.state.value}: only a pending job has a priority rank and a start estimate"
        base = JobStanding(cluster.name, job.job_id, job.state.value, job.partition, reason=job.reason)
        return _with_summary(base, [said])
    return await standing_of(cluster, job, await cluster.start_estimate(job.job_id))


async def standing_of(cluster: Cluster, job: Job, estimate: StartEstimate) -> JobStanding:
    """A pending job's priority, factors and rank (two sprio calls at most), with the estimate given."""
    notes: list[str] = []
    priority, factors, rank, pending = None, [], None, 0
    if cluster.capabilities.priority_factors:
        try:
            partition = job.partition.split(",")[0]
            rows = [r for r in await cluster.priority(partition=partition) if r.partition == partition]
            mine = next((r for r in rows if r.job_id == job.job_id), None)
            if mine is None:  # held jobs and jobs another filter hides: ask for it alone
                mine = next(iter(await cluster.priority(job_ids=[job.job_id])), None)
            if mine is not None:
                priority, factors = mine.priority, factors_of(mine)
                rank, pending = rank_of(rows, job.job_id), len({r.job_id for r in rows})
        except HpcBridgeError as exc:
            notes.append(exc.message)
    else:
        notes.append(f"{cluster.scheduler} shows no priority factors to users")
    standing = JobStanding(cluster.name, job.job_id, job.state.value, job.partition, priority, factors,
                           factors[0].name if factors else "", rank, pending, estimate.start, estimate.nodes,
                           job.reason)
    return _with_summary(standing, notes)


def _with_summary(s: JobStanding, notes: list[str]) -> JobStanding:
    return replace(s, summary=summarize(s), notes=notes)


def priority_words(s: JobStanding) -> str:
    """'priority 1,204, rank 37 of 40 pending in gpu; fairshare 0.12 is the biggest factor (1,200 of it)'."""
    parts = []
    if s.priority is not None:
        parts.append(f"priority {s.priority:,}" + (f", rank {s.rank} of {s.pending_in_partition} pending in "
                                                   f"{s.partition}" if s.rank else ""))
    if s.factors:
        top = s.factors[0]
        value = f" {top.normalized:.2f}" if top.normalized is not None else ""
        parts.append(f"{top.name.replace('_', ' ')}{value} is the biggest factor ({top.weighted:,.0f} of it)")
    return "; ".join(parts)


def summarize(s: JobStanding) -> str:
    """The priority words, then the expected start (and nodes) or that the scheduler gives none."""
    when = (f"expected start {s.estimated_start}" + (f" on {s.estimated_nodes}" if s.estimated_nodes else "")
            if s.estimated_start else "no start estimate from the scheduler")
    return "; ".join(p for p in (priority_words(s), when) if p)


def render_standing(s: JobStanding) -> str:
    lines = [f"job {s.job_id} on {s.cluster}: {s.state}" + (f" ({s.reason})" if s.reason and s.reason != "None"
                                                             else "")]
    if s.state in (JobState.PENDING.value, JobState.HELD.value):
        lines.append(s.summary)
    for f in s.factors:
        norm = f" (normalised {f.normalized:.3f})" if f.normalized is not None else ""
        lines.append(f"  {FACTOR_WORDS.get(f.name, f.name)}: {f.weighted:,.0f}{norm}")
    lines.extend(f"note: {n}" for n in s.notes)
    return "\n".join(lines)
