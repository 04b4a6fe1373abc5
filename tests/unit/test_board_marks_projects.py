"""Pins and dismissals of the board, and projects with their numbers, in the history store on SQLite and on
PostgreSQL (issue 30); a database made before the board_marks table gets it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from hpcbridge.errors import InvalidParameter
from hpcbridge.history.board_marks import BoardMarks
from hpcbridge.history.db import Database
from hpcbridge.history.projects import campaign_of, colour, elapsed_hours, project_names, project_stats
from hpcbridge.history.store import HistoryWriter
from hpcbridge.models import GpuCount, Job, JobState


def _job(job_id: str, name: str, state: JobState, **kw: object) -> Job:
    values: dict[str, object] = {"user": "alice", "partition": "gpu", "native_state": state.value,
                                 "submit_time": f"2026-11-20T10:00:0{job_id[-1]}"}
    values.update(kw)
    return Job(job_id=job_id, name=name, state=state, **values)  # type: ignore[arg-type]


def _record(db: Database) -> None:
    HistoryWriter(db).observe("c1", [
        _job("1", "llm_sweep_a", JobState.COMPLETED, time_used="2:00:00", gpus=(GpuCount("a100", 4),)),
        _job("2", "llm_sweep_b", JobState.FAILED, time_used="1-00:30:00", gpus=(GpuCount("a100", 2),)),
        _job("3", "llm_eval_c", JobState.RUNNING),
        _job("4", "vision_x", JobState.TIMEOUT),
        _job("5", "noproject", JobState.COMPLETED),
    ])


def test_clear_finished_keeps_pins_and_running_jobs(db: Database) -> None:
    _record(db)
    marks = BoardMarks(db)
    marks.set("c1", "2", "pinned")
    assert marks.clear_finished(("c1",), only_failed=True, dry_run=True) == ["c1/4"]
    assert marks.marks("c1") == {"2": "pinned"}  # a dry run changes nothing
    assert marks.clear_finished(("c1",), only_failed=True) == ["c1/4"]
    assert sorted(marks.clear_finished(("c1",))) == ["c1/1", "c1/5"]  # the pinned failed job stays
    assert marks.clear_finished(("c1",)) == []
    assert marks.marks("c1") == {"1": "dismissed", "2": "pinned", "4": "dismissed", "5": "dismissed"}
    marks.set("c1", "2", "dismissed")  # dismissing the pinned one is what removes it
    assert marks.marks("c1")["2"] == "dismissed"
    assert marks.clear_finished(("other",)) == []


def test_a_bad_mark_or_job_id_is_refused_by_name(db: Database) -> None:
    with pytest.raises(InvalidParameter, match="mark"):
        BoardMarks(db).set("c1", "1", "starred")
    with pytest.raises(InvalidParameter, match="job_id"):
        BoardMarks(db).set("c1", "1; drop table jobs", "pinned")


def test_projects_success_rate_gpu_hours_and_campaigns(db: Database) -> None:
    _record(db)
    by_name = {p.name: p for p in project_stats(db, "_", campaigns=True)}
    assert set(by_name) == {"llm", "vision"}
    llm = by_name["llm"]
    assert (llm.jobs, llm.ended, llm.completed) == (3, 2, 1)
    assert llm.success_rate == 0.5
    assert llm.gpu_hours == pytest.approx(4 * 2 + 2 * 24.5)
    assert llm.campaigns == {"sweep": 2, "eval": 1}
    assert by_name["vision"].campaigns == {"(none)": 1}  # two parts: no campaign
    assert project_stats(db, "_", campaigns=False, project="llm")[0].campaigns == {}
    assert project_names(db, "LL", 8) == ["llm"] and project_names(db, "i", 8) == ["vision"]
    assert project_names(db, "%", 8) == [] and project_names(db, "_", 8) == []  # LIKE wildcards are text
    assert llm.colour == colour("llm")


def test_project_rules() -> None:
    assert colour("llm") == colour("llm") and 0 <= colour("anything") < 12
    assert elapsed_hours("1-02:30:00") == 26.5 and elapsed_hours("30:00") == 0.5 and elapsed_hours("?") == 0
    assert campaign_of("llm_sweep_a", "_") == "sweep" and campaign_of("llm_a", "_") == "" and \
        campaign_of("llm-s-a", "-") == "s"


def test_an_older_database_gets_the_board_marks_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    Database(f"sqlite:///{path}").close()
    old = Database(f"sqlite:///{path}")
    with old.engine.begin() as conn:
        conn.execute(text("DROP TABLE board_marks"))
    old.close()
    again = Database(f"sqlite:///{path}")
    assert "board_marks" in inspect(again.engine).get_table_names()
    BoardMarks(again).set("c", "1", "pinned")
    again.close()
