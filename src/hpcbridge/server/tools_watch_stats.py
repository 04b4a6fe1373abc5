"""Live resource use of a running job: GPUs, CPU, memory (issue 27)."""

from __future__ import annotations

from typing import Annotated

from fastmcp.tools.base import ToolResult
from pydantic import Field

from ..services import job_stats
from ..watch.gpustats import JobStats
from .params import ClusterArg, JobId
from .toolkit import ToolKit, reply


def register(kit: ToolKit) -> None:
    """Adds this part's tools to the `watch` toolset."""
    registry = kit.registry

    @kit.tool(read_only=True, output=JobStats, title="GPU and CPU use of a running job")
    async def get_job_stats(
        job_id: JobId,
        cluster: ClusterArg = None,
        timeout: Annotated[float, Field(description="Seconds to wait for all nodes", ge=1, le=300)] = 30.0,
    ) -> ToolResult:
        """A running job's use now, read inside its allocation: per GPU (index, model, utilization %, memory
        used/total, power, temperature; nvidia-smi or rocm-smi) and per node CPU time and RSS. One call for all
        nodes. Refuses a job that is not running. On a read_only cluster nothing is started in the job: CPU and
        memory only, as the scheduler reports them, and no GPU figures."""
        c = registry.get(cluster)
        stats = await job_stats.job_stats(c, c.job_id(job_id), timeout)
        return reply(stats, job_stats.render(stats))
