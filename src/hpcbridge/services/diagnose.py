"""Gather what the scheduler and the job's own output say, then classify it (diagnosis.diagnose)."""

from __future__ import annotations

import posixpath

from ..diagnosis import Diagnosis, DiagnosisInput, diagnose
from ..errors import HpcBridgeError
from ..models import JobDetails, JobRecord, JobState
from ..standing import StartEstimate
from .cluster import Cluster
from .files import read_file
from .limits import holding
from .progress_look import look_at
from .standing import priority_words, standing_of

TAIL_LINES = 60
TAIL_BYTES = 32 * 1024


async def _tail(cluster: Cluster, path: str) -> tuple[str, str]:
    """(text, note): the end of an output file, or why it could not be read."""
    if not path:
        return "", ""
    try:
        content = await read_file(cluster, path, tail_lines=TAIL_LINES, max_bytes=TAIL_BYTES)
    except HpcBridgeError as exc:
        return "", f"{path}: {exc}"
    return content.content, ""


def _output_paths(details: JobDetails) -> tuple[str, str]:
    if details.stdout_path or details.stderr_path:
        return details.stdout_path, details.stderr_path or details.stdout_path
    if details.work_dir:  # accounting does not keep the paths (22.05); sbatch's default name is a good guess
        default = posixpath.join(details.work_dir, f"slurm-{details.job.job_id}.out")
        return default, default
    return "", ""


async def _record(cluster: Cluster, job_id: str) -> JobRecord | None:
    try:
        records = await cluster.history(job_ids=[job_id])
    except HpcBridgeError:
        return None  # accounting may be off; the controller's view still gives a diagnosis
    return records[0] if records else None


async def _name_canceller(cluster: Cluster, native_state: str) -> str:
    """'CANCELLED by 1001' -> 'CANCELLED by 1001 (alice)': accounting records the uid only."""
    uid = cluster.cancelled_by_uid(native_state)
    if not uid:
        return native_state
    result = await cluster.run(["getent", "passwd", uid])
    name = result.stdout.split(":", 1)[0] if result.ok else ""
    return f"{native_state} ({name})" if name else native_state


async def diagnose_job(cluster: Cluster, job_id: str) -> Diagnosis:
    details = await cluster.job_details(job_id)
    job = details.job
    record = await _record(cluster, job_id) if job.state.final or details.source == "accounting" else None
    estimated, standing_words, limit = "", "", ""
    if job.state in (JobState.PENDING, JobState.HELD):
        estimated = await cluster.estimated_start(job_id)
        limit = await holding(cluster, job)
    if job.state is JobState.PENDING and cluster.capabilities.priority_factors:
        standing_words = priority_words(await standing_of(cluster, job, StartEstimate(estimated)))
    out_path, err_path = _output_paths(details)
    stdout, out_note = await _tail(cluster, out_path) if job.state is not JobState.PENDING else ("", "")
    stderr, err_note = (await _tail(cluster, err_path)) if err_path and err_path != out_path else ("", "")
    steps = record.steps if record else ()
    look = (await look_at(cluster, [job])).get(job.job_id) if job.state is JobState.RUNNING else None
    quiet = next((t.label for t in look.trouble if t.cause == "log_stalled"), "") if look else ""
    inp = DiagnosisInput(
        job_id=job.job_id,
        state=record.state if record and record.state.final else job.state,
        native_state=await _name_canceller(cluster, record.native_state if record else job.native_state),
        exit_code=record.exit_code if record and record.exit_code is not None else details.exit_code,
        signal=(record.signal if record else None) or details.signal,
        reason=job.reason,
        reason_explained=details.reason_explained,
        step_states=tuple(s.native_state.split(" ")[0] for s in steps),
        step_signals=tuple(s.signal for s in steps if s.signal),
        req_mem=record.req_mem if record else details.memory,
        max_rss=record.max_rss if record else "",
        elapsed=record.elapsed if record else job.time_used,
        time_limit=job.time_limit or (record.time_limit if record else ""),
        estimated_start=estimated,
        standing=standing_words,
        limit=limit,
        stdout_tail=stdout,
        stderr_tail=stderr,
        output_note="; ".join(n for n in (out_note, err_note) if n),
        progress=look.progress_text if look else "",
        stalled=quiet,
    )
    return diagnose(inp)
