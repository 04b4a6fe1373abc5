"""Quotas and team usage (issue 28) through a real MCP client (streamable HTTP) and the compute page in a real
headless Chromium, against the real Slurm test cluster.

Team usage: bob (a second user in alice's account `research`) submits a GPU job with `su - bob -c sbatch`, alice
one through submit_job; get_team_usage, read from the queue listing, shows bob's running a100s next to alice's,
bob highlighted as the configured team (`team = ["bob"]`).

Quotas: the test cluster has no Lustre; testcluster/lfs stands in for `lfs` and prints Lustre's documented
`lfs quota` format (lfs-quota(1), Lustre Operations Manual "Quota Verification"; its header has an example)
with the values these tests write into <state dir>/lfs, drawn at random so that only the stand-in's answer,
parsed, can match them.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from ..conftest import ROOT, TC_DIR
from .conftest import HTTP_TOKEN, as_cluster_user, call, server_env, start_http_server, stop_and_read_log

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install -e '.[test]' brings playwright")

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "docs" / "screenshots"
LFS = str(TC_DIR / "lfs")
NAME = "h28c-usage"


def _toml(tc: dict[str, str], home: Path) -> Path:
    path = home / "config.toml"
    path.write_text(f'toolsets = ["all"]\n\n[clusters.slurm]\nscheduler = "slurm"\ndefault = true\n'
                    f'host = "{tc["SLURM_SSH_HOST"]}"\nport = {tc["SLURM_SSH_PORT"]}\nuser = "{tc["SLURM_SSH_USER"]}"\n'
                    f'key_path = "{tc["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc["SLURM_SSH_KNOWN_HOSTS"]}"\n'
                    f'default_partition = "cpu"\nuser_root = "{tc["SLURM_USER_ROOT"]}"\n'
                    f'gpfs_root = "{tc["SLURM_GPFS_ROOT"]}"\ndir_home = "{tc["SLURM_DIR_HOME"]}"\n'
                    'team = ["bob"]\n'
                    # a site command (argv, {user} filled in) printing `FILESYSTEM USED LIMIT` lines
                    'quota_command = ["printf", "%s 9.5G 10G\\n", "/site/{user}"]\n')
    return path


@pytest.fixture(scope="module")
def server(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("account-usage")
    env = server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_CONFIG=str(_toml(tc_env, home)),
                     HPCBRIDGE_STATE_DIR=str(home / "state"))
    for key in [k for k in env if k.startswith("SLURM_")]:
        del env[key]  # the cluster comes from the file (with its team)
    proc, url = start_http_server(env)
    yield url
    log = stop_and_read_log(proc)
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
async def agent(server: str) -> AsyncIterator[Client]:
    async with Client(StreamableHttpTransport(server, auth=HTTP_TOKEN), timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def quota_values(tc_env: dict[str, str]) -> Iterator[dict[str, list[int]]]:
    """alice over her soft limit (in grace), her group at 91-99% of its hard limit, a project on her user root."""
    group = as_cluster_user(tc_env, "id -gn").strip()
    soft = random.randint(500_000, 900_000)
    user = [soft + random.randint(1, 9_999), soft, soft * 2, random.randint(10, 999), 100_000, 200_000]
    hard = random.randint(2_000_000, 3_000_000)
    grp = [hard * random.randint(91, 99) // 100, 0, hard, random.randint(10, 999), 0, 0]
    pid = random.randint(1000, 60000)
    prj = [random.randint(1, 99_999), 0, 10_000_000, 5, 0, 0]
    line = "{} {} {} {} {} {} {} {}\n"
    as_cluster_user(tc_env, 'printf "%s" "$2" > "$1/u-alice"; printf "%s" "$3" > "$1/g-$4"; '
                    'printf "%s" "$5" > "$1/p-$6"; printf "%s %s\\n" "$6" "$7" > "$1/projects"', LFS,
                    line.format(*user[:3], "6d23h59m57s", *user[3:], "-"), line.format(*grp[:3], "-", *grp[3:], "-"),
                    group, line.format(*prj[:3], "-", *prj[3:], "-"), str(pid), tc_env["SLURM_USER_ROOT"])
    yield {"user": user, "group": grp, "project": prj, "ids": [pid], "group_name": [group]}  # type: ignore[dict-item]
    as_cluster_user(tc_env, 'rm -f "$1/u-alice" "$1/g-$2" "$1/p-$3" "$1/projects"', LFS, group, str(pid))


@pytest.fixture(scope="module")
def bob_job() -> Iterator[str]:
    """bob's GPU job, submitted as bob (root runs the tests, as the test cluster's own scripts do)."""
    sbatch = (f"sbatch --parsable -J {NAME}-bob -p gpu --gres=gpu:a100:2 -t 10 -o /home/bob/h28c-%j.out "
              "--wrap 'sleep 600'")
    out = subprocess.run(["su", "-", "bob", "-c", sbatch], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    job_id = out.stdout.strip().split(";")[0]
    yield job_id
    subprocess.run(["scancel", job_id], timeout=60, check=False)


@pytest.fixture(scope="module")
async def alice_job(agent: Client) -> AsyncIterator[str]:
    """alice's GPU job, submitted through the MCP client."""
    job = await call(agent, "submit_job", script_content="sleep 600", job_name=f"{NAME}-alice", partition="gpu",
                     gpus=1, gpu_type="a100", time_limit="10")
    yield job["job_id"]
    await call(agent, "cancel_job", job_id=job["job_id"])


async def _until(agent: Client, check: Any, tool: str, tries: int = 90) -> dict[str, Any]:
    for _ in range(tries):
        result = await call(agent, tool)
        if check(result):
            return result
        await asyncio.sleep(2)
    raise AssertionError(f"{tool} never showed it: {result}")


async def test_quotas_from_lfs_with_used_limit_grace_and_warnings(agent: Client, quota_values: Any) -> None:
    result = await agent.call_tool("get_quotas", {})
    report = result.structured_content or {}
    rows = {q["kind"]: q for q in report["quotas"] if q["source"] == "lfs"}
    user, grp, prj = quota_values["user"], quota_values["group"], quota_values["project"]
    assert (rows["user"]["used_bytes"], rows["user"]["soft_bytes"], rows["user"]["hard_bytes"]) == (
        user[0] * 1024, user[1] * 1024, user[2] * 1024)
    assert rows["user"]["files"] == user[3] and rows["user"]["filesystem"] == "/lustre"
    assert rows["user"]["grace"] == "6d23h59m57s" and "over the soft limit" in rows["user"]["warning"]
    assert rows["group"]["name"] == quota_values["group_name"][0]
    assert (rows["group"]["used_bytes"], rows["group"]["hard_bytes"]) == (grp[0] * 1024, grp[2] * 1024)
    assert rows["group"]["warning"].endswith("% of the limit") and rows["group"]["percent"] >= 90
    assert rows["project"]["name"] == str(quota_values["ids"][0]) and rows["project"]["used_bytes"] == prj[0] * 1024
    assert rows["project"]["warning"] == ""
    site = next(q for q in report["quotas"] if q["source"] == "site")
    assert (site["filesystem"], site["used_bytes"], site["hard_bytes"]) == ("/site/alice", int(9.5 * 1024**3),
                                                                           10 * 1024**3)
    assert site["warning"] == "95% of the limit"
    assert report["warnings"] >= 3 and report["sources"] == ["lfs quota", "printf"]
    text = result.content[0].text
    assert "WARNING: over the soft limit; grace left 6d23h59m57s" in text
    # get_disk_usage shows the same quotas (one quota reader, not two)
    disk = await agent.call_tool("get_disk_usage", {})
    assert "grace 6d23h59m57s" in disk.content[0].text


def both_running(u: dict[str, Any]) -> bool:
    rows = {r["name"]: r for r in u["users"]}
    return rows.get("bob", {}).get("gpus_running", 0) >= 2 and rows.get("alice", {}).get("gpus_running", 0) >= 1


async def test_team_usage_shows_bobs_running_gpus_next_to_alices(agent: Client, bob_job: str, alice_job: str) -> None:
    usage = await _until(agent, both_running, "get_team_usage")
    rows = {r["name"]: r for r in usage["users"]}
    assert rows["bob"]["team"] and not rows["bob"]["me"] and rows["bob"]["gpus_by_type"].get("a100", 0) >= 2
    assert rows["alice"]["me"] and rows["alice"]["gpus_by_type"].get("a100", 0) >= 1
    a100 = next(h for h in usage["gpu_types"] if h["gpu_type"] == "a100")
    assert a100["holders"]["bob"] >= 2 and a100["holders"]["alice"] >= 1
    research = next(r for r in usage["accounts"] if r["name"] == "research")
    assert research["team"] and research["gpus_running"] >= 3
    assert usage["team"] == ["bob"] and usage["my_gpus"] >= 1 and 0 < usage["my_share_percent"] < 100
    result = await agent.call_tool("get_team_usage", {})
    assert " + bob: " in result.content[0].text and " * alice: " in result.content[0].text


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium")
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        await chromium.close()


async def test_compute_page_shows_quotas_and_team_usage(browser: Any, server: str, agent: Client,
                                                         quota_values: Any, bob_job: str, alice_job: str) -> None:
    await _until(agent, both_running, "get_team_usage")
    base = server.removesuffix("/mcp")
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    tab = await context.new_page()
    try:
        await tab.goto(base + "/")
        await tab.fill("input[name=token]", HTTP_TOKEN)
        await tab.click("button:has-text('Log in')")
        await tab.goto(base + "/compute")
        part = tab.locator("#compute-usage")
        expect = playwright_api.expect
        await expect(part.locator("table.quotas tr.warn[data-kind=user] .warning")).to_contain_text(
            "over the soft limit", timeout=60_000)
        await expect(part.locator("table.quotas tr[data-kind=user] .grace")).to_have_text("6d23h59m57s")
        await expect(part.locator("table.quotas tr.warn[data-kind=group] .warning")).to_contain_text("% of the limit")
        await expect(part.locator("tr.team[data-user=bob] td.gpus")).to_contain_text("a100:")
        await expect(part.locator("tr.me[data-user=alice]")).to_contain_text("(you)")
        await expect(part.locator(".holders[data-type=a100]")).to_contain_text("bob")
        await part.scroll_into_view_if_needed()
        SHOTS.mkdir(parents=True, exist_ok=True)
        await tab.screenshot(path=str(SHOTS / "compute-quotas-team.png"), full_page=True)
    finally:
        await context.close()
