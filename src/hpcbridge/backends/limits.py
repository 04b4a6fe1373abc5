"""Limits in one vocabulary for every scheduler: a Slurm association or QOS limit, a PBS server or queue limit.

A backend reads them (Slurm: sacctmgr; PBS: qstat -Q / -B) into `Limit`s; services/limits.py adds what is in
use now (from the queue) and judges a request against them. `reason` is the word the scheduler itself shows
on a job that a limit holds (Slurm's pending reason, e.g. AssocGrpGRES), so the refusal names what a user
would otherwise see in squeue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# per_job: one job may not ask more (it would pend forever); shared: running jobs of the scope together may
# not hold more (a request that fits alone waits until others end); queued: jobs queued at once (refused now)
Kind = Literal["per_job", "shared", "running_jobs", "queued_jobs", "minutes"]
# whose jobs count against a shared limit: the account's (every user in it), the user's in the account,
# the user's under a QOS, every job under a QOS, a queue's or the server's (PBS)
Scope = Literal["account", "user", "qos_user", "qos", "queue", "queue_user", "server", "server_user"]


@dataclass(frozen=True)
class Limit:
    """One limit. `resource` is a TRES name (gres/gpu, cpu, mem, node, billing), 'jobs' or 'wall' (minutes)."""

    name: str  # the scheduler's name for the limit: GrpTRES, MaxWall, MaxTRESPU, max_run_res.ngpus, ...
    where: str  # what it is set on, said to a person: "account capped", "QOS short", "queue gpu"
    resource: str
    value: int  # the limit: a count, MB for mem, minutes for wall and TRES minutes
    kind: Kind
    scope: Scope
    reason: str  # the scheduler's word on a job the limit holds (AssocGrpGRES), or the limit's name
    account: str = ""  # applies to jobs of this account ('' any)
    qos: str = ""  # applies to jobs under this QOS ('' any)
    partition: str = ""  # applies to jobs in this partition/queue ('' any)
    in_use: int | None = None  # what counts against it now (from the queue); None: not known

    def words(self) -> str:
        what = f"{self.resource}={self.value}" if self.resource not in ("jobs", "wall") else (
            f"{self.value} jobs" if self.resource == "jobs" else f"{_minutes(self.value)}")
        used = f", {self.in_use} in use" if self.in_use is not None else ""
        return f"{self.reason} ({self.name} {what} on {self.where}{used})"


@dataclass(frozen=True)
class AccountLimits:
    """What limits the login user, as the scheduler reads it, and which account/QOS a job gets by default."""

    user: str
    limits: tuple[Limit, ...] = ()
    default_account: str = ""
    default_qos: dict[str, str] = field(default_factory=dict)  # account -> its default QOS for this user
    accounts: tuple[str, ...] = ()  # accounts the user may submit to ('' : not known)
    source: str = ""  # the commands read, said to the user
    notes: tuple[str, ...] = ()  # what could not be read


def _minutes(value: int) -> str:
    days, rest = divmod(value, 1440)
    return (f"{days}-" if days else "") + f"{rest // 60:02d}:{rest % 60:02d}:00"
