"""The history store on both databases it supports: SQLite (a temporary file) and PostgreSQL (the test script
starts Debian's postgresql and names it in HPCBRIDGE_TEST_DATABASE_URL; without it, the PostgreSQL cases skip,
or fail when HPCBRIDGE_REQUIRE_CLUSTER says the full environment is expected)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hpcbridge.errors import InvalidParameter, NotFound
from hpcbridge.history.db import Database
from hpcbridge.history.logbook import Logbook
from hpcbridge.history.queries import Filters, HistoryReader
from hpcbridge.history.store import GpuSample, HistoryWriter
from hpcbridge.models import GpuCount, Job, JobDetails, JobRecord, JobState


def job(job_id: str, name: str, state: JobState = JobState.PENDING, **kw: object) -> Job:
    values: dict[str, object] = {"user": "alice", "partition": "gpu", "native_state": state.value,
                                 "submit_time": "2026-11-20T10:00:00"}
    values.update(kw)
    return Job(job_id=job_id, name=name, state=state, **values)  # type: ignore[arg-type]


def test_snapshots_record_transitions_once(db: Database) -> None:
    w, r = HistoryWriter(db), HistoryReader(db)
    assert w.observe("c1", [job("1", "proj_train_a")], at=100) == ["1"]
    assert w.observe("c1", [job("1", "proj_train_a")], at=110) == []
    assert w.observe("c1", [job("1", "proj_train_a", JobState.RUNNING, start_time="2026-11-20T10:05:00",
                                gpus=(GpuCount("a100", 4),))], at=120) == ["1"]
    facts = r.job("c1", "1")
    assert [t[1] for t in facts.transitions] == ["PENDING", "RUNNING"]
    assert (facts.job.state, facts.job.gpus, facts.job.gpu_type, facts.job.project) == ("RUNNING", 4, "a100", "proj")
    with pytest.raises(NotFound, match="search_history"):
        r.job("c1", "999")


def test_accounting_fills_what_the_queue_never_showed(db: Database) -> None:
    w, r = HistoryWriter(db), HistoryReader(db)
    w.observe("c1", [job("5", "eval", JobState.RUNNING)])
    assert w.unfinished("c1") == ["5"]
    w.apply_records("c1", [JobRecord("5", "eval", "alice", JobState.OUT_OF_MEMORY, "OUT_OF_MEMORY", exit_code=0,
                                     signal=9, end_time="2026-11-20T11:00:00", work_dir="/w")])
    got = r.job("c1", "5")
    assert (got.job.state, got.job.signal, got.job.end_time, got.work_dir) == ("OUT_OF_MEMORY", 9,
                                                                             "2026-11-20T11:00:00", "/w")
    assert w.unfinished("c1") == [] and w.needing("c1", "final", "alice", 10) == []
    assert w.needing("c1", "diagnosis", "alice", 10) == ["5"]
    w.set_diagnosis("c1", "5", "out_of_memory", "the job used more memory than it asked for")
    assert w.needing("c1", "diagnosis", "alice", 10) == []
    assert [j.job_id for j in r.search(Filters(text="memory")).items] == ["5"]


def test_a_lagging_accounting_record_does_not_undo_an_ended_jobs_exit_code(db: Database) -> None:
    """Seen in CI: scontrol said FAILED 3:0, then sacct, before slurmdbd had the end, said RUNNING 0:0."""
    w, r = HistoryWriter(db), HistoryReader(db)
    w.observe("c1", [job("8", "bad", JobState.FAILED)])
    w.apply_details("c1", JobDetails(job=job("8", "bad", JobState.FAILED), exit_code=3))
    w.apply_records("c1", [JobRecord("8", "bad", "alice", JobState.RUNNING, "RUNNING", exit_code=0)])
    got = r.job("c1", "8")
    assert (got.job.state, got.job.exit_code) == ("FAILED", 3)


def test_search_by_words_filters_and_pages(db: Database) -> None:
    w, r = HistoryWriter(db), HistoryReader(db)
    w.observe("slurm", [job(str(i), f"llama_sweep_{i}", JobState.COMPLETED) for i in range(30)])
    w.observe("pbs", [job("7.srv", "llama_eval", JobState.FAILED, user="bob")])
    w.set_script("pbs", "7.srv", "#!/bin/bash\npython evaluate.py --checkpoint best\n")
    page = r.search(Filters(text="llama"), limit=10)
    assert (page.total, len(page.items), page.next_offset) == (31, 10, 10)
    assert page.counts == {"COMPLETED": 30, "FAILED": 1}
    assert [j.job_id for j in r.search(Filters(text="checkpoints evaluate")).items] == ["7.srv"]  # stemmed
    assert r.search(Filters(text="llama", clusters=("pbs",), user="bob")).total == 1
    assert r.search(Filters(states=("FAILED",))).total == 1
    assert r.search(Filters(text='") OR name:*')).total == 0  # words are data, never query syntax
    assert r.search(Filters(since="2026-11-21")).total == 0


def test_dependency_chains_form_one_run_in_order(db: Database) -> None:
    w, r = HistoryWriter(db), HistoryReader(db)
    w.observe("c1", [job("10", "exp_prep")])
    w.observe("c1", [job("11", "exp_train", dependency="afterok:10(unfulfilled)")])
    w.observe("c1", [job("12", "exp_eval", dependency="afterok:11")])
    w.observe("c1", [job("13", "other")])
    run = r.run("exp_prep", "c1")
    assert [j.job_id for j in run.jobs.items] == ["10", "11", "12"]
    assert {j.run for j in run.jobs.items} == {"exp_prep"}
    assert r.run("other").jobs.total == 1
    with pytest.raises(NotFound):
        r.run("nothing")
    projects = r.projects()
    assert [(p.name, p.jobs, p.runs) for p in projects.items] == [("exp", 3, 1)]


def test_array_snapshot_of_ten_thousand_tasks(db: Database) -> None:
    w, r = HistoryWriter(db), HistoryReader(db)
    tasks = [job(f"900_{i}", "sweep", array_job_id="900", array_task_id=str(i)) for i in range(10_000)]
    assert len(w.observe("c1", tasks)) == 10_000
    assert w.observe("c1", tasks) == []
    assert r.run("sweep").jobs.total == 10_000
    assert w.needing("c1", "details", "alice", 100) == ["900_0"]  # one task stands for its array
    w.mark_array_details("c1", "900", JobDetails(job=tasks[0], work_dir="/w"))
    assert w.needing("c1", "details", "alice", 100) == []


def test_gpu_samples_downsample_to_hours(db: Database) -> None:
    w, r = HistoryWriter(db), HistoryReader(db)
    now = time.time()
    for minute in range(0, 120, 10):
        w.add_gpu_samples([GpuSample("c1", "*", "*", 8, minute // 10, 1, 2)], at=now - 86400 * 5 + minute * 60)
    w.add_gpu_samples([GpuSample("c1", "*", "*", 8, 4, 0, 0)], at=now)
    assert w.downsample(now - 86400 * 3) in (2, 3)  # two hours of samples (three if they straddle an hour)
    points = r.gpu_usage("c1", days=7)
    assert points and points[-1].allocated == 4 and all(p.total == 8 for p in points)


def test_summary_and_unreachable(db: Database) -> None:
    w, r = HistoryWriter(db), HistoryReader(db)
    w.observe("a", [job("1", "x", JobState.RUNNING)])
    w.cluster_seen("a")
    w.cluster_failed("b", "ssh: connection refused")
    summary = {s.cluster: s for s in r.summary(["a", "b"])}
    assert summary["a"].counts == {"RUNNING": 1} and summary["a"].last_seen and not summary["a"].unreachable
    assert summary["b"].unreachable == "ssh: connection refused"


def test_logbook_entries_references_and_search(db: Database) -> None:
    w, book = HistoryWriter(db), Logbook(db)
    w.observe("c1", [job("1", "exp_train")])
    first = book.create("exp", "plan", "Scaling plan", "Try 8 nodes.")
    second = book.create("exp", "note", "Results", f"The @exp_train run diverged; see #{first.id}. @ghost")
    assert second.runs == ["exp_train"] and second.missing_runs == ["ghost"]
    assert second.entries == {first.id: "Scaling plan"}
    assert [e.id for e in book.search("diverging").items] == [second.id]  # stemmed
    book.update(second.id, body="Converged after all.")
    assert book.search("diverged").total == 0 and book.search("converge").total == 1
    book.delete(first.id)
    with pytest.raises(NotFound):
        book.read(first.id)
    with pytest.raises(InvalidParameter, match="kind"):
        book.create("exp", "todo", "x", "")
    with pytest.raises(InvalidParameter, match="project"):
        book.create("../etc", "note", "x", "")


def test_backup_keeps_the_newest(db: Database, tmp_path: Path) -> None:
    if db.dialect != "sqlite":
        with pytest.raises(Exception, match="pg_dump"):
            db.backup(tmp_path / "b", 2)
        return
    HistoryWriter(db).observe("c1", [job("1", "x")])
    made = []
    for _ in range(3):
        made.append(db.backup(tmp_path / "b", keep=2))
        time.sleep(1.05)
    left = sorted((tmp_path / "b").iterdir())
    assert left == made[1:] and oct(left[0].stat().st_mode)[-3:] == "600"
    copy = Database(f"sqlite:///{left[-1]}")
    assert HistoryReader(copy).search(Filters()).total == 1


def test_a_chain_seen_in_one_snapshot_is_one_run(db: Database) -> None:
    w, r = HistoryWriter(db), HistoryReader(db)
    w.observe("c1", [job("21", "b_second", dependency="afterok:20"), job("20", "b_first")])
    assert [j.job_id for j in r.run("b_first").jobs.items] == ["20", "21"]


def test_queue_waits_are_recent_medians_per_partition(db: Database) -> None:
    w, r = HistoryWriter(db), HistoryReader(db)
    now = datetime.now()

    def at(minutes_ago: float) -> str:
        return (now - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S")

    started = [("1", "gpu", 100, 90), ("2", "gpu", 100, 40), ("3", "gpu", 100, 70), ("4", "cpu", 30, 29)]
    w.observe("c1", [job(i, f"w{i}", JobState.RUNNING, partition=p, submit_time=at(s), start_time=at(t))
                     for i, p, s, t in started])
    w.observe("c1", [job("5", "old", JobState.COMPLETED, partition="gpu", submit_time=at(60 * 24 * 30),
                         start_time=at(60 * 24 * 29)),  # a month ago: says nothing about today's queue
                     job("6", "waiting", JobState.PENDING, partition="cpu", submit_time=at(500))])
    w.observe("c2", [job("1", "elsewhere", JobState.RUNNING, partition="gpu", submit_time=at(5), start_time=at(4))])
    assert r.queue_waits("c1") == {"gpu": 30.0, "cpu": 1.0}
    assert r.queue_waits("c2") == {"gpu": 1.0} and r.queue_waits("nowhere") == {}
