"""Every PBS output we know parses: PBS Pro / OpenPBS fixtures and the test cluster's Torque wrappers."""

from __future__ import annotations

import pytest

from hpcbridge.backends.pbs import parse as pbs
from hpcbridge.models import GpuCount, JobState

from ..conftest import DATA, SHARED_FIXTURES, shared_fixtures

TORQUE = DATA / "pbs-torque"


def _names() -> list[str]:
    folder = SHARED_FIXTURES / "pbs"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else ["(absent)"]


@pytest.mark.parametrize("name", _names())
def test_every_pbs_fixture_parses(name: str) -> None:
    text = (shared_fixtures("pbs") / name).read_text()
    if name.startswith("pbsnodes"):
        assert all(n.name for n in pbs.parse_nodes(text))
    elif "-Q-" in name and name.endswith(".json"):
        assert all(q.name and q.state in ("UP", "DOWN") for q in pbs.parse_queues(text))
    elif name == "qstat-Q-text-casper-ncar.txt":
        assert "htc" in text  # the summary table: only for people; queues come from qstat -Qf
    elif "default" in name:
        jobs = pbs.parse_listing(text)
        assert jobs and all(j.state is not JobState.UNKNOWN for j in jobs)
    else:
        details = pbs.parse_jobs_json(text) if name.endswith(".json") else pbs.parse_jobs_text(text)
        assert details and all(d.job.job_id and d.job.user and d.job.state is not JobState.UNKNOWN for d in details)


def _read(name: str) -> str:
    return (shared_fixtures("pbs") / name).read_text()


def test_exit_status_semantics() -> None:
    assert pbs.exit_meaning(0)[0] is JobState.COMPLETED
    assert pbs.exit_meaning(3)[:2] == (JobState.FAILED, 3)
    assert pbs.exit_meaning(-29)[0] is JobState.TIMEOUT and "walltime" in pbs.exit_meaning(-29)[3]
    assert pbs.exit_meaning(-26)[0] is JobState.OUT_OF_MEMORY
    assert pbs.exit_meaning(271)[:3] == (JobState.CANCELLED, None, 15)
    assert pbs.exit_meaning(267)[:3] == (JobState.FAILED, None, 11)
    for letter, state in {"Q": JobState.PENDING, "H": JobState.HELD, "W": JobState.PENDING, "R": JobState.RUNNING,
                          "E": JobState.COMPLETING, "B": JobState.RUNNING, "S": JobState.SUSPENDED,
                          "T": JobState.PENDING, "M": JobState.PENDING, "Z": JobState.UNKNOWN}.items():
        assert pbs.job_state(letter) is state
    assert pbs.job_state("F", 0) is JobState.COMPLETED and pbs.job_state("X", 1) is JobState.FAILED


def test_aurora_walltime_kill_and_held_job() -> None:
    jobs = {d.job.job_id.split(".")[0]: d for d in pbs.parse_jobs_json(_read("qstat-x-f-F-json-aurora-pbspro-2022.1.7.json"))}
    killed = jobs["6617175"]
    assert killed.job.state is JobState.TIMEOUT and killed.exit_code == -29 and "walltime" in killed.reason_explained
    assert jobs["4905472"].job.state is JobState.HELD
    assert pbs.short_id(killed.job.job_id) == "6617175"


def test_text_continuations_are_joined_even_mid_token() -> None:
    job = pbs.parse_jobs_text(_read("qstat-xf-text-palmetto-pbspro-2016.txt"))[0]
    assert job.stdout_path == "/home/username/MPI/pi-mpi.o7600424"  # wrapped as '...o760042' + TAB '4'
    assert job.raw["exec_vnode"].count("(node") == 4 and job.job.node_list == "node0088,node0094,node0085"
    assert job.job.num_cpus == 8 and job.job.time_limit and job.job.state is JobState.COMPLETED


def test_nodes_and_queues() -> None:
    nodes = {n.name: n for n in pbs.parse_nodes(_read("pbsnodes-a-F-json-polaris-pbspro-2022.1.1-excerpt.json"))}
    assert [n.state for n in nodes.values()] == ["IDLE", "ALLOCATED", "DOWN"]
    assert all(n.gpus == (GpuCount("a100", 4),) for n in nodes.values())
    queues = {q.name: q for q in pbs.parse_queues(_read("qstat-Q-f-F-json-aurora-pbspro-2022.1.7.json"))}
    assert queues["debug"].max_time_minutes == 60 and len(queues) == 34


def test_lenient_json_for_known_pbs_bugs() -> None:
    broken = '{"Jobs": {"1.s": {"job_state": "R", "Job_Owner": "a@h", "Variable_List": {"V": 1.2.3, "P": "C:\\x"}}}}'
    job = pbs.parse_jobs_json(broken)[0]
    assert job.job.state is JobState.RUNNING and "V=1.2.3" in job.raw["Variable_List"]


def test_torque_wrappers_of_the_test_cluster() -> None:
    held = pbs.parse_jobs_text((TORQUE / "qstat-f-held.txt").read_text())[0]
    assert held.job.job_id.isdigit() and held.job.name == "pbs-recorded" and held.job.user == "alice"
    assert held.job.partition == "cpu" and held.job.time_limit == "00:10:00"
    listing = pbs.parse_listing((TORQUE / "qstat-default.txt").read_text())
    assert held.job.job_id in {j.job_id for j in listing}
    nodes = {n.name: n for n in pbs.parse_nodes((TORQUE / "pbsnodes-a.txt").read_text())}
    assert set(nodes) == {"cpu1", "cpu2", "gpu1", "gpu2"} and nodes["gpu1"].gpus == (GpuCount(None, 4),)
    queues = {q.name for q in pbs.parse_queues((TORQUE / "qstat-Qf.txt").read_text())}
    assert queues >= {"gpu", "cpu"}


def test_operator_and_system_holds_are_named() -> None:
    text = ("Job Id: 5.srv\n    Job_Name = x\n    job_state = H\n    Hold_Types = s\n    queue = workq\n"
            "    comment = job held, too many failed attempts to run\n")
    (job,) = pbs.parse_jobs_text(text)
    assert job.job.state is JobState.HELD and job.job.reason == "JobHeldAdmin (PBS Hold_Types=s)"
    assert "too many failed attempts" in job.reason_explained
    user_hold = pbs.parse_jobs_text(text.replace("Hold_Types = s", "Hold_Types = u"))[0]
    assert user_hold.job.reason.startswith("job held")
