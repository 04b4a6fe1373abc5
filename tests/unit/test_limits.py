"""Limits before submitting (issue 28), pure parts: sacctmgr rows and qstat -Q records recorded from the test
cluster (tests/data/slurm-22.05/sacctmgr-*.txt, tests/data/openpbs-23.06/qstat-Q-f-limits.*), Slurm's reason
words, and a request judged against limits with what is in use counted from a queue listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcbridge.backends.limits import AccountLimits, Limit
from hpcbridge.backends.pbs import limits as pbs_limits
from hpcbridge.backends.slurm import limits as slurm_limits
from hpcbridge.errors import InfeasibleRequest
from hpcbridge.models import GpuCount, Job, JobRequest, JobState
from hpcbridge.services import limits

DATA = Path(__file__).resolve().parents[1] / "data"


def _recorded_slurm() -> list[Limit]:
    def rows(name: str) -> list[dict[str, str]]:
        return slurm_limits.rows((DATA / "slurm-22.05" / name).read_text(), slurm_limits.ASSOC_FIELDS)

    assocs = rows("sacctmgr-assoc-user.txt") + [r for r in rows("sacctmgr-assoc-accounts.txt") if not r["User"]]
    assert slurm_limits.parents_missing(assocs) == ["root"]
    assocs += [r for r in rows("sacctmgr-assoc-root.txt") if not r["User"]]
    assert slurm_limits.parents_missing(assocs) == []
    qos = slurm_limits.rows((DATA / "slurm-22.05" / "sacctmgr-qos-limits.txt").read_text(), slurm_limits.QOS_FIELDS)
    return slurm_limits.assoc_limits(assocs, "alice") + slurm_limits.qos_limits(qos)


def test_recorded_sacctmgr_gives_the_capped_account_and_the_short_qos() -> None:
    found = {(lim.reason, lim.name, lim.resource, lim.value, lim.account, lim.qos) for lim in _recorded_slurm()}
    assert found == {("AssocGrpGRES", "GrpTRES", "gres/gpu", 2, "capped", ""),
                     ("QOSMaxWallDurationPerJobLimit", "MaxWall", "wall", 30, "", "short")}


@pytest.mark.parametrize(("owner", "name", "resource", "word"), [
    ("Assoc", "GrpTRES", "gres/gpu", "AssocGrpGRES"), ("Assoc", "GrpTRES", "cpu", "AssocGrpCpuLimit"),
    ("Assoc", "GrpTRES", "node", "AssocGrpNodeLimit"), ("Assoc", "GrpTRES", "mem", "AssocGrpMemLimit"),
    ("Assoc", "MaxJobs", "jobs", "AssocMaxJobsLimit"), ("Assoc", "GrpJobs", "jobs", "AssocGrpJobsLimit"),
    ("Assoc", "MaxSubmitJobs", "jobs", "AssocMaxSubmitJobLimit"),
    ("Assoc", "GrpSubmitJobs", "jobs", "AssocGrpSubmitJobsLimit"),
    ("Assoc", "MaxWall", "wall", "AssocMaxWallDurationPerJobLimit"),
    ("Assoc", "MaxTRES", "gres/gpu", "AssocMaxGRESPerJob"), ("Assoc", "MaxTRES", "cpu", "AssocMaxCpuPerJobLimit"),
    ("Assoc", "GrpTRESMins", "gres/gpu", "AssocGrpGRESMinutes"),
    ("Assoc", "GrpTRESMins", "cpu", "AssocGrpCPUMinutesLimit"),
    ("QOS", "MaxWall", "wall", "QOSMaxWallDurationPerJobLimit"), ("QOS", "MaxTRESPU", "gres/gpu", "QOSMaxGRESPerUser"),
    ("QOS", "MaxTRESPU", "cpu", "QOSMaxCpuPerUserLimit"), ("QOS", "MaxJobsPU", "jobs", "QOSMaxJobsPerUserLimit"),
    ("QOS", "MaxSubmitPU", "jobs", "QOSMaxSubmitJobPerUserLimit"), ("QOS", "GrpTRES", "gres/gpu", "QOSGrpGRES"),
    ("QOS", "MaxTRES", "node", "QOSMaxNodePerJobLimit"),
])
def test_reason_words_are_slurms(owner: str, name: str, resource: str, word: str) -> None:
    assert slurm_limits.reason(owner, name, resource) == word


def test_every_limit_form_of_a_user_row_and_a_qos_row() -> None:
    # sacctmgr's forms: TRES lists (mem with a unit, a typed GPU), counts, [D-]HH:MM:SS
    user = dict.fromkeys(slurm_limits.ASSOC_FIELDS, "") | {
        "Account": "lab", "User": "alice", "GrpTRES": "cpu=64,mem=256G", "MaxTRES": "gres/gpu:a100=4",
        "MaxJobs": "5", "MaxSubmitJobs": "20", "MaxWall": "2-00:00:00", "GrpTRESMins": "gres/gpu=6000"}
    got = {(lim.name, lim.resource): (lim.value, lim.kind, lim.scope) for lim in slurm_limits.assoc_limits([user], "alice")}
    assert got == {("GrpTRES", "cpu"): (64, "shared", "user"), ("GrpTRES", "mem"): (262144, "shared", "user"),
                   ("MaxTRES", "gres/gpu:a100"): (4, "per_job", "user"), ("MaxJobs", "jobs"): (5, "running_jobs", "user"),
                   ("MaxSubmitJobs", "jobs"): (20, "queued_jobs", "user"), ("MaxWall", "wall"): (2880, "per_job", "user"),
                   ("GrpTRESMins", "gres/gpu"): (6000, "minutes", "user")}
    qos = dict.fromkeys(slurm_limits.QOS_FIELDS, "") | {"Name": "gpu", "MaxTRESPU": "gres/gpu=8", "MaxJobsPU": "3"}
    assert {(lim.reason, lim.scope) for lim in slurm_limits.qos_limits([qos])} == {
        ("QOSMaxGRESPerUser", "qos_user"), ("QOSMaxJobsPerUserLimit", "qos_user")}
    assert slurm_limits.rows("Name|only two\nnormal||||||||\n", slurm_limits.QOS_FIELDS)[0]["Name"] == "normal"


def test_a_max_limit_binds_from_the_nearest_level_that_sets_it() -> None:
    """Slurm's resource_limits.html "Hierarchy": the user row's MaxWall (3 days) wins over its account's
    (1 day), and a QOS's over both; Grp limits hold at every level. A 2-day job is not refused."""
    blank = dict.fromkeys(slurm_limits.ASSOC_FIELDS, "")
    rows = [blank | {"Account": "lab", "User": "alice", "MaxWall": "3-00:00:00"},
            blank | {"Account": "lab", "User": "", "ParentName": "root", "MaxWall": "1-00:00:00",
                     "GrpTRES": "gres/gpu=8"},
            blank | {"Account": "root", "User": "", "GrpTRES": "gres/gpu=64"}]
    assoc = slurm_limits.assoc_limits(rows, "alice")
    binding = limits.nearest(assoc)
    assert [(lim.name, lim.value) for lim in binding if lim.name == "MaxWall"] == [("MaxWall", 3 * 1440)]
    assert sorted(lim.value for lim in binding if lim.name == "GrpTRES") == [8, 64]
    two_days = JobRequest(script_content="x", time_limit="2-00:00:00")
    assert all(limits.judge(lim, two_days, 2 * 1440) == "" for lim in binding if lim.name == "MaxWall")
    qos = slurm_limits.qos_limits([dict.fromkeys(slurm_limits.QOS_FIELDS, "") | {"Name": "short",
                                                                                 "MaxWall": "00:30:00"}])
    assert [lim.where for lim in limits.nearest(assoc + qos) if lim.name == "MaxWall"] == ["QOS short"]


@pytest.mark.parametrize("form", ["json", "txt"])
def test_recorded_openpbs_queue_limit(form: str) -> None:
    text = (DATA / "openpbs-23.06" / f"qstat-Q-f-limits.{form}").read_text()
    (lim,) = pbs_limits.all_limits(text, "", "alice")
    assert (lim.name, lim.resource, lim.value, lim.kind, lim.scope, lim.partition) == (
        "max_run_res.ngpus", "ngpus", 6, "shared", "queue_user", "gpu")


def test_pbs_entry_forms() -> None:
    attrs = {"max_run": "[o:PBS_ALL=10],[u:PBS_GENERIC=3],[u:bob=1],[g:staff=2]", "max_queued": "[u:alice=7]",
             "max_user_run": "2", "resources_max.walltime": "24:00:00"}
    got = {(lim.name, lim.scope, lim.value, lim.kind) for lim in pbs_limits.limits_of(attrs, "alice", "the server")}
    assert got == {("max_run", "server", 10, "running_jobs"), ("max_run", "server_user", 3, "running_jobs"),
                   ("max_queued", "server_user", 7, "queued_jobs"), ("max_user_run", "server_user", 2, "running_jobs")}
    # bob's own entry overrides the generic one for bob (PBS Admin Guide); alice still gets the generic one
    bob = {(lim.scope, lim.value) for lim in pbs_limits.limits_of(attrs, "bob", "the server")
           if lim.name == "max_run"}
    assert bob == {("server", 10), ("server_user", 1)}
    text = "Server: vm\n    server_state = Active\n    max_run = [u:PBS_GENERIC=4]\n"
    assert pbs_limits.server_record(text) == {"max_run": "[u:PBS_GENERIC=4]"}


def _job(user: str, account: str, gpus: int, state: JobState = JobState.RUNNING, qos: str = "normal") -> Job:
    return Job(job_id="1", name="x", user=user, state=state, native_state=state.value, account=account, qos=qos,
               num_nodes=1, num_cpus=4, gpus=(GpuCount("a100", gpus),) if gpus else ())


GRP = Limit("GrpTRES", "account capped", "gres/gpu", 2, "shared", "account", "AssocGrpGRES", account="capped")


def test_in_use_counts_the_scopes_running_jobs() -> None:
    jobs = [_job("alice", "capped", 1), _job("bob", "capped", 1), _job("alice", "research", 4),
            _job("alice", "capped", 2, JobState.PENDING)]
    assert limits.in_use(GRP, jobs, "alice") == 2  # everyone's running in capped; the pending one not
    per_user = Limit("MaxJobs", "user alice in account capped", "jobs", 1, "running_jobs", "user",
                     "AssocMaxJobsLimit", account="capped")
    assert limits.in_use(per_user, jobs, "alice") == 1
    submit = Limit("MaxSubmitJobs", "x", "jobs", 5, "queued_jobs", "user", "AssocMaxSubmitJobLimit", account="capped")
    assert limits.in_use(submit, jobs, "alice") == 2  # queued counts pending and running


def test_judging_a_request() -> None:
    req = JobRequest(script_content="true", partition="gpu", account="capped", gpus=3)
    with pytest.raises(InfeasibleRequest, match=r"gres/gpu=3 exceeds AssocGrpGRES \(GrpTRES gres/gpu=2 on account "
                                                r"capped, 1 in use\).*at most 2"):
        limits.judge(Limit(**{**vars(GRP), "in_use": 1}), req, None)
    two = JobRequest(script_content="true", partition="gpu", account="capped", gpus=2)
    assert "waits until running jobs end: AssocGrpGRES" in limits.judge(Limit(**{**vars(GRP), "in_use": 1}), two, None)
    assert limits.judge(Limit(**{**vars(GRP), "in_use": 0}), two, None) == ""
    wall = Limit("MaxWall", "QOS short", "wall", 30, "per_job", "qos", "QOSMaxWallDurationPerJobLimit", qos="short")
    with pytest.raises(InfeasibleRequest, match="time_limit 1:00:00 exceeds QOSMaxWallDurationPerJobLimit"):
        limits.judge(wall, req, 60)
    assert limits.judge(wall, req, 30) == ""


def test_which_limits_apply_to_a_request() -> None:
    known = AccountLimits(user="alice", default_account="research", default_qos={"research": "normal"})
    wall = Limit("MaxWall", "QOS short", "wall", 30, "per_job", "qos", "QOSMaxWallDurationPerJobLimit", qos="short")
    plain = JobRequest(script_content="true", partition="cpu")
    assert not limits.applies(GRP, known, plain)  # the default account is research
    assert not limits.applies(GRP, AccountLimits(user="alice"), plain)  # an unknown account: not capped's limit
    assert limits.applies(GRP, known, JobRequest(script_content="true", account="capped"))
    assert not limits.applies(wall, known, plain)  # the default QOS is normal
    assert limits.applies(wall, known, JobRequest(script_content="true", qos="short"))
    queue = Limit("max_run_res.ngpus", "queue gpu", "ngpus", 6, "shared", "queue_user", "max_run_res.ngpus",
                  partition="gpu")
    assert limits.applies(queue, known, JobRequest(script_content="true", partition="gpu"))
    assert not limits.applies(queue, known, plain)


def test_diagnosis_names_the_limit_and_its_numbers() -> None:
    from hpcbridge.diagnosis import DiagnosisInput, diagnose

    words = Limit(**{**vars(GRP), "in_use": 2}).words()
    waiting = diagnose(DiagnosisInput(job_id="7", state=JobState.PENDING, reason="AssocGrpGRES", limit=words))
    assert waiting.cause == "pending"
    assert "AssocGrpGRES (GrpTRES gres/gpu=2 on account capped, 2 in use)" in waiting.summary
    assert f"limit: {words}" in waiting.evidence
    wall = Limit("MaxWall", "QOS short", "wall", 30, "per_job", "qos", "QOSMaxWallDurationPerJobLimit", qos="short")
    never = diagnose(DiagnosisInput(job_id="8", state=JobState.PENDING, reason="QOSMaxWallDurationPerJobLimit",
                                    limit=wall.words()))
    assert never.cause == "never_starts" and "MaxWall 00:30:00 on QOS short" in never.summary


def test_cluster_name_of_scontrol_show_config() -> None:
    config = "Configuration data as of 2026-11-30T08:00:00\nAccountingStorageType   = accounting_storage/slurmdbd\n" \
             "ClusterName             = hpcb\nCompleteWait            = 0 sec\n"
    assert slurm_limits.cluster_name(config) == "hpcb"
    assert slurm_limits.cluster_name("") == ""


def test_pbs_server_json_limits() -> None:
    recorded = (DATA / "openpbs-23.06" / "qstat-B-f-F-json.json").read_text()
    assert pbs_limits.server_record(recorded)  # the recorded server reads, and sets no max_run limit
    assert pbs_limits.all_limits('{"Queue":{}}', recorded, "alice") == []
    server = '{"pbs_version":"23.06.06","Server":{"vm":{"max_run":"[u:PBS_GENERIC=20]","max_queued_res":{"ncpus":"[o:PBS_ALL=500]"}}}}'
    got = {(lim.name, lim.resource, lim.value, lim.kind, lim.scope) for lim in pbs_limits.all_limits("", server, "alice")}
    assert got == {("max_run", "jobs", 20, "running_jobs", "server_user"),
                   ("max_queued_res.ncpus", "ncpus", 500, "per_job", "server")}
