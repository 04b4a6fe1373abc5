"""A running job's resource use on Slurm: one `srun --overlap` step over all its nodes runs the GPU probe
while sstat reads the CPU time and memory of its running steps (jobacct_gather)."""

from __future__ import annotations

import asyncio

from ...errors import CommandTimeout
from ...models import JobDetails
from ...watch import gpustats
from ..base import Runner
from . import build, text

STEP_NAME = "hpcbridge-stats"


def probe_argv(job_id: str, nodes: int) -> list[str]:
    """One task per node of the job. --overlap (22.05+: CPUs, memory and GRES) starts it at once beside the
    job's own steps; with no --gres the step is given the job's GPUs on 22.05 (CUDA_VISIBLE_DEVICES and
    SLURM_STEP_GPUS are the job's, checked on the test cluster), which is what the probe reports. --label
    keeps the nodes' lines apart; --time 1 ends a step that a hung node keeps alive."""
    return ["srun", "--jobid", job_id, "--job-name", STEP_NAME, "--overlap", "--nodes", str(nodes),
            "--ntasks", str(nodes), "--ntasks-per-node", "1", "--label", "--time", "1", "--quiet",
            "bash", "-c", gpustats.PROBE]


def sstat_argv(job_id: str) -> list[str]:
    return ["sstat", "-a", "-j", job_id, "-P", "-n", "--format", ",".join(gpustats.SSTAT_FIELDS)]


async def read(run: Runner, details: JobDetails, timeout: float, probe: bool) -> gpustats.ResourceUse:
    """probe=False (a read_only cluster): sstat alone, which starts no step."""
    job_id = details.raw.get("JobId") or details.job.job_id  # an array task's own numeric id
    nodes = max(details.job.num_nodes, 1)
    notes: list[str] = []
    has_gpus = bool(details.job.gpus) or bool(details.gpu_indices)

    async def step() -> str:
        try:
            result = await run(probe_argv(job_id, nodes), timeout=timeout, idempotent=False)
        except CommandTimeout:
            steps = await run(build.steps_argv(job_id))
            found = build.step_ids_named(steps.stdout, STEP_NAME)
            if found:
                await run(build.scancel_steps_argv(found))
            notes.append(f"the GPU probe step did not answer within {timeout:g}s (cancelled)")
            return ""
        if not result.ok and not result.stdout.strip():
            last = (result.stderr.strip().splitlines() or [f"exit status {result.exit_status}"])[-1]
            notes.append(f"the GPU probe step failed: {last[:200]}")
        return result.stdout

    async def sstat() -> str:
        result = await run(sstat_argv(job_id), timeout=timeout)
        if not result.ok:
            notes.append(f"sstat failed: {(result.stderr.strip().splitlines() or ['?'])[-1][:200]}")
        return result.stdout

    if probe:
        probed, stat = await asyncio.gather(step(), sstat())
        found = [gpustats.job_gpus(n, has_gpus, details.gpu_indices) for n in gpustats.parse_probe(probed)]
    else:
        stat = await sstat()
        found = gpustats.unprobed_nodes(list(text.expand_hostlist(details.job.node_list)), has_gpus)
        notes.insert(0, gpustats.not_probed(f"no srun --overlap step {STEP_NAME}", "sstat"))
    steps = [s for s in gpustats.parse_sstat(stat) if not s.step.endswith(".extern")]
    how = "srun --overlap step" if probe else ""
    return gpustats.ResourceUse(gpustats.with_steps(found, steps), steps, "sstat", how, notes)
