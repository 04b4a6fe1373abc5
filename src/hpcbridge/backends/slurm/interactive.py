"""Slurm's interactive work: a one-shot srun, an salloc --no-shell allocation, steps run in it with
srun --jobid --overlap, and a timed-out step cancelled alone (signalling the job would end the allocation)."""

from __future__ import annotations

from ...models import AllocationSpec, CommandResult
from ..base import Runner
from . import build, messages


class SlurmInteractive:
    def __init__(self, run: Runner) -> None:
        self._run = run

    async def run_once(self, spec: AllocationSpec, command: str, job_name: str, working_directory: str | None,
                       timeout: float) -> CommandResult:
        return await self._run(build.srun_argv(spec, command, job_name, working_directory), timeout=timeout,
                               idempotent=False)

    async def allocate(self, spec: AllocationSpec, job_name: str, timeout: float) -> CommandResult:
        return await self._run(build.salloc_argv(spec, job_name), timeout=timeout, idempotent=False)

    @staticmethod
    def granted_job_id(result: CommandResult) -> str:
        return messages.granted_allocation(result.stderr + result.stdout) if result.ok else ""

    async def run_in_allocation(self, job_id: str, command: str, step_name: str, spec: AllocationSpec,
                                working_directory: str | None, timeout: float) -> CommandResult:
        argv = build.srun_in_allocation_argv(job_id, command, step_name, spec.container, working_directory,
                                             spec.gpus_per_node)
        return await self._run(argv, timeout=timeout, idempotent=False)

    @staticmethod
    def allocation_gone(result: CommandResult) -> bool:
        return result.exit_status != 0 and messages.allocation_gone(result.stderr)

    async def cancel_step(self, job_id: str, step_name: str) -> None:
        steps = await self._run(build.steps_argv(job_id))
        found = build.step_ids_named(steps.stdout, step_name)
        if found:
            await self._run(build.scancel_steps_argv(found))
