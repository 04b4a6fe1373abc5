"""get_team_usage: GPUs and jobs running and pending per user and per account, who holds each GPU type, the
login user's share, the configured team highlighted.

Read from the queue hpcbridge already has, at no extra scheduler command: the queue watcher's last snapshot
when it is fresh (someone is waiting on a job), else the cached whole-queue listing list_jobs shares
(cache_ttl). Both are the scheduler-neutral `Job` list, so Slurm and PBS read the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .. import validate
from ..models import Job, JobState
from .cluster import Cluster
from .waiting import running_watcher

UNTYPED = "gpu"  # GPUs of a site that does not type its GRES


@dataclass(frozen=True)
class UsageRow:
    name: str  # a user or an account
    running_jobs: int = 0
    pending_jobs: int = 0
    gpus_running: int = 0
    gpus_pending: int = 0
    gpus_by_type: dict[str, int] = field(default_factory=dict)  # running GPUs per type
    team: bool = False  # a user of the configured team, or an account one of them runs in
    me: bool = False


@dataclass(frozen=True)
class GpuHolders:
    gpu_type: str
    running: int
    holders: dict[str, int]  # user -> GPUs of this type running, most first


@dataclass(frozen=True)
class TeamUsage:
    cluster: str
    user: str
    team: list[str]
    users: list[UsageRow]
    accounts: list[UsageRow]
    gpu_types: list[GpuHolders]
    gpus_running: int
    jobs_running: int
    jobs_pending: int
    my_gpus: int
    my_share_percent: float | None  # of the GPUs running on the cluster now
    team_gpus: int
    team_share_percent: float | None
    source: str  # which listing the numbers come from


def _gpus(job: Job) -> dict[str, int]:
    out: Counter[str] = Counter()
    for g in job.gpus:
        out[g.type or UNTYPED] += g.count
    return dict(out)


@dataclass
class _Tally:
    running_jobs: int = 0
    pending_jobs: int = 0
    gpus_running: int = 0
    gpus_pending: int = 0
    by_type: Counter[str] = field(default_factory=Counter)


def _rows(jobs: list[Job], key: str, team: set[str], me: str, team_accounts: set[str]) -> list[UsageRow]:
    tally: dict[str, _Tally] = {}
    for job in jobs:
        t = tally.setdefault(getattr(job, key) or "-", _Tally())
        gpus = _gpus(job)
        if job.state is JobState.RUNNING:
            t.running_jobs += 1
            t.gpus_running += sum(gpus.values())
            t.by_type.update(gpus)
        else:
            t.pending_jobs += 1
            t.gpus_pending += sum(gpus.values())
    rows = [UsageRow(name, t.running_jobs, t.pending_jobs, t.gpus_running, t.gpus_pending, dict(t.by_type),
                     name in team if key == "user" else name in team_accounts, key == "user" and name == me)
            for name, t in tally.items()]
    rows.sort(key=lambda r: (-r.gpus_running, -r.running_jobs, -r.gpus_pending, -r.pending_jobs, r.name))
    return rows


def summarize(cluster: str, jobs: list[Job], me: str, team: list[str], source: str) -> TeamUsage:
    """The numbers from a queue listing (pure): running and pending jobs only (HELD counts as pending)."""
    live = [j for j in jobs if j.state in (JobState.RUNNING, JobState.PENDING, JobState.HELD)]
    members = set(team) | ({me} if team else set())
    team_accounts = {j.account for j in live if j.user in members and j.account}
    users = _rows(live, "user", members, me, team_accounts)
    accounts = _rows(live, "account", members, me, team_accounts)
    holders: dict[str, Counter[str]] = {}
    for job in live:
        if job.state is JobState.RUNNING:
            for gtype, n in _gpus(job).items():
                holders.setdefault(gtype, Counter())[job.user] += n
    types = sorted((GpuHolders(t, sum(c.values()), dict(c.most_common())) for t, c in holders.items()),
                   key=lambda h: (-h.running, h.gpu_type))
    total = sum(r.gpus_running for r in users)
    mine = sum(r.gpus_running for r in users if r.me)
    team_gpus = sum(r.gpus_running for r in users if r.team)

    def share(n: int) -> float | None:
        return round(100.0 * n / total, 1) if total else None

    return TeamUsage(cluster, me, team, users, accounts, types, total,
                     sum(r.running_jobs for r in users), sum(r.pending_jobs for r in users), mine, share(mine),
                     team_gpus, share(team_gpus) if team else None, source)


async def team_usage(c: Cluster) -> TeamUsage:
    team = [validate.name("team", u) for u in c.config.team]
    watcher = running_watcher(c)
    snapshot, error = watcher.latest() if watcher else ({}, None)
    if watcher and snapshot and error is None and watcher.age <= max(c.config.cache_ttl, 10.0):
        jobs, source = list(snapshot.values()), f"the queue watcher's snapshot ({watcher.age:.0f}s old)"
    else:
        jobs, source = await c.jobs(), "the queue listing (shared with list_jobs)"
    return summarize(c.name, jobs, await c.user(), team, source)


def _row(r: UsageRow) -> str:
    mark = "*" if r.me else ("+" if r.team else " ")
    types = ", ".join(f"{t}:{n}" for t, n in sorted(r.gpus_by_type.items()))
    gpus = f"{r.gpus_running} GPUs running" + (f" ({types})" if types else "")
    return (f" {mark} {r.name}: {gpus}, {r.running_jobs} jobs running; {r.pending_jobs} pending"
            + (f" ({r.gpus_pending} GPUs)" if r.gpus_pending else ""))


def render(u: TeamUsage, limit: int = 15) -> str:
    share = f"{u.my_share_percent:g}%" if u.my_share_percent is not None else "-"
    lines = [(f"{u.cluster} now: {u.gpus_running} GPUs running, {u.jobs_running} jobs running, {u.jobs_pending} "
             f"pending; you ({u.user}) hold {u.my_gpus} GPUs ({share})")]
    if u.team:
        lines.append(f"you and your team ({', '.join(u.team)}): {u.team_gpus} GPUs ({u.team_share_percent or 0:g}%)")
    for h in u.gpu_types:
        lines.append(f"who holds the {h.gpu_type} GPUs ({h.running}): "
                     + ", ".join(f"{user} {n}" for user, n in h.holders.items()))
    lines.append("per user (* you, + team):")
    lines += [_row(r) for r in u.users[:limit]]
    lines.append("per account (+ team's):")
    lines += [_row(r) for r in u.accounts[:limit]]
    cut = max(len(u.users), len(u.accounts)) - limit
    if cut > 0:
        lines.append(f"({cut} more rows in the structured result)")
    lines.append(f"from {u.source}")
    return "\n".join(lines)
