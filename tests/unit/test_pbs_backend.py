"""The PBS Pro / OpenPBS path of the backend, replayed from recorded OpenPBS 23.06 output.

Why a replay and not a live server: OpenPBS is not packaged for Debian and cannot be built and run inside
this test cluster's budget; the Torque path runs live (tests/e2e/test_pbs.py). The replay checks what we send
(argv, stdin) and how the answers are read; the outputs are real ones from ../shared/fixtures/pbs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpcbridge.backends.pbs import PbsBackend
from hpcbridge.backends.pbs.messages import since
from hpcbridge.errors import InvalidParameter, NotFound, PrivilegeError, Unsupported
from hpcbridge.models import CommandResult, JobRequest, JobState

from ..conftest import shared_fixtures


class Replay:
    """argv -> recorded output; records every command and its stdin."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sent: list[tuple[list[str], bytes | None]] = []
        self.answers: dict[tuple[str, ...], tuple[str, str, int]] = {
            ("qstat", "--version"): ("pbs_version = 23.06.06\n", "", 0),
            ("id", "-un"): ("alice\n", "", 0),
            ("qstat", "-Q", "-f", "-F", "json"): (self._read("qstat-Q-f-F-json-openpbs-23.06.06.json"), "", 0),
            ("pbsnodes", "-a", "-F", "json"): (self._read("pbsnodes-a-F-json-openpbs-23.06.06.json"), "", 0),
            ("qstat", "-f", "-t", "-F", "json"): (
                self._read("qstat-F-json-f-x-single-job-openpbs-23.06.06.json"), "", 0),
            ("qstat", "-f", "-t", "-x", "-F", "json"): (
                self._read("qstat-F-json-f-x-history-openpbs-23.06.06.json"), "", 0),
            ("qstat", "-f", "-x", "-F", "json", "1.pbs"): (
                self._read("qstat-F-json-f-x-single-job-openpbs-23.06.06.json"), "", 0),
            ("qstat", "-f", "-x", "-F", "json", "99.pbs"): ("", "qstat: Unknown Job Id 99.pbs\n", 153),
            ("qstat", "-B", "-f", "-F", "json"): (('{"Server": {"pbs": {"default_queue": "workq", '
                                                   '"managers": "root@pbs,boss@*", "operators": "alice@pbs"}}}'),
                                                  "", 0),
            ("qmgr", "-c", "list server"): (("Server pbs\n    managers = root@pbs,boss@*\n    operators = alice@pbs\n"
                                             "    default_queue = workq\n"), "", 0),
            ("qsub",): ("7.pbs\n", "", 0),
            ("qdel", "-W", "force", "1.pbs"): ("", "qdel: Unauthorized Request  1.pbs\n", 159),
            ("qdel", "99.pbs"): ("", "qdel: Unknown Job Id 99.pbs\n", 153),
            ("qhold", "-h", "u", "1.pbs"): ("", "", 0),
            ("qsig", "-s", "USR1", "1.pbs"): ("", "qsig: illegal option -- s\nusage: qsig ...\n", 2),
        }

    def _read(self, name: str) -> str:
        return (self.folder / name).read_text()

    async def run(self, argv: list[str], *, stdin: bytes | None = None, **_: object) -> CommandResult:
        self.sent.append((argv, stdin))
        out, err, status = self.answers.get(tuple(argv), ("", f"unexpected command {argv}", 99))
        return CommandResult(tuple(argv), out, err, status, 0.0)

    async def write(self, path: str, data: bytes) -> None:
        raise AssertionError("PBS Pro reads the script on stdin; nothing is written")


@pytest.fixture
def replay() -> Replay:
    return Replay(shared_fixtures("pbs"))


async def test_flavor_queues_nodes_and_default_queue(replay: Replay) -> None:
    backend = PbsBackend(replay.run, replay.write)
    assert await backend.flavor() == "pbspro" and await backend.version() == "PBS Pro/OpenPBS 23.06.06"
    (workq,) = await backend.partitions()
    assert workq.name == "workq" and workq.is_default and workq.nodes == ("pbs",) and workq.state == "UP"
    assert await backend.privileges("alice") == "PBS operator: may act on other users' jobs"
    assert "ordinary user" in await backend.privileges("carol")
    assert ["qmgr", "-c", "list server"] in [argv for argv, _ in replay.sent]
    del replay.answers[("qmgr", "-c", "list server")]  # no qmgr on the PATH: the server's qstat -B -f answers
    assert await backend.privileges("alice") == "PBS operator: may act on other users' jobs"


async def test_jobs_history_and_unknown_ids(replay: Replay) -> None:
    backend = PbsBackend(replay.run, replay.write, "pbspro")
    (job,) = await backend.jobs()
    assert job.job_id == "1.pbs" and job.state is JobState.RUNNING and job.partition == "workq"
    details = await backend.job("1.pbs")
    assert details is not None and details.job.job_id == "1.pbs"
    assert await backend.job("99.pbs") is None
    records = await backend.history(start_time="2020-01-01")
    assert records and all(r.job_id for r in records)
    assert {r.state for r in records} <= set(JobState)


async def test_submit_goes_on_stdin_with_directives(replay: Replay) -> None:
    backend = PbsBackend(replay.run, replay.write, "pbspro")
    req = JobRequest(script_content="python train.py", job_name="t", partition="workq", gpus=2, time_limit="60")
    await backend.check_request(req)
    script = backend.render_script(req)
    assert await backend.submit(script, req) == "7.pbs"
    argv, stdin = replay.sent[-1]
    assert argv == ["qsub"] and stdin is not None
    assert b"#PBS -l select=1:ncpus=1:ngpus=2\n" in stdin and b"#PBS -l walltime=01:00:00\n" in stdin
    with pytest.raises(InvalidParameter, match="gpu_type"):
        await backend.check_request(JobRequest(script_content="x", gpus=1, gpu_type="a100"))


async def test_control_errors_are_named(replay: Replay) -> None:
    backend = PbsBackend(replay.run, replay.write, "pbspro")
    await backend.hold("1.pbs")
    with pytest.raises(PrivilegeError, match="not permitted for alice.*operator or manager"):
        await backend.cancel("1.pbs", force=True)
    with pytest.raises(NotFound, match="99.pbs"):
        await backend.cancel("99.pbs")
    with pytest.raises(Unsupported, match="qsig"):
        await backend.cancel("1.pbs", signal="USR1")


def test_history_times() -> None:
    from datetime import datetime

    now = datetime(2026, 1, 10, 12, 0, 0)
    assert since("start_time", "now-2days", now) == "2026-01-08T12:00:00"
    assert since("start_time", "2025-12-01", now) == "2025-12-01"
    with pytest.raises(InvalidParameter, match="start_time"):
        since("start_time", "12/01", now)


async def test_array_subjobs_are_listed_one_per_row(replay: Replay) -> None:
    # synthetic: the shape of `qstat -f -t -F json` for an array (no recorded array output exists)
    replay.answers[("qstat", "-f", "-t", "-F", "json")] = (json.dumps({"pbs_version": "23.06.06", "Jobs": {
        "8[].pbs": {"Job_Name": "sweep", "Job_Owner": "alice@pbs", "job_state": "B", "queue": "workq"},
        "8[1].pbs": {"Job_Name": "sweep", "Job_Owner": "alice@pbs", "job_state": "R", "queue": "workq"},
        "8[2].pbs": {"Job_Name": "sweep", "Job_Owner": "alice@pbs", "job_state": "Q", "queue": "workq"},
    }}), "", 0)
    backend = PbsBackend(replay.run, replay.write, "pbspro")
    jobs = await backend.jobs()
    assert [(j.job_id, j.array_job_id, j.array_task_id, j.state) for j in jobs] == [
        ("8[1].pbs", "8[].pbs", "1", JobState.RUNNING), ("8[2].pbs", "8[].pbs", "2", JobState.PENDING)]


def test_waiters_find_pbs_jobs_by_short_id() -> None:
    from hpcbridge.models import Job
    from hpcbridge.services.waiting import _matches

    snapshot = {j.job_id: j for j in (
        Job("12.pbs", "a", "alice", JobState.RUNNING, "R"),
        Job("8[1].pbs", "s", "alice", JobState.PENDING, "Q", array_job_id="8[].pbs", array_task_id="1"),
        Job("120.pbs", "b", "alice", JobState.PENDING, "Q"))}
    assert [j.job_id for j in _matches("12", snapshot)] == ["12.pbs"]
    assert [j.job_id for j in _matches("8[]", snapshot)] == ["8[1].pbs"]
    assert [j.job_id for j in _matches("8[].pbs", snapshot)] == ["8[1].pbs"]
    assert _matches("99", snapshot) == []
