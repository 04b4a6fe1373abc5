"""Real OpenPBS 23.06.06 outputs of the test cluster's own PBS complex (tests/data/openpbs-23.06, recorded by
tests/data/record_openpbs.py), read with the values the scene had: a GPU job on vnode gpu1, a 4-task array,
a job held by its dependency, a second user's held job with an Account_Name, a job that exited 3, a walltime
overrun; queues workq and gpu (which owns the GPU vnodes); a host presenting four vnodes."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from hpcbridge.backends.pbs import PbsBackend, messages, parse
from hpcbridge.models import CommandResult, GpuCount, JobState

DATA = Path(__file__).resolve().parents[1] / "data" / "openpbs-23.06"


def _read(name: str) -> str:
    return (DATA / name).read_text()


def test_the_queue_with_arrays_dependencies_and_accounts() -> None:
    jobs = {d.job.job_id: d.job for d in parse.parse_jobs_json(_read("qstat-f-t-F-json.json"))}
    gpu = jobs["2.vm"]
    assert (gpu.state, gpu.partition, gpu.account, gpu.num_cpus) == (JobState.RUNNING, "gpu", "proj-alpha", 2)
    assert gpu.gpus == (GpuCount(None, 1),) and gpu.time_limit == "00:20:00"
    assert gpu.node_list == "gpu1"  # the vnode of exec_vnode, not exec_host's host (vm)
    assert gpu.dependency == "beforeok:4.vm@vm"
    assert jobs["3[].vm"].native_state == "B" and jobs["3[].vm"].array_job_id is None
    tasks = [jobs[f"3[{i}].vm"] for i in range(4)]
    assert [(t.array_job_id, t.array_task_id, t.node_list) for t in tasks] == [("3[].vm", str(i), "cpu1")
                                                                                for i in range(4)]
    waiting = jobs["4.vm"]
    assert waiting.state is JobState.HELD and waiting.dependency == "afterok:2.vm@vm"
    assert waiting.account == ""  # OpenPBS's project placeholder _pbs_project_default is no account
    held = jobs["0.vm"]
    assert (held.user, held.state, held.account, held.name) == ("bob", JobState.HELD, "proj-alpha", "held-analysis")


def test_the_text_form_reads_the_same_jobs() -> None:
    jobs = {d.job.job_id: d.job for d in parse.parse_jobs_text(_read("qstat-f-text.txt"))}
    assert set(jobs) == {"0.vm", "2.vm", "3[].vm", "4.vm"}
    assert jobs["2.vm"].gpus == (GpuCount(None, 1),) and jobs["2.vm"].account == "proj-alpha"
    assert jobs["2.vm"].node_list == "gpu1" and jobs["4.vm"].account == ""


def test_history_exit_codes_and_the_walltime_overrun() -> None:
    records = {r.job_id: r for r in map(parse.record_from_details,
                                        parse.parse_jobs_json(_read("qstat-f-x-F-json.json")))}
    assert (records["1.vm"].state, records["1.vm"].exit_code, records["1.vm"].user) == (JobState.COMPLETED, 0, "bob")
    failed = records["5.vm"]
    assert (failed.state, failed.exit_code, failed.account, failed.node_list) == (JobState.FAILED, 3, "proj-alpha",
                                                                                  "cpu2")
    overrun = records["6.vm"]
    assert (overrun.state, overrun.exit_code, overrun.time_limit) == (JobState.TIMEOUT, -29, "00:00:03")
    assert "walltime" in overrun.reason
    # qdel'ed: substate 91 (TERMINATED) whatever the exit status: the running one's shell exited 143, the one
    # waiting on its dependency never ran and has no Exit_status at all
    ran, waited = records["2.vm"], records["4.vm"]
    assert (ran.state, ran.exit_code, waited.state, waited.exit_code) == (JobState.CANCELLED, 143,
                                                                          JobState.CANCELLED, None)
    assert "while it ran" in ran.reason and "before it ran" in waited.reason
    (single,) = parse.parse_jobs_json(_read("qstat-f-x-F-json-failed.json"))
    assert parse.record_from_details(single).exit_code == 3


def test_vnodes_gpus_types_and_memory() -> None:
    nodes = {n.name: n for n in parse.parse_nodes(_read("pbsnodes-a-F-json.json"))}
    assert set(nodes) == {"vm", "gpu1", "gpu2", "cpu1", "cpu2"}
    gpu1 = nodes["gpu1"]
    assert gpu1.gpus == (GpuCount("a100", 4),) and gpu1.gpus_used == (GpuCount("a100", 1),)
    assert (gpu1.cpus_total, gpu1.cpus_alloc, gpu1.memory_mb, gpu1.partitions) == (8, 2, 16384, ("gpu",))
    assert (nodes["cpu1"].state, nodes["cpu1"].cpus_alloc, nodes["cpu1"].memory_mb) == ("ALLOCATED", 4, 8192)
    assert nodes["vm"].cpus_total == 0 and nodes["vm"].memory_mb == 24684084 // 1024  # kb


def test_version_default_queue_and_roles() -> None:
    assert messages.parse_version(_read("qstat-version.txt")) == ("pbspro", "PBS Pro/OpenPBS 23.06.06")
    server = _read("qstat-B-f-F-json.json")
    assert messages.is_server_listing(server) and messages.default_queue(server) == "workq"
    assert messages.server_roles(server, "alice") == []
    listing = _read("qmgr-list-server.txt")  # as alice: a user may list the server; bob is the site's operator
    assert messages.is_server_listing(listing) and messages.default_queue(listing) == "workq"
    assert messages.server_roles(listing, "bob") == ["operators"] and messages.server_roles(listing, "alice") == []


class Recorded:
    """The backend's reads answered from the recording (a recorded server cannot change; the live one is
    exercised by tests/integration/test_backend_contract.py)."""

    ANSWERS: ClassVar[dict[tuple[str, ...], str]] = {
        ("qstat", "--version"): "qstat-version.txt", ("qstat", "-Q", "-f", "-F", "json"): "qstat-Q-f-F-json.json",
        ("pbsnodes", "-a", "-F", "json"): "pbsnodes-a-F-json.json",
        ("qstat", "-B", "-f", "-F", "json"): "qstat-B-f-F-json.json"}

    async def run(self, argv: list[str], **_: object) -> CommandResult:
        name = self.ANSWERS.get(tuple(argv))
        return CommandResult(tuple(argv), _read(name) if name else "", "" if name else f"unexpected {argv}",
                             0 if name else 99, 0.0)

    async def write(self, path: str, data: bytes) -> None:
        raise AssertionError("reads only")


@pytest.fixture
def backend() -> PbsBackend:
    recorded = Recorded()
    return PbsBackend(recorded.run, recorded.write)


async def test_queues_own_their_vnodes_and_the_natural_vnode_is_no_node(backend: PbsBackend) -> None:
    assert [n.name for n in await backend.nodes()] == ["gpu1", "gpu2", "cpu1", "cpu2"]
    queues = {q.name: q for q in await backend.partitions()}
    workq, gpu = queues["workq"], queues["gpu"]
    assert workq.is_default and workq.nodes == ("cpu1", "cpu2") and (workq.total_cpus, workq.total_gpus) == (8, 0)
    assert not gpu.is_default and gpu.nodes == ("gpu1", "gpu2") and (gpu.total_cpus, gpu.total_gpus) == (16, 8)
    assert (workq.max_time_minutes, gpu.max_time_minutes) == (168 * 60, 24 * 60)
