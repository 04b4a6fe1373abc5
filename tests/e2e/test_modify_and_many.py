"""Issue 28 (helper D) through a real MCP client: modify_job's new fields on Slurm (scontrol update) and OpenPBS
(qalter), refused by policy with nothing changed; submit_job with a script already on the cluster;
list_jobs(cluster="*") over a Slurm + OpenPBS server with a third cluster that cannot be reached; list_clusters.

One server for the module, configured by a TOML file: `slurm` (the default; policy: accounts research and
capped, at most 2 h), `pbs` (the test OpenPBS) and `gone` (an SSH port nothing listens on). What the scheduler
did is checked with its own commands (squeue, qstat), not through hpcbridge."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from ..conftest import openpbs_env
from .conftest import call, hpcbridge_executable
from .test_pbs_openpbs import error_of, qstat

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


def _toml(tc: dict[str, str], op: dict[str, str]) -> str:
    common = (f'key_path = "{tc["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc["SLURM_SSH_KNOWN_HOSTS"]}"\n'
              f'host = "{tc["SLURM_SSH_HOST"]}"\nuser = "{tc["SLURM_SSH_USER"]}"\n'
              f'user_root = "{tc["SLURM_USER_ROOT"]}"\n')
    return (f'[clusters.slurm]\ndefault = true\nport = {tc["SLURM_SSH_PORT"]}\ndefault_partition = "cpu"\naccount = "research"\n'
            f'{common}[clusters.slurm.policy]\nallowed_accounts = ["research", "capped", "nosuchacct"]\nmax_time = "2:00:00"\n\n'
            f'[clusters.pbs]\nscheduler = "pbs"\nport = {op["OPENPBS_SSH_PORT"]}\n{common}\n'
            f'[clusters.gone]\nport = 1\n{common}')


@pytest.fixture(scope="module")
def op() -> dict[str, str]:
    return openpbs_env()


@pytest.fixture(scope="module")
async def mcp(tc_env: dict[str, str], op: dict[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    home = tmp_path_factory.mktemp("many")
    (home / "config.toml").write_text(_toml(tc_env, op))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(home / "config.toml"), HPCBRIDGE_STATE_DIR=str(home / "state"),
               HPCBRIDGE_TOOLSETS="all")
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False)
    async with Client(transport, timeout=200) as client:
        yield client


def squeue(job_id: str, fields: str = "%j|%l|%P|%q|%a|%k|%E|%r") -> list[str]:
    import subprocess

    out = subprocess.run(["squeue", "--noheader", "--jobs", job_id, "--format", fields],
                         capture_output=True, text=True, timeout=30, check=False).stdout.strip()
    return out.split("|")


async def test_modify_job_on_slurm_new_fields_and_policy(mcp: Client) -> None:
    tag = secrets.token_hex(3)
    job = (await call(mcp, "submit_job", script_content="sleep 600", job_name=f"hd-mod-{tag}", time_limit="1:00:00",
                      hold=True))["job_id"]
    first = (await call(mcp, "submit_job", script_content="sleep 1", job_name=f"hd-dep-{tag}", time_limit="5",
                        hold=True))["job_id"]
    try:
        # lower the time limit and move it to another partition
        done = await call(mcp, "modify_job", job_id=job, time_limit="20", partition="interactive")
        assert done["changed"] == {"time_limit": "20", "partition": "interactive"} and done["state"] == "HELD"
        name, limit, partition, *_ = squeue(job)
        assert (name, limit, partition) == (f"hd-mod-{tag}", "20:00", "interactive")

        # QOS short (MaxWall 30 min: the 20 min fit) and account capped, a comment and a dependency
        await call(mcp, "modify_job", job_id=job, qos="short", account="capped", comment=f"two words {tag}",
                   dependency=f"afterok:{first}")
        _, _, _, qos, account, comment, dependency, _ = squeue(job)
        assert (qos, account, comment) == ("short", "capped", f"two words {tag}")
        assert dependency.startswith(f"afterok:{first}")

        # policy: an account outside allowed_accounts, a time over max_time; nothing changed (squeue)
        assert "account 'elsewhere' is not allowed by policy" in await error_of(
            mcp, "modify_job", job_id=job, account="elsewhere")
        assert "exceeds the policy limit of 2:00:00" in await error_of(mcp, "modify_job", job_id=job,
                                                                      time_limit="3:00:00", partition="cpu")
        assert squeue(job)[1:5] == ["20:00", "interactive", "short", "capped"]
        # an account policy allows but Slurm does not know: refused by slurmctld (enforced associations), or,
        # under AccountingStorageEnforce=none, accepted with exit 0 and not applied (22.05 even moves the job to
        # the user's default account): the account the job has afterwards is said, not reported as done
        said = await error_of(mcp, "modify_job", job_id=job, account="nosuchacct")
        now = squeue(job)[4]
        assert "Invalid account" in said or f"did not apply it: account is '{now}', not 'nosuchacct'" in said, said
        assert now in ("capped", "research")
        assert "invalid comment" in await error_of(mcp, "modify_job", job_id=job, comment="$(id)")
    finally:
        await call(mcp, "cancel_job", job_id=job)
        await call(mcp, "cancel_job", job_id=first)
    assert "only a queued job" in await error_of(mcp, "modify_job", job_id=job, job_name="late")


async def test_array_throttle_on_slurm(mcp: Client) -> None:
    job = (await call(mcp, "submit_job", script_content="sleep 60", job_name=f"hd-arr-{secrets.token_hex(3)}",
                      time_limit="5", array="0-3", hold=True))["job_id"]
    try:
        await call(mcp, "modify_job", job_id=job, array_throttle=1)
        shown = squeue(job, "%i|%r")
        assert shown[0].endswith("%1]"), shown  # squeue shows the pending array as 12_[0-3%1]
    finally:
        await call(mcp, "cancel_job", job_id=job)


async def test_modify_job_on_openpbs_account_and_dependency(mcp: Client, op: dict[str, str]) -> None:
    tag = secrets.token_hex(3)
    job = (await call(mcp, "submit_job", script_content="sleep 600", job_name=f"hd-pm-{tag}", time_limit="10",
                      hold=True, cluster="pbs"))["job_id"]
    first = (await call(mcp, "submit_job", script_content="sleep 1", job_name=f"hd-pd-{tag}", time_limit="5",
                        hold=True, cluster="pbs"))["job_id"]
    try:
        await call(mcp, "modify_job", job_id=job, account="capped", dependency=f"afterok:{first}", cluster="pbs")
        seen = qstat(op, job)
        assert seen["Account_Name"] == "capped" and f"afterok:{first}" in seen["depend"]
        assert "PBS has no QOS for qalter to change (qos)" in await error_of(mcp, "modify_job", job_id=job,
                                                                              qos="short", cluster="pbs")
        assert "(comment)" in await error_of(mcp, "modify_job", job_id=job, comment="x", cluster="pbs")
    finally:
        await call(mcp, "cancel_job", job_id=job, cluster="pbs")
        await call(mcp, "cancel_job", job_id=first, cluster="pbs")


async def test_submit_job_by_path(mcp: Client, tc_env: dict[str, str]) -> None:
    tag = secrets.token_hex(3)
    path = f"{tc_env['SLURM_USER_ROOT']}/scratch/hd-{tag}/run.sh"
    script = f"#!/bin/bash\n#SBATCH --job-name=hd-path-{tag}\n#SBATCH --time=7\n#SBATCH --hold\necho by path\n"
    await call(mcp, "upload_file", content=script, remote_path=path, make_dirs=True)
    submitted = await call(mcp, "submit_job", script_path=path)
    try:
        assert "job_name=hd-path-" + tag + " (line 2)" in submitted["from_script"]
        name, limit, *_ = squeue(submitted["job_id"])
        assert (name, limit) == (f"hd-path-{tag}", "7:00")
    finally:
        await call(mcp, "cancel_job", job_id=submitted["job_id"])
    # the same checks as a given script: a directive over the policy's max_time is refused before sbatch
    await call(mcp, "upload_file", content=script.replace("--time=7", "--time=5:00:00"), remote_path=path)
    assert "exceeds the policy limit" in await error_of(mcp, "submit_job", script_path=path)
    # the file tools' sandbox: outside the configured directories, a directory, both sources at once
    outside = await error_of(mcp, "submit_job", script_path="/etc/passwd")
    assert "/etc/passwd" in outside and "job_id" not in outside
    assert "is a directory" in await error_of(mcp, "submit_job", script_path=path.rsplit("/", 1)[0])
    assert "both script_content and script_path" in await error_of(mcp, "submit_job", script_path=path,
                                                                     script_content="true")


async def test_list_jobs_over_every_cluster_and_list_clusters(mcp: Client) -> None:
    tag = secrets.token_hex(3)
    project = f"hd{tag}"
    on_slurm = (await call(mcp, "submit_job", script_content="sleep 600", job_name=f"{project}_a", time_limit="5",
                           hold=True))["job_id"]
    on_pbs = (await call(mcp, "submit_job", script_content="sleep 600", job_name=f"{project}_b", time_limit="5",
                         hold=True, cluster="pbs"))["job_id"]
    try:
        page = await call(mcp, "list_jobs", cluster="*", user="me", project=project)
        assert {(r["cluster"], r["job_id"]) for r in page["items"]} == {("slurm", on_slurm), ("pbs", on_pbs)}
        assert page["total"] == 2 and page["counts"] == {"HELD": 2}
        assert set(page["unreachable"]) == {"gone"}
        # paged across clusters: one row a page, the total still both
        first = await call(mcp, "list_jobs", cluster="*", user="me", project=project, limit=1)
        second = await call(mcp, "list_jobs", cluster="*", user="me", project=project, limit=1, offset=1)
        assert first["total"] == 2 and first["next_offset"] == 1 and second["next_offset"] is None
        assert {first["items"][0]["cluster"], second["items"][0]["cluster"]} == {"slurm", "pbs"}
        # one cluster, filtered by project too
        only = await call(mcp, "list_jobs", user="me", project=project, cluster="pbs")
        assert [r["job_id"] for r in only["items"]] == [on_pbs] and only["unreachable"] == {}
        text = (await mcp.call_tool("list_jobs", {"cluster": "*", "user": "me", "project": project})).content[0].text
        assert "gone did not answer" in text and "CLUSTER" in text
    finally:
        await call(mcp, "cancel_job", job_id=on_slurm)
        await call(mcp, "cancel_job", job_id=on_pbs, cluster="pbs")

    listed = {c["name"]: c for c in (await call(mcp, "list_clusters"))["clusters"]}
    assert set(listed) == {"slurm", "pbs", "gone"}
    assert listed["slurm"]["default"] and not listed["pbs"]["default"]
    assert (listed["slurm"]["scheduler"], listed["pbs"]["scheduler"]) == ("slurm", "pbs")
    assert listed["slurm"]["reachable"] and listed["pbs"]["reachable"] and listed["slurm"]["transport"] == "ssh"
    assert not listed["gone"]["reachable"] and listed["gone"]["problem"]
