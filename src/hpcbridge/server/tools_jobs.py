"""Job lifecycle tools: list, inspect, submit, modify, cancel, hold, release, history, summary."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from typing import Annotated

from fastmcp.tools.base import ToolResult
from pydantic import Field

from .. import validate
from ..errors import InvalidParameter
from ..models import Job, JobDetails, JobRecord, JobState, Page, next_offset
from ..services import everywhere, modify, progress_look, provenance, submission
from ..services.cluster import SubmitResult
from . import render
from .outputs import JobHeld, JobModified, JobSignalled, JobsPage, JobSummary, JobSummaryRow
from .params import ClusterArg, JobId, Limit, Offset, UserArg
from .toolkit import ToolKit, reply


def _row(job: Job) -> JobSummaryRow:
    where = job.node_list if job.state in (JobState.RUNNING, JobState.COMPLETING) else job.reason
    return JobSummaryRow(job.job_id, job.name, job.user, job.state.value, job.partition, job.num_nodes,
                         ",".join(str(g) for g in job.gpus), job.time_used, job.time_limit, where)


def _states(state: str | None, words: dict[str, frozenset[JobState]], scheduler: str) -> set[JobState] | None:
    """The JobStates a filter names: hpcbridge's words, 'all', or the cluster's own (Slurm's PD/CG/F,
    PBS's Q/H/F: the same letter can mean different things, so each backend brings its own)."""
    if not state or state.strip().upper() == "ALL":
        return None
    wanted: set[JobState] = set()
    for word in state.upper().replace(" ", "").split(","):
        try:
            wanted.add(JobState(word))
        except ValueError:
            if word not in words:
                raise InvalidParameter("state", f"{word!r} is not a job state",
                                       "all, or one or more of " + ", ".join(s.value for s in JobState)
                                       + f" ({scheduler} codes {', '.join(words)} also work)") from None
            wanted |= words[word]
    return wanted


def register(kit: ToolKit) -> None:
    registry = kit.registry

    @kit.tool(read_only=True, output=JobsPage)
    async def list_jobs(
        user: UserArg = None,
        partition: Annotated[str | None, Field(description="Only this partition")] = None,
        state: Annotated[str | None, Field(description="Only these states, comma separated: PENDING, "
                                                       "RUNNING, HELD, ... (or the scheduler's codes: Slurm "
                                                       "PD, CG, F; PBS Q, H, F; 'all')")] = None,
        project: Annotated[str | None, Field(description="Only jobs named PROJECT_...")] = None,
        limit: Limit = 20,
        offset: Offset = 0,
        cluster: Annotated[str | None, Field(description="Cluster name, or '*' for every configured cluster "
                                                         "(default: the default cluster)")] = None,
    ) -> ToolResult:
        """Jobs in the queue (array tasks one per row), paged, with the total and counts per state."""
        part = validate.optional_name("partition", partition)
        if project is not None:
            validate.name("project", project)
        if cluster == "*":
            found, unreachable = await everywhere.jobs_everywhere(registry, user, project)
            rows = [(n, j) for n, j in found if not part or j.partition == part]
            counts = dict(Counter(j.state.value for _, j in rows))
            wanted = {n: _states(state, registry.get(n).state_words, registry.get(n).scheduler) or set(JobState)
                      for n in {n for n, _ in rows}}  # each cluster's own codes (F is FAILED or FINISHED)
            rows = [(n, j) for n, j in rows if j.state in wanted[n]]
            total, shown = len(rows), rows[offset : offset + limit]
        else:
            c = registry.get(cluster)
            jobs = await c.jobs(await c.resolve_user(user), part)
            if project:
                jobs = [j for j in jobs if everywhere.in_project(registry, j, project)]
            # A 10,000-task queue: counted once per snapshot, filtered only when asked, rows only for the page
            counts = c.facts.counts(jobs)
            wanted_here = _states(state, c.state_words, c.scheduler)
            selected = [j for j in jobs if j.state in wanted_here] if wanted_here else jobs
            total, shown = len(selected), [(c.name, j) for j in selected[offset : offset + limit]]
            unreachable = {}
        page = JobsPage([replace(_row(j), cluster=n) for n, j in shown], total, offset, limit, counts,
                        next_offset(offset, len(shown), total), unreachable)
        for name in dict.fromkeys(n for n, _ in shown):
            looks = await progress_look.look_at(registry.get(name), [j for n, j in shown if n == name])
            if looks:
                page = replace(page, items=[replace(r, progress=looks[r.job_id].progress_text,
                                                    trouble=looks[r.job_id].trouble_text)
                                            if r.cluster == name and r.job_id in looks else r for r in page.items])
        return reply(page, render.jobs_page(page, cluster if cluster == "*" else registry.get(cluster).name,
                                            unreachable))

    @kit.tool(read_only=True, output=JobDetails)
    async def get_job_details(job_id: JobId, cluster: ClusterArg = None) -> ToolResult:
        """Everything about one job: state and reason explained, resources, GPUs, paths, exit code.
        Falls back to accounting when the job has left the queue."""
        c = registry.get(cluster)
        details = await c.job_details(c.job_id(job_id))
        return reply(details, render.job_details(details))

    # runs arbitrary code as the user: destructive, so clients ask before calling it
    @kit.tool(read_only=False, destructive=True, idempotent=False, output=SubmitResult)
    async def submit_job(
        script_content: Annotated[str, Field(description="A full batch script (#!/bin/bash ...) or just the "
                                                         "commands to run")] = "",
        script_path: Annotated[str | None, Field(description="Instead: a script on the cluster (in the file "
                                                             "tools' directories), checked the same way")] = None,
        job_name: Annotated[str | None, Field(description="Job name")] = None,
        partition: Annotated[str | None, Field(description="Partition (default: configured or cluster "
                                                           "default)")] = None,
        account: Annotated[str | None, Field(description="Account to charge")] = None,
        nodes: Annotated[int | None, Field(description="Number of nodes", ge=1)] = None,
        ntasks: Annotated[int | None, Field(description="Number of tasks", ge=1)] = None,
        cpus_per_task: Annotated[int | None, Field(description="CPUs per task", ge=1)] = None,
        memory: Annotated[str | None, Field(description="Memory per node, e.g. 4G or 4000M")] = None,
        time_limit: Annotated[str | None, Field(description="Time limit, e.g. 30, 4:00:00, 1-00:00:00")] = None,
        output_file: Annotated[str | None, Field(description="stdout path (%j = job id)")] = None,
        error_file: Annotated[str | None, Field(description="stderr path (%j = job id)")] = None,
        working_directory: Annotated[str | None, Field(description="Working directory on the cluster")] = None,
        gpus: Annotated[int | None, Field(description="GPUs per node (rendered as --gres=gpu[:TYPE]:N)",
                                          ge=1)] = None,
        gpus_per_task: Annotated[int | None, Field(description="GPUs per task", ge=1)] = None,
        gpu_type: Annotated[str | None, Field(description="GPU type, e.g. a100, h100")] = None,
        array: Annotated[str | None, Field(description="Array range, e.g. 0-99 or 0-999%10")] = None,
        dependency: Annotated[str | None, Field(description="e.g. afterok:1234 or afterany:1234:1235")] = None,
        constraint: Annotated[str | None, Field(description="Node features, e.g. a100&ib")] = None,
        qos: Annotated[str | None, Field(description="Quality of service")] = None,
        exclusive: Annotated[bool, Field(description="Whole nodes only")] = False,
        hold: Annotated[bool, Field(description="Submit held (release_job starts it)")] = False,
        env: Annotated[dict[str, str] | None, Field(description="Environment variables exported in the "
                                                                "script")] = None,
        container_image: Annotated[str | None, Field(description="Pyxis image (.sqsh path, or 'default')")] = None,
        container_mounts: Annotated[str | None, Field(description="SRC:DST[:ro],... (default: the configured "
                                                                  "directories; '' for none)")] = None,
        container_workdir: Annotated[str | None, Field(description="Working directory inside the container")] = None,
        container_env: Annotated[str | None, Field(description="VAR=value,... (or names) passed into the "
                                                               "container")] = None,
        container_name: Annotated[str | None, Field(description="Named container (reused by later steps)")] = None,
        no_container_mount_home: Annotated[bool | None, Field(description="true: do not mount $HOME; false: "
                                                                          "mount it")] = None,
        container_remap_root: Annotated[bool | None, Field(description="Appear as root inside")] = None,
        test_only: Annotated[bool, Field(description="Validate and ask the scheduler when it would start, "
                                                     "without submitting")] = False,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Submit a batch job, optionally in a Pyxis container. The script's own #SBATCH/#PBS lines count as
        parameters: policy and feasibility judge the effective request, and a line that contradicts a
        parameter is refused. Impossible requests (unknown partition, GPU type or count that does not exist
        there, time over the partition limit, a missing or non-squashfs image) are refused before submission
        with what is available."""
        c = registry.get(cluster)
        params = {k: v for k, v in locals().items() if k not in ("c", "cluster", "test_only", "registry")}
        req, from_script = await submission.build_request(c, params)
        result = replace(await c.submit(req, test_only=test_only), from_script=from_script)
        if result.job_id and not test_only and kit.on_provenance:  # issue 30: where the job came from
            where = await provenance.gather(c, working_directory or c.config.work_dir or "", "submit_job")
            for listener in kit.on_provenance:  # the history's store: off the event loop
                await asyncio.to_thread(listener, c.name, result.job_id, where)
        return reply(result, render.submitted(result))

    @kit.tool(read_only=False, destructive=True, idempotent=True, output=JobSignalled)
    async def cancel_job(
        job_id: JobId,
        signal: Annotated[str | None, Field(description="Send this signal instead of cancelling, e.g. "
                                                        "SIGUSR1, SIGTERM, SIGKILL")] = None,
        force: Annotated[bool, Field(description="PBS only: forced deletion (qdel -W force; Torque qdel -p) "
                                                 "of a job whose node does not answer; may need operator "
                                                 "rights")] = False,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Cancel (PBS: delete) a pending or running job, or with signal only signal it."""
        c = registry.get(cluster)
        jid = c.job_id(job_id)
        sig = validate.signal_name(signal) if signal else None
        await c.cancel(jid, sig, force)
        text = f"sent SIG{sig} to job {jid}" if sig else f"job {jid} {'force-' if force else ''}cancelled"
        return ToolResult(content=text, structured_content={"job_id": jid, "signal": sig, "force": force,
                                                            "ok": True})

    @kit.tool(read_only=False, destructive=False, idempotent=True, output=JobHeld)
    async def hold_job(job_id: JobId, cluster: ClusterArg = None) -> ToolResult:
        """Hold a pending job so it does not start until released."""
        c = registry.get(cluster)
        jid = c.job_id(job_id)
        await c.hold(jid)
        return ToolResult(content=f"job {jid} held", structured_content={"job_id": jid, "held": True})

    @kit.tool(read_only=False, destructive=False, idempotent=True, output=JobHeld)
    async def release_job(job_id: JobId, cluster: ClusterArg = None) -> ToolResult:
        """Release a held job so it can be scheduled."""
        c = registry.get(cluster)
        jid = c.job_id(job_id)
        await c.release(jid)
        return ToolResult(content=f"job {jid} released", structured_content={"job_id": jid, "held": False})

    @kit.tool(read_only=False, destructive=False, idempotent=True, output=JobModified)
    async def modify_job(
        job_id: JobId,
        time_limit: Annotated[str | None, Field(description="New time limit (PBS walltime), e.g. 2:00:00")] = None,
        partition: Annotated[str | None, Field(description="Move to this partition (PBS queue)")] = None,
        job_name: Annotated[str | None, Field(description="New job name")] = None,
        nodes: Annotated[int | None, Field(description="New node count", ge=1)] = None,
        gpus: Annotated[int | None, Field(description="New GPUs per node", ge=1)] = None,
        qos: Annotated[str | None, Field(description="New QOS (Slurm)")] = None,
        account: Annotated[str | None, Field(description="Charge this account")] = None,
        dependency: Annotated[str | None, Field(description="e.g. afterok:1234")] = None,
        comment: Annotated[str | None, Field(description="New comment (Slurm)")] = None,
        array_throttle: Annotated[int | None, Field(description="Most array tasks at once, 0 = no limit "
                                                                "(Slurm)", ge=0)] = None,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Change a queued (pending or held) job (PBS: qalter/qmove). The new values are checked like
        submit_job's (policy, partition limits, GPUs) before anything is sent; the scheduler's refusal
        (e.g. raising a time limit past what users may) comes back as said."""
        c = registry.get(cluster)
        jid = c.job_id(job_id)
        changes = modify.changes_from(time_limit, partition, job_name, nodes, gpus, qos=qos, account=account,
                                      dependency=dependency, comment=comment, array_throttle=array_throttle)
        before = await modify.modify_job(c, jid, changes)
        changed = {k: getattr(changes, k) for k in changes.named()}
        text = f"job {jid} modified: " + ", ".join(f"{k}={v}" for k, v in changed.items())
        return ToolResult(content=text, structured_content={"job_id": jid, "changed": changed,
                                                            "state": before.state.value, "ok": True})

    @kit.tool(read_only=True, output=Page[JobRecord])
    async def get_job_history(
        job_id: Annotated[str | int | None, Field(description="One job (with its steps)")] = None,
        user: UserArg = "me",
        start_time: Annotated[str | None, Field(description="From, e.g. 2024-01-01, now-7days (default: "
                                                            "now-7days)")] = None,
        end_time: Annotated[str | None, Field(description="Until, e.g. 2024-01-31, now")] = None,
        state: Annotated[str | None, Field(description="Only these final states, e.g. FAILED,TIMEOUT")] = None,
        limit: Limit = 20,
        offset: Offset = 0,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Finished and running jobs from accounting (sacct): state, exit code, signal, times, resources,
        newest first."""
        c = registry.get(cluster)
        jid = c.job_id(job_id) if job_id else None
        records = await c.history(
            job_ids=[jid] if jid else None,
            user=None if jid else await c.resolve_user(user),
            all_users=not jid and user in (None, "", "all", "*"),
            start_time=c.history_time("start_time", start_time) if start_time else None,
            end_time=c.history_time("end_time", end_time) if end_time else None,
        )
        counts = dict(Counter(r.state.value for r in records))
        wanted = _states(state, c.state_words, c.scheduler)
        if wanted:
            records = [r for r in records if r.state in wanted]
        records.reverse()
        page = Page.of(records, offset, limit, counts)
        return reply(page, render.history_page(page))

    @kit.tool(read_only=True, output=JobSummary)
    async def get_job_summary(
        user: UserArg = None,
        partition: Annotated[str | None, Field(description="Only this partition")] = None,
        top_users: Annotated[int, Field(description="How many users to list", ge=1, le=200)] = 20,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Job counts by state, per partition and per user (the busiest users first)."""
        c = registry.get(cluster)
        jobs = await c.jobs(await c.resolve_user(user), validate.optional_name("partition", partition))
        by_partition: dict[str, Counter[str]] = {}
        by_user: dict[str, Counter[str]] = {}
        for j in jobs:
            by_partition.setdefault(j.partition, Counter())[j.state.value] += 1
            by_user.setdefault(j.user, Counter())[j.state.value] += 1
        busiest = sorted(by_user.items(), key=lambda kv: -sum(kv[1].values()))[:top_users]
        summary = JobSummary(
            cluster=c.name, total=len(jobs), by_state=dict(Counter(j.state.value for j in jobs)),
            by_partition={p: dict(v) for p, v in by_partition.items()},
            by_user={u: dict(v) for u, v in busiest}, users_shown=len(busiest), users_total=len(by_user),
        )
        return reply(summary, render.job_summary(summary))


