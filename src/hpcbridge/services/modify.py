"""modify_job: change a queued job's time limit, partition, name, nodes, GPUs, QOS, account, dependency,
comment or array throttle, judged like a submission.

The values are validated before anything runs; then the job's effective request (the new values over what the
job already asks) goes through the same policy and feasibility checks as submit_job (Cluster.check_feasible),
so a job cannot be moved past what policy would have refused at submission (an account outside
policy.allowed_accounts included). Afterwards the job is read back: Slurm's `scontrol update` answers 0 and
does not apply an account or QOS the user's association lacks under AccountingStorageEnforce=none (seen on
22.05: an unknown account even puts the job back on the user's default account), so the job's value afterwards
is said, not reported as done.
"""

from __future__ import annotations

from .. import validate
from ..backends.base import JobChanges
from ..errors import InvalidParameter, SchedulerError
from ..models import Job, JobRequest, JobState
from .cluster import Cluster

QUEUED = (JobState.PENDING, JobState.HELD)
WHAT = ("one or more of time_limit, partition, job_name, nodes, gpus, qos, account, dependency, comment, "
        "array_throttle")


def changes_from(time_limit: str | None = None, partition: str | None = None, job_name: str | None = None,
                 nodes: int | None = None, gpus: int | None = None, *, qos: str | None = None,
                 account: str | None = None, dependency: str | None = None, comment: str | None = None,
                 array_throttle: int | None = None) -> JobChanges:
    """The changes asked for, each validated with its parameter's name; empty strings mean unchanged."""
    if time_limit:
        validate.walltime_minutes("time_limit", time_limit)
    if array_throttle is not None and (isinstance(array_throttle, bool) or not isinstance(array_throttle, int)
                                       or not 0 <= array_throttle <= 100_000):
        raise InvalidParameter("array_throttle", f"{array_throttle!r} is out of range",
                               "an integer from 0 (no limit) to 100000")
    changes = JobChanges(
        time_limit=time_limit.strip() if time_limit else None,
        partition=validate.optional_name("partition", partition),
        job_name=validate.optional_name("job_name", job_name),
        nodes=validate.positive_int("nodes", nodes, maximum=100_000),
        gpus=validate.positive_int("gpus", gpus, maximum=1024),
        qos=validate.optional_name("qos", qos),
        account=validate.optional_name("account", account),
        dependency=validate.dependency(dependency) if dependency else None,
        comment=validate.directive_text("comment", comment) if comment else None,
        array_throttle=array_throttle,
    )
    if not changes.named():
        raise InvalidParameter("time_limit", "nothing to change", WHAT)
    return changes


def _minutes_or_none(text: str) -> str | None:
    """The job's current limit when it is a time (not UNLIMITED, not empty)."""
    try:
        validate.walltime_minutes("time_limit", text)
    except InvalidParameter:
        return None
    return text


def effective_request(job: Job, changes: JobChanges, gpu_types: bool = True) -> JobRequest:
    """The request the job makes once changed: the new values over the job's own (its GPU type where the
    scheduler has GPU types)."""
    gpus_now = sum(g.count for g in job.gpus) // max(job.num_nodes, 1) if job.gpus else None
    typed = next((g.type for g in job.gpus if g.type), None)
    return JobRequest(
        script_content="", partition=changes.partition or job.partition or None,
        account=changes.account or job.account or None, qos=changes.qos or job.qos or None,
        time_limit=changes.time_limit or _minutes_or_none(job.time_limit),
        nodes=changes.nodes or job.num_nodes or None,
        gpus=changes.gpus if changes.gpus is not None else gpus_now or None, gpu_type=typed if gpu_types else None,
    )


async def modify_job(c: Cluster, job_id: str, changes: JobChanges) -> Job:
    """Check, then change; the job as it was before the change."""
    c.check_writable(f"modifying job {job_id}")
    job = (await c.job_details(job_id)).job
    if job.state not in QUEUED:
        raise InvalidParameter("job_id", f"job {job_id} is {job.state.value}: only a queued job (pending or "
                               "held) can be modified", "a pending or held job (hold_job first if it may start)")
    await c.check_feasible(effective_request(job, changes, c.capabilities.gpu_types))
    await c.modify(job_id, changes)
    await _check_taken(c, job_id, changes)
    return job


async def _check_taken(c: Cluster, job_id: str, changes: JobChanges) -> None:
    """The account, QOS and partition the job has now: a value the scheduler accepted without applying it
    is an error naming what the job still has."""
    asked = {"account": changes.account, "qos": changes.qos, "partition": changes.partition}
    if not any(asked.values()):
        return
    now = (await c.job_details(job_id)).job
    missed = [f"{k} is {getattr(now, k)!r}, not {v!r}" for k, v in asked.items()
              if v and getattr(now, k) and getattr(now, k) != v]
    if missed:
        raise SchedulerError(f"{c.name} accepted the change to job {job_id} but did not apply it: "
                             + "; ".join(missed) + " (is it one your association may use?)")
