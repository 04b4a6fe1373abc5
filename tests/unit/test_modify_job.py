"""modify_job: the argv each scheduler gets (qalter/qmove, scontrol update), the values refused before anything
runs, and the effective request that policy and feasibility judge."""

from __future__ import annotations

import pytest

from hpcbridge.backends.base import BasicBackend, JobChanges
from hpcbridge.backends.pbs import build as pbs
from hpcbridge.backends.slurm import build as slurm
from hpcbridge.errors import InvalidParameter, Unsupported
from hpcbridge.models import GpuCount, Job, JobState
from hpcbridge.services.modify import changes_from, effective_request


def test_qalter_argv() -> None:
    assert pbs.qalter_argv("7.srv", "1-00:00:00", "renamed") == [
        "qalter", "-N", "renamed", "-l", "walltime=24:00:00", "7.srv"]
    assert pbs.qalter_argv("7.srv", select="2:ncpus=4:ngpus=2") == ["qalter", "-l", "select=2:ncpus=4:ngpus=2", "7.srv"]
    assert pbs.qalter_argv("7.srv") is None  # only the queue changes: qmove alone
    assert pbs.qmove_argv("gpu", "7.srv") == ["qmove", "gpu", "7.srv"]


@pytest.mark.parametrize(("current", "nodes", "gpus", "expected"), [
    ("1:ncpus=4:ngpus=1", None, 2, "1:ncpus=4:ngpus=2"),
    ("1:ncpus=4:ngpus=1:mem=4096mb", 2, None, "2:ncpus=4:ngpus=1:mem=4096mb"),
    ("1:ncpus=2", None, 1, "1:ncpus=2:ngpus=1"),
    ("ncpus=2", 3, None, "3:ncpus=2"),
])
def test_select_keeps_the_rest_of_the_chunk(current: str, nodes: int | None, gpus: int | None, expected: str) -> None:
    assert pbs.altered_select(current, nodes, gpus) == expected


def test_select_of_several_chunk_kinds_is_not_guessed() -> None:
    with pytest.raises(InvalidParameter, match="not one kind of chunk"):
        pbs.altered_select("1:ncpus=4+2:ncpus=1", 3, None)


def test_scontrol_update_argv_puts_jobid_first() -> None:
    assert slurm.update_argv("12", "2:00:00", "cpu", "renamed", 2, "gpu:a100:2") == [
        "scontrol", "update", "JobId=12", "TimeLimit=120", "Partition=cpu", "JobName=renamed", "NumNodes=2",
        "Gres=gpu:a100:2"]
    assert slurm.update_argv("12", job_name="x") == ["scontrol", "update", "JobId=12", "JobName=x"]


@pytest.mark.parametrize(("kwargs", "parameter"), [
    ({"time_limit": "ten minutes"}, "time_limit"), ({"time_limit": "0"}, "time_limit"),
    ({"partition": "gpu;rm -rf /"}, "partition"), ({"job_name": "a b"}, "job_name"),
    ({"job_name": "-N"}, "job_name"), ({"nodes": 0}, "nodes"), ({"gpus": -1}, "gpus"), ({}, "time_limit"),
])
def test_bad_values_are_refused_naming_the_parameter(kwargs: dict[str, object], parameter: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        changes_from(**kwargs)  # type: ignore[arg-type]
    assert err.value.parameter == parameter


def test_effective_request_is_the_new_values_over_the_jobs_own() -> None:
    job = Job("5", "train", "alice", JobState.HELD, "H", partition="gpu", account="proj", num_nodes=2,
              time_limit="01:00:00", gpus=(GpuCount("a100", 4),))
    req = effective_request(job, changes_from(time_limit="3:00:00"))
    assert (req.partition, req.time_limit, req.nodes, req.gpus, req.gpu_type, req.account) == (
        "gpu", "3:00:00", 2, 2, "a100", "proj")
    req = effective_request(job, changes_from(partition="cpu", gpus=1), gpu_types=False)
    assert (req.partition, req.time_limit, req.gpus, req.gpu_type) == ("cpu", "01:00:00", 1, None)
    unlimited = Job("6", "x", "alice", JobState.PENDING, "PD", time_limit="UNLIMITED")
    assert effective_request(unlimited, changes_from(job_name="y")).time_limit is None


async def test_a_scheduler_without_modify_refuses_it_in_one_line() -> None:
    with pytest.raises(Unsupported, match="changing a queued job is not supported on basic"):
        await BasicBackend().modify("1", JobChanges(job_name="x"))


@pytest.mark.parametrize("value", ["afterok:47.vm", "afterok:12[].pbs-1,afterany:3", "afterok:12_3", "afterok:5+1"])
def test_dependencies_name_pbs_and_slurm_ids(value: str) -> None:
    from hpcbridge.validate import dependency

    assert dependency(value) == value


@pytest.mark.parametrize("value", ["afterok:47.vm;id", "afterok:.vm", "afterok:1 2", "afterok:1.-x", "afterok:1.v`id`"])
def test_dependencies_with_anything_else_are_refused(value: str) -> None:
    from hpcbridge.validate import dependency

    with pytest.raises(InvalidParameter, match="invalid dependency"):
        dependency(value)


def test_scontrol_update_carries_qos_account_dependency_comment_and_throttle() -> None:
    assert slurm.update_argv("12", qos="short", account="capped", dependency="afterok:11",
                             comment="two words", array_throttle=0) == [
        "scontrol", "update", "JobId=12", "QOS=short", "Account=capped", "Dependency=afterok:11",
        "Comment=two words", "ArrayTaskThrottle=0"]


def test_qalter_carries_account_and_dependency() -> None:
    assert pbs.qalter_argv("7.srv", account="capped", dependency="afterok:6.srv") == [
        "qalter", "-A", "capped", "-W", "depend=afterok:6.srv", "7.srv"]


@pytest.mark.parametrize(("kwargs", "parameter"), [
    ({"qos": "short;x"}, "qos"), ({"account": "a b"}, "account"), ({"dependency": "after ok:1"}, "dependency"),
    ({"comment": "$(id)"}, "comment"), ({"comment": "-x"}, "comment"), ({"array_throttle": -1}, "array_throttle"),
    ({"array_throttle": True}, "array_throttle"),
])
def test_new_values_are_refused_naming_the_parameter(kwargs: dict[str, object], parameter: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        changes_from(**kwargs)  # type: ignore[arg-type]
    assert err.value.parameter == parameter


def test_the_new_account_and_qos_are_what_policy_judges() -> None:
    job = Job("5", "train", "alice", JobState.PENDING, "PD", partition="gpu", account="research", qos="normal")
    req = effective_request(job, changes_from(account="capped", qos="short"))
    assert (req.account, req.qos) == ("capped", "short")
    assert effective_request(job, changes_from(job_name="y")).account == "research"


@pytest.mark.parametrize("field", ["qos", "comment", "array_throttle"])
async def test_pbs_refuses_what_qalter_has_not_in_one_line(field: str) -> None:
    from hpcbridge.backends.pbs.backend import PbsBackend

    async def never(*_: object, **__: object) -> None:
        raise AssertionError("nothing may run")

    backend = PbsBackend(never, never)  # type: ignore[arg-type]
    value: object = 2 if field == "array_throttle" else "x"
    with pytest.raises(Unsupported, match=f"PBS has no .* \\({field}\\)"):
        await backend.modify("7.srv", JobChanges(**{field: value}))  # type: ignore[arg-type]


async def test_slurms_refusal_comes_back_as_slurm_said_it() -> None:
    """slurmctld's answer to a user raising a time limit past what users may set (slurm_strerror's words for
    ESLURM_ACCESS_DENIED, as scontrol prints them); nothing is reworded into a generic 'permission denied'."""
    from hpcbridge.backends.slurm.backend import SlurmBackend
    from hpcbridge.errors import PrivilegeError
    from hpcbridge.models import CommandResult

    async def scontrol(argv: list[str], **_: object) -> CommandResult:
        assert argv[:3] == ["scontrol", "update", "JobId=12"]
        return CommandResult(tuple(argv), "", "Access/permission denied for job 12\n", 1, 0.01)

    with pytest.raises(PrivilegeError, match="refused by Slurm: Access/permission denied for job 12"):
        await SlurmBackend(scontrol).modify("12", JobChanges(time_limit="10:00:00"))  # type: ignore[arg-type]
