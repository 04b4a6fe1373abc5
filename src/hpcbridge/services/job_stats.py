"""get_job_stats: a running job's GPUs, CPU and memory, sampled on demand (never on a timer of its own: the
dashboard's job page asks every STATS_INTERVAL seconds only while someone has it open)."""

from __future__ import annotations

from datetime import UTC, datetime

from ..errors import InvalidParameter
from ..models import JobState
from ..timewords import clock_seconds
from ..watch.gpustats import GpuStat, JobStats
from .cluster import Cluster

STATS_INTERVAL = 12.0  # seconds between the job page's samples
DEFAULT_TIMEOUT = 30.0


async def job_stats(cluster: Cluster, job_id: str, timeout: float = DEFAULT_TIMEOUT) -> JobStats:
    """Refuses a job that is not running, in one line that says its state."""
    if not 1 <= timeout <= 300:
        raise InvalidParameter("timeout", f"{timeout:g} is out of range", "1 to 300 seconds")
    details = await cluster.job_details(job_id)
    job = details.job
    if job.state is not JobState.RUNNING:
        reason = f" ({job.reason})" if job.reason and job.reason != "None" else ""
        raise InvalidParameter("job_id", f"job {job.job_id} is {job.state.value}{reason}: resource use exists only "
                               "while a job runs", "the id of a RUNNING job (list_jobs state='RUNNING')")
    use = await cluster.resource_use(details, timeout)
    elapsed = clock_seconds(job.time_used)
    cpu_total = [n.cpu_seconds for n in use.nodes if n.cpu_seconds is not None]
    percent = next((n.cpu_percent for n in use.nodes if n.cpu_percent is not None), None)
    if percent is None and cpu_total and elapsed and job.num_cpus:
        percent = round(100.0 * sum(cpu_total) / (elapsed * job.num_cpus), 1)
    return JobStats(cluster.name, job.job_id, job.state.value, datetime.now(UTC).isoformat(timespec="seconds"),
                    use.nodes, use.steps, sum(len(n.gpus) for n in use.nodes), job.num_cpus, elapsed, percent,
                    use.cpu_source, use.gpu_source, use.notes)


def _num(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _gib(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024:.1f}"


def gpu_line(g: GpuStat) -> str:
    return (f"  gpu{g.index} {g.model}: {_num(g.utilization_percent, '%')} util, mem {_gib(g.memory_used_mib)}/"
            f"{_gib(g.memory_total_mib)} GiB, {_num(g.power_watts, 'W')}, {_num(g.temperature_c, 'C')}")


def render(s: JobStats) -> str:
    """Compact: one line for the job, one per node, one per GPU."""
    cpu = f", CPU {s.cpu_percent:g}% of {s.cpus}" if s.cpu_percent is not None else f", {s.cpus} CPUs"
    lines = [f"job {s.job_id} on {s.cluster}: {s.state}, {s.gpu_count} GPU(s){cpu} (at {s.sampled_at})"]
    for n in s.nodes:
        rss = f", RSS {n.rss_bytes / 1024**2:.1f} MiB" if n.rss_bytes is not None else ""
        cpu_time = f", CPU time {n.cpu_seconds:.0f}s" if n.cpu_seconds is not None else ""
        lines.append(f"{n.node}: {len(n.gpus)} GPU(s){cpu_time}{rss}" + (f" [{n.note}]" if n.note else ""))
        lines.extend(gpu_line(g) for g in n.gpus)
    lines.extend(f"note: {note}" for note in s.notes)
    return "\n".join(lines)
