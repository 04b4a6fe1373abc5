"""Prompts (the PBS plan's three, for every scheduler): short playbooks that point at the right tools."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .toolkit import ToolKit


def register(kit: ToolKit) -> None:
    @kit.prompt
    def submit_job_guide(
        job_type: Annotated[str, Field(description="What to run, e.g. 'pytorch training', 'cpu preprocessing'")],
        queue: Annotated[str | None, Field(description="Partition (Slurm) or queue (PBS) to use, if decided")] = None,
        cluster: Annotated[str | None, Field(description="Cluster (default: the default cluster)")] = None,
    ) -> str:
        """How to submit a job of this kind on the configured cluster(s), step by step."""
        where = f"in partition/queue '{queue}'" if queue else "where recommend_submission says"
        where += f" on cluster '{cluster}' (pass cluster='{cluster}' to every tool)" if cluster else ""
        return (
            f"Help me submit a {job_type} job {where}.\n"
            "1. Call get_cluster_status and get_partition_info to see partitions, limits and GPU types.\n"
            "2. Call recommend_submission with the GPUs, GPU type, nodes, time and memory the job needs; it "
            "ranks partitions by feasibility, free GPUs now and the scheduler's start estimate.\n"
            "3. If it runs in a container, call list_container_images and validate_container_image.\n"
            "4. Call submit_job (test_only=true first if unsure); impossible requests are refused with what "
            "is available. Put stdout/stderr in the logs directory (get_cluster_directories).\n"
            "5. Call wait_for_job (until='running', then 'final'); if it fails, diagnose_job explains why."
        )

    @kit.prompt
    def diagnose_job_failure(
        job_id: Annotated[str, Field(description="The job that failed or waits")],
        cluster: Annotated[str | None, Field(description="Cluster (default: the default cluster)")] = None,
    ) -> str:
        """Find out why a job failed or is not starting, and fix it."""
        on = f" on cluster '{cluster}' (pass cluster='{cluster}' to every tool)" if cluster else ""
        return (
            f"Job {job_id}{on} failed or is not starting. Find out why and propose a fix.\n"
            f"1. Call diagnose_job(job_id='{job_id}'): it classifies the cause (out of memory, GPU OOM, time "
            "limit, signal, Python exception, missing module, NCCL/CUDA error, disk quota, container image, "
            "dependency never satisfied, ...) and quotes the evidence.\n"
            f"2. If you need more context, read_job_output(job_id='{job_id}', stream='stderr', tail_lines=200) "
            f"and get_job_history(job_id='{job_id}') for exit codes, steps and memory.\n"
            "3. Propose the concrete change (resources, code, environment) and, with my approval, resubmit "
            "with submit_job and follow it with wait_for_job."
        )

    @kit.prompt
    def optimize_resources(
        workload_description: Annotated[str, Field(description="The workload: model, data size, runtime, ...")],
    ) -> str:
        """Choose resources for a workload from what the cluster has and what past jobs used."""
        return (
            f"Workload: {workload_description}\n"
            "Suggest the resources to request.\n"
            "1. get_job_history (state=COMPLETED,FAILED,OUT_OF_MEMORY,TIMEOUT) shows what similar past jobs "
            "requested and used (elapsed vs limit, max RSS vs requested memory).\n"
            "2. get_gpu_info and get_partition_info show GPU types, GPUs per node and time limits.\n"
            "3. recommend_submission ranks where the request can start soonest.\n"
            "Answer with: partition, nodes, GPUs (type and count per node), CPUs per task, memory, time limit, "
            "and why; leave ~20% headroom on memory and time over what past runs used."
        )

    # two more where their tools are offered: their arguments are what completion/complete fills in
    # (server/completions.py), so a client's picker offers the profiles and the open notebooks
    if "start_kernel_session" in kit.tools:

        @kit.prompt
        def work_in_notebook(
            notebook: Annotated[str, Field(description="Notebook name (<name>.ipynb in the notebook directory)")],
            profile: Annotated[str | None, Field(description="Interactive profile for its resources")] = None,
            cluster: Annotated[str | None, Field(description="Cluster (default: the default cluster)")] = None,
        ) -> str:
            """Open or resume a notebook's kernel on a compute node and work in it."""
            where = f", cluster='{cluster}'" if cluster else ""
            using = f", profile_name='{profile}'" if profile else ""
            return (
                f"Work in notebook {notebook}.\n"
                f"1. Call start_kernel_session(notebook='{notebook}'{using}{where}); it reports the Jupyter "
                "server job's progress and reuses a running server.\n"
                f"2. read_notebook(notebook='{notebook}'{where}) shows its cells; execute_code adds and runs a "
                "cell, execute_scratch_code runs without saving.\n"
                "3. When done, shutdown_kernel_session (the server stops itself when idle)."
            )
