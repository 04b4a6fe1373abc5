"""The dashboard's pure parts: runs on the board, logins and CSRF, safe markdown, JSON inside a page."""

from __future__ import annotations

import json

import pytest

from hpcbridge.dashboard.auth import Logins, csrf_ok
from hpcbridge.dashboard.board import _progress, group_runs
from hpcbridge.dashboard.markdown import render_entry
from hpcbridge.dashboard.web import script_json
from hpcbridge.history.logbook import Entry
from hpcbridge.models import Job, JobState
from hpcbridge.server.http_auth import NamedTokenVerifier


def _job(job_id: str, name: str, dependency: str = "", **kw: object) -> Job:
    return Job(job_id=job_id, name=name, user="alice", state=JobState.PENDING, native_state="PENDING",
               dependency=dependency, **kw)  # type: ignore[arg-type]


def test_dependency_chains_join_the_run_they_wait_for_in_order() -> None:
    jobs = [_job("12", "eval", "afterok:11(unfulfilled)"), _job("11", "train"), _job("13", "export", "afterany:12"),
            _job("20", "sweep"), _job("21", "sweep"), _job("30_1", "arr"), _job("30_2", "arr")]
    runs = {name: [j.job_id for j in run] for name, run in group_runs(jobs)}
    assert runs == {"train": ["11", "12", "13"], "sweep": ["20", "21"], "arr": ["30_1", "30_2"]}


def test_progress_is_the_share_of_the_limit() -> None:
    assert _progress(_job("1", "a", time_used="1:00:00", time_limit="4:00:00")) == 0.25
    assert _progress(_job("1", "a", time_used="5:00:00", time_limit="4:00:00")) == 1.0
    assert _progress(_job("1", "a", time_used="1:00", time_limit="UNLIMITED")) is None
    assert _progress(_job("1", "a")) is None


async def test_logins_need_a_configured_token_and_expire_on_logout() -> None:
    logins = Logins(NamedTokenVerifier({"ana": "a" * 40}))
    assert await logins.log_in("b" * 40) is None and await logins.log_in("") is None
    made = await logins.log_in("a" * 40 + "\n")
    assert made is not None
    session_id, login = made
    assert logins.find(session_id) == login and login.principal == "ana"
    assert csrf_ok(login, login.csrf) and not csrf_ok(login, "") and not csrf_ok(login, login.csrf[:-1] + "x")
    logins.log_out(session_id)
    assert logins.find(session_id) is None
    assert await Logins(None).log_in("a" * 40) is None  # no verifier (stdio): nobody logs in


def test_markdown_cannot_carry_script_and_links_what_resolves() -> None:
    entry = Entry(1, "p", "note", "t", "See @train_a, @ghost and #2, #9.\n\n<script>alert(1)</script> "
                  "[x](javascript:alert(1)) <img src=x onerror=alert(1)> **bold**", "", "",
                  runs=["train_a"], missing_runs=["ghost"], entries={2: "plan"})
    html = str(render_entry(entry))
    assert '<a href="/run/train_a">@train_a</a>' in html and '<a href="/logbook/2">#2</a>' in html
    assert "@ghost" in html and "/logbook/9" not in html and "<strong>bold</strong>" in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html.split("[x]")[0]
    assert 'href="javascript' not in html


@pytest.mark.parametrize("value", ["</script><script>alert(1)</script>", "a & b > c", "<!--"])
def test_json_in_a_script_element_cannot_end_it(value: str) -> None:
    text = str(script_json({"k": value}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"k": value}

