"""What an agent needs to act: why a job failed or waits, where to submit, and waiting for a job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastmcp import Context
from fastmcp.tools.base import ToolResult
from pydantic import Field

from .. import validate
from ..diagnosis import Diagnosis
from ..errors import TransportError
from ..models import JobState
from ..services.diagnose import diagnose_job as run_diagnosis
from ..services.recommend import Need, Option, Unreachable, recommend
from ..services.waiting import Transition, WaitResult
from ..services.waiting import wait_for_job as wait
from . import render_agent as render
from .params import ClusterArg, JobId
from .toolkit import ToolKit, reply


@dataclass(frozen=True)
class Recommendation:
    need: str
    options: list[Option]
    best: Option | None
    unreachable: list[Unreachable] = field(default_factory=list)  # clusters that did not answer, and why


@dataclass(frozen=True)
class WaitAnswer:
    wait: WaitResult
    diagnosis: Diagnosis | None


def register(kit: ToolKit) -> None:
    registry = kit.registry

    @kit.tool(read_only=True, output=Diagnosis)
    async def diagnose_job(job_id: JobId, cluster: ClusterArg = None) -> ToolResult:
        """Why a job failed, or why it is still waiting: a classified cause (out_of_memory,
        gpu_out_of_memory, time_limit, node_failure, preempted, cancelled, killed_by_signal,
        python_exception, missing_dependency, nccl_error, cuda_error, disk_quota, container_image,
        never_starts, pending, ...) with the evidence lines and a concrete next step."""
        c = registry.get(cluster)
        result = await run_diagnosis(c, c.job_id(job_id))
        return reply(result, render.diagnosis(result))

    @kit.tool(read_only=True, output=Recommendation)
    async def recommend_submission(
        gpus: Annotated[int, Field(description="GPUs in total (0 for CPU-only)", ge=0, le=4096)] = 0,
        gpu_type: Annotated[str | None, Field(description="GPU type, e.g. a100")] = None,
        nodes: Annotated[int, Field(description="Nodes", ge=1, le=10000)] = 1,
        time_limit: Annotated[str | None, Field(description="How long, e.g. 2:00:00")] = None,
        memory: Annotated[str | None, Field(description="Memory per node, e.g. 64G")] = None,
        cpus_per_task: Annotated[int | None, Field(description="CPUs per task", ge=1)] = None,
        cluster: Annotated[str | None, Field(description="One cluster (default: every configured "
                                                         "cluster)")] = None,
    ) -> ToolResult:
        """Where to submit: ranks every partition (of every configured cluster) by whether the request
        fits at all, whether it could start now (free GPUs), how long jobs recently waited there (job
        history), and the scheduler's own start estimate (sbatch --test-only), and says why."""
        clusters = [registry.get(cluster)] if cluster else [registry.get(n) for n in registry.names]
        if time_limit:
            validate.walltime_minutes("time_limit", time_limit)
        need = Need(gpus=gpus, gpu_type=validate.optional_name("gpu_type", gpu_type), nodes=nodes,
                    time_limit=time_limit, memory=f"{validate.memory_mb('memory', memory)}M" if memory else None,
                    cpus_per_task=cpus_per_task)
        options, unreachable = await recommend(clusters, need, kit.queue_waits)
        if not options and unreachable:
            raise TransportError("no cluster answered: " + "; ".join(f"{u.cluster}: {u.why}" for u in unreachable))
        best = next((o for o in options if o.feasible), None)
        result = Recommendation(render.need(need), options, best, unreachable)
        return reply(result, render.recommendation(result.need, options, unreachable))

    @kit.tool(read_only=True, output=WaitAnswer, task=True)
    async def wait_for_job(
        job_id: JobId,
        ctx: Context,
        until: Annotated[Literal["final", "running", "change"], Field(
            description="final: finished in any way; running: started (or finished); change: the next "
                        "state change")] = "final",
        timeout: Annotated[int, Field(description="Give up after this many seconds", ge=1, le=3600)] = 300,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Wait for a job, reporting each state change as an MCP progress notification; returns the final
        state and, if the job failed (or ended without an exit status), its diagnosis. Polling is shared by all waiters on a cluster."""
        c = registry.get(cluster)
        jid = c.job_id(job_id)
        changes = 0

        async def progress(t: Transition) -> None:
            nonlocal changes
            changes += 1
            await ctx.report_progress(changes, None, f"job {jid}: {t.state}" + (f" ({t.reason})" if t.reason else ""))

        result = await wait(c, jid, until, float(timeout), progress)
        diagnosis = None
        if result.reached and (JobState(result.state).failed or result.state == JobState.ENDED.value):
            diagnosis = await run_diagnosis(c, jid)
        answer = WaitAnswer(result, diagnosis)
        return reply(answer, render.waited(result, diagnosis))
