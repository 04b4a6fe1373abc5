"""Issue 25, live: free text and GPU counts come back exactly as submitted on the Slurm 22.05 test cluster.

What sbatch 22.05 takes (checked on the test cluster, not assumed): -J and --comment take blanks, '=', '|',
tabs, newlines, non-ASCII, a trailing blank, even 0x1f and 0x1e; --chdir takes any existing directory.
hpcbridge's own submit_job refuses '|', tabs, newlines and quotes in names (they go into an #SBATCH line, whose
parser has no escapes: docs/decisions.md), so those reach the cluster here by plain sbatch over SSH.
Limits of this cluster: AccountingStoreFlags is unset, so sacct has no comments (the comment is checked in
list/details only); MinJobAge is 30 s, so a finished job is read from accounting soon after it ends.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from hpcbridge.dashboard.board import _gpus as board_gpus
from hpcbridge.history.db import Database
from hpcbridge.history.queries import HistoryReader
from hpcbridge.history.store import HistoryWriter
from hpcbridge.models import Job, JobRequest
from hpcbridge.services.cluster import Cluster

from .conftest import wait_final, wait_in_accounting


def _odd(tag: str) -> str:
    return f"{tag} lr=0.1|bs=64\tcol\nsecond line é 日本 "  # '=', '|', tab, newline, non-ASCII, trailing blank


async def _in_queue(cluster: Cluster, job_id: str) -> Job:
    cluster.cache.invalidate("jobs:")
    jobs = {j.job_id: j for j in await cluster.jobs(user=await cluster.user())}
    assert job_id in jobs, f"{job_id} missing from list_jobs: {sorted(jobs)[:20]}"
    return jobs[job_id]


def _store_round_trip(tmp_path: Path, job: Job, cluster: Cluster, details: object) -> tuple[str, str, int]:
    db = Database(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    try:
        writer = HistoryWriter(db)
        writer.observe(cluster.name, [job])
        writer.apply_details(cluster.name, details)  # type: ignore[arg-type]
        facts = HistoryReader(db).job(cluster.name, job.job_id)
        return facts.job.name, facts.work_dir, facts.job.gpus
    finally:
        db.close()


async def test_odd_names_comments_and_work_dirs_by_plain_sbatch(cluster: Cluster, tmp_path: Path) -> None:
    tag = f"h25-{uuid.uuid4().hex[:6]}"
    name, comment = _odd(tag), "note: a=b | c\td\ne ü "
    home = (await cluster.run(["sh", "-c", 'printf %s "$HOME"'])).stdout
    work_dir = f"{home}/{tag} wd=1|x\ty\nz ß "
    assert (await cluster.run(["mkdir", "-p", "--", work_dir])).ok
    try:
        submitted = await cluster.run(["sbatch", "--parsable", "--partition", "cpu", "--job-name", name,
                                       "--comment", comment, "--chdir", work_dir, "--output", "/dev/null",
                                       "--wrap", "sleep 8"])
        assert submitted.ok, submitted.stderr
        job_id = submitted.stdout.strip().split(";")[0]

        listed = await _in_queue(cluster, job_id)
        assert listed.name == name
        details = await cluster.job_details(job_id)
        assert (details.job.name, details.work_dir, details.comment) == (name, work_dir, comment)
        assert _store_round_trip(tmp_path, listed, cluster, details)[:2] == (name, work_dir)

        await wait_final(cluster, job_id)
        await wait_in_accounting(cluster, job_id)
        record = next(r for r in await cluster.history(job_ids=[job_id]) if r.job_id == job_id)
        assert (record.name, record.work_dir) == (name, work_dir)
    finally:
        await cluster.run(["rm", "-rf", "--", work_dir])


async def test_hpcbridge_submission_with_gpus_flag_shows_two_gpus_everywhere(cluster: Cluster, tmp_path: Path) -> None:
    # submit_job's own name rules: '=' and blanks pass; the trailing blank is kept by the quoted directive
    tag = f"h25g-{uuid.uuid4().hex[:6]}"
    name = f"{tag} train lr=0.1 bs=64 "
    submitted = await cluster.submit(JobRequest(script_content="sleep 8", job_name=name, partition="gpu",
                                                gpus_total=2, output_file="/dev/null"))
    job_id = submitted.job_id
    assert "#SBATCH --gpus" in submitted.script

    listed = await _in_queue(cluster, job_id)
    assert (listed.name, sum(g.count for g in listed.gpus)) == (name, 2), listed
    assert board_gpus(listed) in ("2", "2xa100")  # the dashboard board's GPU column
    details = await cluster.job_details(job_id)
    assert (details.job.name, sum(g.count for g in details.job.gpus)) == (name, 2), details.job
    assert _store_round_trip(tmp_path, listed, cluster, details)[::2] == (name, 2)

    await wait_final(cluster, job_id)
    await wait_in_accounting(cluster, job_id)
    record = next(r for r in await cluster.history(job_ids=[job_id]) if r.job_id == job_id)
    assert record.name == name and "gres/gpu=2" in record.alloc_tres
    gone = await cluster.job_details(job_id)  # from scontrol while MinJobAge lasts, then from sacct
    assert sum(g.count for g in gone.job.gpus) == 2
