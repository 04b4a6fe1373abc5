"""Provenance on submission through a real MCP client against the test cluster: a job submitted from a git
repository on the cluster records its commit and dirty state, the host and the tool call; one submitted from a
plain directory records no git facts."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from .conftest import as_cluster_user, call, stdio_server

pytestmark = pytest.mark.timeout(300)

MAKE_REPO = ('set -e; mkdir -p "$1/plain"; cd "$1"; git init -q .; git config user.email t@example.org; '
             'git config user.name t; echo one > a.txt; git add a.txt; git commit -qm one; echo two >> a.txt; '
             'echo new > untracked.txt; git rev-parse HEAD')


async def _facts(client: Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:  # the recorder writes the job down on its next poll
        try:
            return await call(client, "get_history_job", job_id=job_id)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2)


async def test_a_job_from_a_git_repository_records_its_commit(tc_env: dict[str, str], tmp_path: Path) -> None:
    repo = f"{tc_env['SLURM_USER_ROOT']}/h30c_prov_{secrets.token_hex(4)}"
    commit = as_cluster_user(tc_env, MAKE_REPO, repo).strip()
    assert len(commit) == 40
    config = (f'[history]\nactive_minutes = 10\n\n[clusters.slurm]\nhost = "{tc_env["SLURM_SSH_HOST"]}"\n'
              f'port = {tc_env["SLURM_SSH_PORT"]}\nuser = "{tc_env["SLURM_SSH_USER"]}"\n'
              f'key_path = "{tc_env["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc_env["SLURM_SSH_KNOWN_HOSTS"]}"\n'
              f'user_root = "{tc_env["SLURM_USER_ROOT"]}"\ndefault_partition = "cpu"\n')
    try:
        async with stdio_server(tmp_path, config) as client:
            in_repo = await call(client, "submit_job", script_content="true", job_name="h30c_prov_repo",
                                 working_directory=repo, time_limit="1")
            plain = await call(client, "submit_job", script_content="true", job_name="h30c_prov_plain",
                               working_directory=f"{repo}/plain", time_limit="1")
            facts = await _facts(client, in_repo["job_id"])
            assert facts["provenance"] == {"directory": repo, "host": socket.gethostname(), "tool": "submit_job",
                                           "principal": "local", "git_commit": commit, "git_dirty": 2,
                                           "git_changes": " M a.txt\n?? untracked.txt"}
            result = await client.call_tool("get_history_job", {"job_id": in_repo["job_id"]})
            assert f"git {commit[:12]}, 2 changed path(s)" in result.content[0].text
            other = (await _facts(client, plain["job_id"]))["provenance"]
            # plain/ is inside the repository's tree but ignored by nothing: git sees the parent repository
            assert other["git_commit"] == commit and other["directory"] == f"{repo}/plain"
    finally:
        as_cluster_user(tc_env, 'rm -rf -- "$1"', repo)


async def test_a_directory_outside_any_repository_has_no_git_facts(tc_env: dict[str, str], tmp_path: Path) -> None:
    where = f"/tmp/h30c_noprov_{secrets.token_hex(4)}"
    as_cluster_user(tc_env, 'mkdir -p "$1"', where)
    config = (f'[history]\nactive_minutes = 10\n\n[clusters.slurm]\nhost = "{tc_env["SLURM_SSH_HOST"]}"\n'
              f'port = {tc_env["SLURM_SSH_PORT"]}\nuser = "{tc_env["SLURM_SSH_USER"]}"\n'
              f'key_path = "{tc_env["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc_env["SLURM_SSH_KNOWN_HOSTS"]}"\n'
              f'user_root = "{tc_env["SLURM_USER_ROOT"]}"\ndefault_partition = "cpu"\n')
    try:
        async with stdio_server(tmp_path, config) as client:
            job = await call(client, "submit_job", script_content="true", job_name="h30c_prov_none",
                             working_directory=where, time_limit="1")
            prov = (await _facts(client, job["job_id"]))["provenance"]
            assert (prov["git_commit"], prov["git_dirty"], prov["tool"]) == ("", None, "submit_job")
    finally:
        as_cluster_user(tc_env, 'rm -rf -- "$1"', where)
