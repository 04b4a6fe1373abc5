"""Every Slurm output we know parses: shared fixtures (23.02-25.11) and the test cluster's 22.05."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpcbridge.backends.slurm import jsonout as slurm_json
from hpcbridge.backends.slurm import text as slurm_text
from hpcbridge.backends.slurm.states import explain_reason, job_state, node_state
from hpcbridge.models import GpuCount, JobState

from ..conftest import DATA, SHARED_FIXTURES, shared_fixtures

LIVE = DATA / "slurm-22.05"


def _fixture_files(pattern: str) -> list[str]:
    folder = SHARED_FIXTURES / "slurm"
    return sorted(p.name for p in folder.glob(pattern)) if folder.is_dir() else ["(absent)"]


def _read(name: str) -> str:
    return (shared_fixtures("slurm") / name).read_text()


@pytest.mark.parametrize("name", _fixture_files("*.json"))
def test_every_json_fixture_parses_into_known_fields(name: str) -> None:
    text = _read(name)
    if name.startswith("sinfo"):
        nodes = slurm_json.parse_sinfo(text)
        assert nodes and all(n.name and n.state for n in nodes)
    elif name.startswith(("sacct", "slurmrestd-slurmdb")):
        records = slurm_json.parse_sacct(text)
        assert records and all(r.job_id and r.native_state for r in records)
        assert all(r.state is not JobState.UNKNOWN for r in records)
    else:
        jobs = slurm_json.parse_jobs(text)
        assert jobs and all(d.job.job_id and d.job.user for d in jobs)
        assert all(d.job.state is not JobState.UNKNOWN for d in jobs)


def test_json_version_differences() -> None:
    old = slurm_json.parse_jobs(_read("squeue-23.02.6-v0.0.39.json"))[0]
    assert old.job.state is JobState.RUNNING and old.job.gpus == (GpuCount(None, 8),)
    assert old.job.time_limit == "4-04:00:00" and old.job.node_list == "data-center-ia830"
    new = slurm_json.parse_jobs(_read("squeue-24.11.6-v0.0.42.json"))[0]
    assert new.job.num_nodes == 12 and new.job.node_list.startswith("dave[4,31,40-42")
    talapas = slurm_json.parse_jobs(_read("slurmrestd-jobs-23.11.1-v0.0.40-talapas.json"))
    # the pending rest of an array: squeue writes it 7725337_[412-9999] (array_task_string), not a bare 7725337
    assert [d.job.job_id for d in talapas] == ["7725337_411", "7725337_[412-9999]"]
    assert talapas[1].job.reason == "Resources" and "resources" in talapas[1].reason_explained.lower()


def test_sacct_json_exit_codes_and_states() -> None:
    records = {r.job_id: r for r in slurm_json.parse_sacct(_read("sacct-24.11.6-v0.0.42-trimmed.json"))}
    assert records["9652708"].state is JobState.OUT_OF_MEMORY
    assert records["9678470"].state is JobState.FAILED and records["9678470"].exit_code == 1
    assert records["9683424"].state is JobState.TIMEOUT
    assert [s.step_id for s in records["9641651"].steps] == ["9641651.batch", "9641651.extern", "9641651.0"]
    never_ran = {r.job_id: r for r in slurm_json.parse_sacct(_read("sacct-24.11.3-v0.0.42-allusers.json"))}["6"]
    assert never_ran.state is JobState.PENDING and never_ran.node_list == ""


def test_sinfo_json_gpus_and_state_combinations() -> None:
    nodes = {n.name: n for n in slurm_json.parse_sinfo(_read("sinfo-24.11.6-v0.0.42-trimmed.json"))}
    bryan = nodes["bryan1"]
    assert bryan.state == "MIXED" and "PLANNED" in bryan.flags and bryan.gpus == (GpuCount("p100", 2),)
    assert any(n.gpus == (GpuCount("a100", 4),) for n in nodes.values())
    down = [n for n in nodes.values() if n.state == "DOWN"]
    assert down and all({"DRAIN", "NOT_RESPONDING"} <= set(n.flags) and not n.available for n in down)


def test_scontrol_text_fixtures_old_and_new_styles() -> None:
    old = slurm_text.parse_jobs_detail(_read("scontrol-show-job-gpu-pitt-crc-2024.txt"))[0]
    new = slurm_text.parse_jobs_detail(_read("scontrol-show-job-gpu-pitt-crc-2026.txt"))[0]
    for d in (old, new):
        assert d.job.state is JobState.RUNNING and d.job.gpus == (GpuCount(None, 1),)
        assert d.stdout_path.endswith(".out") and d.job.user and "(" not in d.job.user
    cscs = slurm_text.parse_jobs_detail(_read("scontrol-show-o-job-gpu-cscs.txt"))[0]
    assert cscs.job.gpus == (GpuCount(None, 4),)
    assert cscs.job.submit_time.startswith("2026-")  # SLURM_TIME_FORMAT=%s epochs normalised
    node = slurm_text.parse_nodes(_read("scontrol-show-node-gpu-rtx2080ti-19.05.5.txt"))[0]
    assert node.gpus == (GpuCount("rtx2080ti", 4),) and node.gpus_used == (GpuCount("rtx2080ti", 3),)
    assert node.partitions == ("compute", "kostas-compute") and node.cpus_total == 40


# --- the test cluster's own outputs (Slurm 22.05, recorded by tests/data/record.py) ---------------------

def _live(name: str) -> str:
    return (LIVE / name).read_text()


def test_live_nodes_and_partitions() -> None:
    nodes = {n.name: n for n in slurm_text.parse_nodes(_live("scontrol-show-node.txt"))}
    assert set(nodes) == {"gpu1", "gpu2", "cpu1", "cpu2"}
    assert nodes["gpu1"].gpus == (GpuCount("a100", 4),) and nodes["cpu1"].gpus == ()
    assert nodes["gpu1"].partitions == ("gpu", "interactive")
    parts = {p.name: p for p in slurm_text.parse_partitions(_live("scontrol-show-partition.txt"))}
    assert parts["cpu"].is_default and parts["gpu"].max_time_minutes == 1440
    assert parts["interactive"].max_time_minutes == 240 and parts["gpu"].total_gpus == 8
    assert parts["interactive"].nodes == ("cpu1", "cpu2", "gpu1", "gpu2")


def test_live_squeue_text_matches_squeue_json() -> None:
    text_jobs = {j.job_id: j for j in slurm_text.parse_squeue(_live("squeue-pinned.txt"))}
    json_jobs = {d.job.array_job_id or d.job.job_id: d.job for d in slurm_json.parse_jobs(_live("squeue.json"))}
    # 22.05's JSON keeps a pending array as one record (array_task_string "0-5", id 385_[0-5]); text expands it
    json_ids = set(json_jobs)
    assert text_jobs and {j.array_job_id or j.job_id for j in text_jobs.values()} <= json_ids
    for job_id, job in text_jobs.items():
        other = json_jobs[job.array_job_id or job_id]
        assert (job.state, job.user, job.partition, job.name) == (other.state, other.user, other.partition,
                                                                  other.name)
    running = [j for j in text_jobs.values() if j.state is JobState.RUNNING]
    assert running and running[0].gpus == (GpuCount("a100", 3),) and running[0].name == "train run"
    held = [j for j in text_jobs.values() if j.state is JobState.HELD]
    assert held and all(j.reason == "JobHeldUser" for j in held)
    assert {j.array_task_id for j in held if j.array_job_id} == {str(i) for i in range(6)}


def test_live_sacct_text_matches_sacct_json() -> None:
    text_records = {r.job_id: r for r in slurm_text.parse_sacct(_live("sacct-pinned.txt"))}
    json_records = {r.job_id: r for r in slurm_json.parse_sacct(_live("sacct.json"))}
    common = set(text_records) & set(json_records)
    assert len(common) >= 5
    for job_id in common:
        assert text_records[job_id].state == json_records[job_id].state
    failed = next(r for r in text_records.values() if r.name == "fails")
    assert failed.state is JobState.FAILED and failed.exit_code == 3


def test_live_scontrol_job_detail() -> None:
    details = slurm_text.parse_jobs_detail(_live("scontrol-show-job.txt"))
    running = next(d for d in details if d.job.state is JobState.RUNNING)
    assert running.gpu_indices == "0-2" and running.stdout_path.startswith("/home/")
    assert running.job.gpus == (GpuCount("a100", 3),)


def test_live_two_node_job_keeps_each_nodes_gpu_indices() -> None:
    """Recorded here: a 2-node job with 2 GPUs per node whose nodes hold different devices (another job held
    gpu1's device 0); scontrol prints one detail line per node. Both nodes' indices, never only the first."""
    (job,) = slurm_text.parse_jobs_detail(_live("scontrol-show-job-d-two-nodes.txt"))
    assert job.gpu_indices == "gpu1:1-2 gpu2:0-1" and job.job.node_list == "gpu[1-2]"
    same = _live("scontrol-show-job-d-two-nodes.txt").replace("IDX:1-2", "IDX:0-1")
    assert slurm_text.parse_jobs_detail(same)[0].gpu_indices == "gpu1:0-1 gpu2:0-1"


def test_json_gres_detail_of_a_multi_node_job_is_per_node() -> None:
    """No recorded JSON has a multi-node GPU job: gres_detail (one entry per allocated node, in node order,
    as the 23.02 fixture's single entry shows) is built here in that shape."""
    from hpcbridge.backends.slurm import jsonout

    job = {"job_id": 7, "name": "x", "job_state": "RUNNING", "nodes": "gpu[1-2]", "node_count": 2,
           "gres_detail": ["gpu:a100:2(IDX:1-2)", "gpu:a100:2(IDX:0-1)"]}
    (details,) = jsonout.parse_jobs(json.dumps({"jobs": [job]}))
    assert details.gpu_indices == "gpu1:1-2 gpu2:0-1"
    job["gres_detail"] = ["gpu:a100:2(IDX:0-1)"]
    assert jsonout.parse_jobs(json.dumps({"jobs": [job]}))[0].gpu_indices == "0-1"


def test_live_sinfo_json_flat_nodes() -> None:
    nodes = {n.name: n for n in slurm_json.parse_sinfo(_live("sinfo.json"))}
    assert nodes["gpu2"].gpus == (GpuCount("a100", 4),)


@pytest.mark.parametrize(
    ("native", "reason", "state"),
    [("PENDING", "JobHeldUser", JobState.HELD), ("PD", "Priority", JobState.PENDING),
     ("CANCELLED by 1001", "", JobState.CANCELLED), (["RUNNING"], "", JobState.RUNNING),
     ("OUT_OF_MEMORY", "", JobState.OUT_OF_MEMORY), ("SOMETHING_NEW", "", JobState.UNKNOWN)],
)
def test_job_states(native: str | list[str], reason: str, state: JobState) -> None:
    assert job_state(native, reason) is state


def test_node_states_and_reasons() -> None:
    assert node_state("DOWN*+DRAIN") == ("DOWN", ("NOT_RESPONDING", "DRAIN"))
    assert node_state("mix") == ("MIXED", ())
    assert node_state(["IDLE", "RESERVED"]) == ("IDLE", ("RESERVED",))
    assert "can never be satisfied" in explain_reason("DependencyNeverSatisfied")
    assert "partition allows" in explain_reason("PartitionTimeLimit")
    assert "GPU" in explain_reason("QOSMaxGRESPerUser") and "GPU" in explain_reason("AssocGrpGRES")
    assert "not in hpcbridge's table" in explain_reason("SomethingNew")


def test_unknown_text_degrades_without_exception() -> None:
    assert slurm_text.parse_squeue("garbage\nmore garbage") == []
    assert slurm_text.parse_nodes("NodeName=x State=WEIRD+NEW Gres=gpu:zz:banana")[0].state == "WEIRD"
    assert slurm_json.parse_jobs('{"jobs": [{"job_id": 1, "job_state": ["NEWSTATE"]}]}')[0].job.state \
        is JobState.UNKNOWN


def test_fixture_dir_listing_is_complete() -> None:
    if not (SHARED_FIXTURES / "slurm").is_dir():
        pytest.skip("../shared/fixtures absent")
    names = {p.name for p in Path(SHARED_FIXTURES / "slurm").iterdir()}
    covered = set(_fixture_files("*.json")) | {
        "scontrol-show-job-gpu-pitt-crc-2024.txt", "scontrol-show-job-gpu-pitt-crc-2026.txt",
        "scontrol-show-o-job-gpu-cscs.txt", "scontrol-show-node-gpu-rtx2080ti-19.05.5.txt"}
    assert names <= covered, f"fixtures without a test: {names - covered}"


def test_squeue_keeps_the_dependency_until_it_is_met() -> None:
    jobs = {j.job_id: j for j in slurm_text.parse_squeue(_live("squeue-pinned.txt"))}
    assert jobs["387"].dependency == "afterok:386(unfulfilled)"
    assert jobs["386"].dependency == ""
