"""Issue 30's logbook and housekeeping on both stores: search ranks the better match first (BM25 on SQLite
FTS5, ts_rank on PostgreSQL), bulk reads, cleanup_history's dry run and delete; GFM tables render and an
entry's raw HTML stays text."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcbridge.dashboard.markdown import render_entry
from hpcbridge.errors import InvalidParameter
from hpcbridge.history.board_marks import BoardMarks
from hpcbridge.history.db import Database
from hpcbridge.history.housekeeping import cleanup
from hpcbridge.history.logbook import MAX_BULK, Logbook
from hpcbridge.history.queries import Filters, HistoryReader
from hpcbridge.history.store import GpuSample, HistoryWriter
from hpcbridge.models import Job, JobState


def test_search_ranks_the_better_match_first(db: Database) -> None:
    book = Logbook(db)
    # the weaker match is written last, so newest-first order would put it first: only ranking puts it second
    strong = book.create("exp", "note", "Divergence in divergence runs",
                         "Loss divergence again: divergence after warmup, divergence at step 900. Learning rate.")
    weak = book.create("exp", "note", "Learning rate sweep", "One run showed divergence once; the rest were fine. "
                       + "Many other words about learning rate schedules and batch sizes. " * 5)
    assert [e.id for e in book.search("divergence").items] == [strong.id, weak.id]
    assert [e.id for e in book.search("learning rate").items] == [weak.id, strong.id]
    assert [e.id for e in book.search("").items] == [weak.id, strong.id]  # no words: newest first


def test_bulk_read_in_order_with_missing_ids(db: Database) -> None:
    book = Logbook(db)
    a = book.create("exp", "note", "A", "first")
    b = book.create("exp", "plan", "B", f"after #{a.id}")
    batch = book.read_many([b.id, 999, a.id, b.id])
    assert [e.id for e in batch.entries] == [b.id, a.id] and batch.missing == [999]
    assert batch.entries[0].entries == {a.id: "A"}
    with pytest.raises(InvalidParameter, match="entry_ids"):
        book.read_many(list(range(1, MAX_BULK + 2)))


def job(job_id: str, name: str, state: JobState) -> Job:
    return Job(job_id=job_id, name=name, user="alice", partition="gpu", state=state, native_state=state.value,
               submit_time="2026-01-01T10:00:00")


def test_cleanup_dry_runs_then_deletes_only_old_finished_jobs(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    w, r, book = HistoryWriter(db), HistoryReader(db), Logbook(db)
    now = 2_000_000_000.0
    old_at, recent_at = now - 40 * 86400, now - 2 * 86400
    w.observe("c1", [job("1", "old_done", JobState.PENDING), job("2", "old_running", JobState.PENDING)], at=old_at)
    w.observe("c1", [job("1", "old_done", JobState.COMPLETED), job("2", "old_running", JobState.RUNNING)],
              at=old_at + 60)
    w.observe("c1", [job("3", "new_done", JobState.COMPLETED)], at=recent_at)
    w.add_gpu_samples([GpuSample("c1", "gpu", "a100", 8, 4, 2, 2)], at=old_at)
    book.create("exp", "note", "kept", "logbook entries are never cleaned")
    marks = BoardMarks(db)
    marks.set("c1", "1", "dismissed")
    marks.set("c1", "3", "pinned")
    dry = cleanup(db, 30, confirm=False, who="tester", now=now)
    assert (dry.dry_run, dry.jobs, dry.runs, dry.gpu_samples) == (True, 1, 1, 1)
    assert dry.transitions >= 2 and dry.examples == ["c1:1 old_done"]
    assert r.search(Filters()).total == 3  # a dry run deletes nothing
    with caplog.at_level("INFO", logger="hpcbridge.audit"):
        done = cleanup(db, 30, confirm=True, who="tester", now=now)
    assert "principal=tester cleanup_history older_than_days=30 deleted: jobs=1" in caplog.text
    assert (done.dry_run, done.jobs, done.runs) == (False, 1, 1)
    assert sorted(j.job_id for j in r.search(Filters()).items) == ["2", "3"]  # running and recent stay
    assert marks.marks("c1") == {"3": "pinned"}  # the cleaned job's mark went with it; a reused id starts clean
    assert r.search(Filters(text="old_done")).total == 0  # gone from the text index too
    assert cleanup(db, 30, confirm=False, who="tester", now=now).jobs == 0
    assert book.search("cleaned").total == 1
    with pytest.raises(InvalidParameter, match="older_than_days"):
        cleanup(db, 0, confirm=False, who="tester")


def test_tables_render_and_raw_html_stays_text(db: Database) -> None:
    entry = Logbook(db).create("exp", "note", "t", "| lr | loss |\n|---|---|\n| 3e-4 | 1.9 |\n\n<script>alert(1)</script>"
                               "\n\n> quoted\n\n[x](javascript:alert(2))")
    html = str(render_entry(entry))
    assert "<table>" in html and "<td>3e-4</td>" in html and "<blockquote>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html and 'href="javascript' not in html


def test_only_real_image_bytes_are_kept(tmp_path: Path) -> None:
    from hpcbridge.dashboard.logbook_images import load, sniff, store

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    assert [sniff(png), sniff(b"\xff\xd8\xff\xe0x"), sniff(b"GIF89a.."), sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ")] == \
        ["image/png", "image/jpeg", "image/gif", "image/webp"]
    assert sniff(b"<svg onload=alert(1)>") == sniff(b"<html>") == ""
    name = store(tmp_path, png, 1024)
    assert name.endswith(".png") and store(tmp_path, png, 1024) == name  # the same bytes: one file
    assert load(tmp_path, name) == (png, "image/png")
    assert oct((tmp_path / name).stat().st_mode)[-3:] == "600"
    with pytest.raises(InvalidParameter, match="image"):
        store(tmp_path, b"<svg/>", 1024)
    with pytest.raises(InvalidParameter, match="limit"):
        store(tmp_path, png, 16)
    with pytest.raises(Exception, match="no logbook image"):
        load(tmp_path, "../etc/passwd")


def test_run_script_policy() -> None:
    from hpcbridge.errors import PolicyError
    from hpcbridge.services.script import script_argv

    assert script_argv("python3", "print(1)", [], None) == ["python3", "-"]
    assert script_argv("sh", "pwd", ["sh"], "/w")[-3:] == ["/w", "sh", "-s"]
    with pytest.raises(PolicyError, match="'bash' is not in"):
        script_argv("bash", "echo", ["python3"], None)
    with pytest.raises(InvalidParameter, match="interpreter"):
        script_argv("perl", "print 1", [], None)
    with pytest.raises(InvalidParameter, match="script"):
        script_argv("bash", "  ", [], None)
