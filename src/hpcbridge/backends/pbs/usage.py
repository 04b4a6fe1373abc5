"""A running job's resource use on PBS. CPU and memory come from the job's own `qstat -f` record
(resources_used.cpupercent/cput/mem, which the MoM updates every poll cycle). GPUs: PBS has no step to start
inside a running job from outside it, so the probe runs under `pbs_attach -j JOB` (the job's MoM adopts the
process, as mpiexec wrappers do); pbs_attach talks to the MoM of the host it runs on, so this works where the
login host is the job's execution host (single-node jobs on sites where you run there) and says why not
elsewhere. ssh to the exec host is not tried: most sites refuse it unless the job runs there, and the test
complex has no sshd on its MoM."""

from __future__ import annotations

from ...errors import CommandTimeout
from ...models import JobDetails
from ...watch import gpustats
from ..base import Runner


def attach_argv(job_id: str) -> list[str]:
    return ["pbs_attach", "-j", job_id, "bash", "-c", gpustats.PROBE]


def _cpu(details: JobDetails, node: gpustats.NodeStats) -> gpustats.NodeStats:
    raw = details.raw
    text = raw.get("resources_used.cpupercent", "")
    percent = float(text) if text.replace(".", "", 1).isdigit() else None
    return gpustats.NodeStats(node.node, node.gpus, node.gpu_tool, node.note, node.visible,
                              gpustats.cpu_seconds(raw.get("resources_used.cput", "")),
                              gpustats.memory_bytes(raw.get("resources_used.mem", "").removesuffix("b")), percent)


async def read(run: Runner, details: JobDetails, timeout: float, probe: bool) -> gpustats.ResourceUse:
    """probe=False (a read_only cluster): the job's own qstat -f record alone; pbs_attach is not run."""
    notes: list[str] = []
    hosts = [h for h in details.job.node_list.split(",") if h] or ["?"]
    has_gpus = bool(details.job.gpus)
    nodes: list[gpustats.NodeStats] = []
    if not probe:
        notes.append(gpustats.not_probed("no pbs_attach", "qstat -f resources_used"))
        nodes = gpustats.unprobed_nodes(hosts, has_gpus)
    elif has_gpus:
        try:
            result = await run(attach_argv(details.job.job_id), timeout=timeout, idempotent=False)
            nodes = [gpustats.job_gpus(n, True) for n in gpustats.parse_probe(result.stdout)]
            asked = sum(g.count for g in details.job.gpus)
            if any(len(n.gpus) > asked for n in nodes):  # no cgroups hook: PBS counts GPUs, binds no device
                notes.append(f"the job asked for {asked} GPU(s), but PBS here binds no devices to jobs (no "
                             "cgroups hook, no CUDA_VISIBLE_DEVICES): every GPU of its host is shown")
            if not nodes:
                said = (result.stderr.strip().splitlines() or [f"exit status {result.exit_status}"])[-1]
                notes.append(f"GPU use not available: pbs_attach could not join the job here ({said[:160]}); "
                             "it works only on the job's execution host")
        except CommandTimeout:
            notes.append(f"GPU use not available: pbs_attach did not answer within {timeout:g}s")
    if not nodes:
        nodes = [gpustats.NodeStats(h, note="" if has_gpus else "the job has no GPUs") for h in hosts]
    if len(hosts) > 1:
        notes.append("PBS reports CPU time and memory for the whole job (shown on the first node)")
    nodes = [_cpu(details, nodes[0]), *nodes[1:]]
    how = "pbs_attach on the execution host" if probe else ""
    return gpustats.ResourceUse(nodes, [], "qstat -f resources_used", how, notes)
