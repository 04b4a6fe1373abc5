"""The dashboard in a real headless Chromium (Playwright driving Debian's chromium) against the test cluster,
seen as Slurm and, through its Torque wrappers, as PBS; jobs are submitted through a real MCP client on the
same server. Screenshots of every page at 1440x900 go to docs/screenshots/ (shown in the README)."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from ..conftest import ROOT
from .conftest import HTTP_TOKEN, call, server_env, start_http_server, stop_and_read_log

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install -e '.[test]' brings playwright")

pytestmark = pytest.mark.timeout(600)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "docs" / "screenshots"
XSS_NAME = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Dashboard:
    base: str  # http://127.0.0.1:PORT
    mcp_url: str


def _toml(tc: dict[str, str], home: Path) -> Path:
    common = (f'host = "{tc["SLURM_SSH_HOST"]}"\nport = {tc["SLURM_SSH_PORT"]}\nuser = "{tc["SLURM_SSH_USER"]}"\n'
              f'key_path = "{tc["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc["SLURM_SSH_KNOWN_HOSTS"]}"\n'
              f'default_partition = "cpu"\nuser_root = "{tc["SLURM_USER_ROOT"]}"\n'
              f'dir_home = "{tc["SLURM_DIR_HOME"]}"\n')  # job output lands in home: the file sandbox allows it
    path = home / "config.toml"
    path.write_text('toolsets = ["all"]\n\n[history]\ngpu_sample_seconds = 10\n\n'
                    f'[clusters.slurm]\nscheduler = "slurm"\ndefault = true\n{common}\n'
                    f'[clusters.torque]\nscheduler = "pbs"\n{common}\n'
                    # nothing listens on port 1: a cluster that does not answer, shown as such
                    f'[clusters.dead]\nhost = "127.0.0.1"\nport = 1\nuser = "alice"\nconnect_timeout = 3\n'
                    f'key_path = "{tc["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc["SLURM_SSH_KNOWN_HOSTS"]}"\n')
    return path


@pytest.fixture(scope="module")
def dashboard(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium")
    home = tmp_path_factory.mktemp("dashboard")
    env = server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_CONFIG=str(_toml(tc_env, home)),
                     HPCBRIDGE_STATE_DIR=str(home / "state"))
    for key in [k for k in env if k.startswith("SLURM_")]:
        del env[key]  # the two clusters come from the file
    proc, url = start_http_server(env)
    yield Dashboard(url.removesuffix("/mcp"), url)
    log = stop_and_read_log(proc)
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
async def browser(dashboard: Dashboard) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Any, dashboard: Dashboard) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    tab = await context.new_page()
    tab.dialogs = []  # type: ignore[attr-defined]
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), asyncio.ensure_future(d.accept())))
    await tab.goto(dashboard.base + "/")
    await tab.fill("input[name=token]", HTTP_TOKEN)
    await tab.click("button:has-text('Log in')")
    await playwright_api.expect(tab.locator("#board")).to_be_visible()
    yield tab
    await context.close()


@pytest.fixture(scope="module")
async def agent(dashboard: Dashboard) -> AsyncIterator[Client]:
    async with Client(StreamableHttpTransport(dashboard.mcp_url, auth=HTTP_TOKEN), timeout=120) as client:
        yield client


async def _shot(tab: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await tab.screenshot(path=str(SHOTS / f"{name}.png"))


def _as_alice(command: str) -> str:
    return subprocess.run(["su", "-", "alice", "-c", command], capture_output=True, text=True, timeout=60,
                          check=True).stdout.strip()


def _status(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers={"Accept": "text/html", **(headers or {})})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_a_new_job_appears_on_the_board_without_reload(page: Any, agent: Client) -> None:
    tag = secrets.token_hex(3)
    job = await call(agent, "submit_job", script_content="sleep 30", job_name=f"board_{tag}")
    row = page.locator(f'#board section[data-cluster="slurm"] tr[data-job="{job["job_id"]}"]')
    await playwright_api.expect(row).to_be_visible(timeout=20_000)  # pushed over server-sent events
    await playwright_api.expect(row.locator(".name")).to_have_text(f"board_{tag}")
    dead = page.locator('#board section[data-cluster="dead"]')
    await playwright_api.expect(dead.locator(".badge.bad")).to_have_text("unreachable")
    await playwright_api.expect(dead.locator("p.error")).not_to_be_empty()
    await _shot(page, "board")
    await call(agent, "cancel_job", job_id=job["job_id"])


async def test_a_waiting_job_says_why_in_plain_words(page: Any, agent: Client) -> None:
    job = await call(agent, "submit_job", script_content="sleep 30", job_name="waits", hold=True)  # never runs
    try:
        row = page.locator(f'#board section[data-cluster="slurm"] tr[data-job="{job["job_id"]}"]')
        await playwright_api.expect(row.locator(".why")).to_contain_text("Held by its owner", timeout=20_000)
    finally:
        await call(agent, "cancel_job", job_id=job["job_id"])


async def test_the_job_page_follows_the_output_and_cancels(page: Any, agent: Client, dashboard: Dashboard) -> None:
    job = await call(agent, "submit_job", job_name="tail_follow",
                     script_content="for i in $(seq 1 60); do echo line $i; sleep 1; done")
    await call(agent, "wait_for_job", job_id=job["job_id"], until="running", timeout=60)
    await page.goto(f"{dashboard.base}/job/slurm/{job['job_id']}")
    tail = page.locator("#tail pre")
    await playwright_api.expect(tail).to_contain_text("line 2", timeout=20_000)
    first = len(await tail.inner_text())
    await playwright_api.expect(tail).to_contain_text("line 6", timeout=20_000)  # grew without reload
    assert len(await tail.inner_text()) > first
    await _shot(page, "job")
    await page.click("form[action$='/cancel'] button")
    await playwright_api.expect(page.locator("p.ok")).to_contain_text("cancel")
    assert page.dialogs and "Cancel job" in page.dialogs[0]
    ended = await call(agent, "wait_for_job", job_id=job["job_id"], until="final", timeout=60)
    assert ended["wait"]["state"] == "CANCELLED"  # the scheduler ended it


async def test_a_failed_job_shows_its_cause(page: Any, agent: Client, dashboard: Dashboard) -> None:
    job = await call(agent, "submit_job", job_name="dies", script_content="echo 'Traceback: boom' >&2; exit 3")
    await call(agent, "wait_for_job", job_id=job["job_id"], until="final", timeout=90)
    await page.goto(f"{dashboard.base}/job/slurm/{job['job_id']}")
    await playwright_api.expect(page.locator("#job-state")).to_have_text("FAILED")
    cause = page.locator(".diagnosis h2 code")
    await playwright_api.expect(cause).not_to_be_empty()
    diagnosis = await call(agent, "diagnose_job", job_id=job["job_id"])
    assert await cause.inner_text() == diagnosis["cause"]


async def test_history_search_finds_a_finished_pbs_job(page: Any, agent: Client, dashboard: Dashboard) -> None:
    tag = secrets.token_hex(3)
    job = await call(agent, "submit_job", script_content="echo done", job_name=f"pbs_{tag}", cluster="torque")
    await call(agent, "wait_for_job", job_id=job["job_id"], until="final", timeout=120, cluster="torque")
    await page.goto(f"{dashboard.base}/history")
    await page.fill("input[name=text]", f"pbs_{tag}")
    await page.select_option("select[name=cluster]", "torque")
    row = page.locator('#results tr[data-cluster="torque"]')
    for _ in range(30):  # the recorder writes the end on its next polls
        await page.click("button:has-text('Search')")
        try:
            await playwright_api.expect(row.locator(".state")).to_have_text(re.compile("COMPLETED|ENDED"),
                                                                            timeout=2_000)
            break
        except AssertionError:
            await asyncio.sleep(2)
    await playwright_api.expect(row.locator(".name")).to_have_text(f"pbs_{tag}")
    assert f"text=pbs_{tag}" in page.url  # htmx pushed the search into the address bar
    await _shot(page, "history")


def _sinfo_gpus(partition: str) -> tuple[int, int]:
    """Total and allocated GPUs of a partition, from sinfo's own per-node GRES columns."""
    out = _as_alice(f"sinfo -h -N -p {partition} -O 'NodeHost:30,Gres:60,GresUsed:80'")
    total = used = 0
    for line in out.splitlines():
        _, gres, gres_used = line.split()
        total += sum(int(n) for n in re.findall(r"gpu:[\w-]+:(\d+)", gres))
        used += sum(int(n) for n in re.findall(r"gpu:[\w-]+:(\d+)", gres_used))
    return total, used


async def test_compute_numbers_equal_sinfo(page: Any, agent: Client, dashboard: Dashboard) -> None:
    job = await call(agent, "submit_job", script_content="sleep 60", job_name="holds_gpus", partition="gpu", gpus=2)
    await call(agent, "wait_for_job", job_id=job["job_id"], until="running", timeout=60)
    try:
        await page.goto(f"{dashboard.base}/compute?gpus=2&gpu_type=a100&hours=1")
        row = page.locator('section[data-cluster="slurm"] tr[data-partition="gpu"][data-type="a100"]')
        total, used = _sinfo_gpus("gpu")
        assert (int(await row.locator(".total").inner_text()), int(await row.locator(".allocated").inner_text())) == (
            total, used) and used >= 2
        await playwright_api.expect(page.locator("table.advice")).to_contain_text("slurm/gpu")
        # the script drew the recorded usage, or said there is none yet (either way it ran under the CSP)
        chart = page.locator('section[data-cluster="slurm"] .chart')
        await playwright_api.expect(chart.locator(".uplot").or_(chart.get_by_text("No GPU usage"))).to_be_visible()
        await _shot(page, "compute")
    finally:
        await call(agent, "cancel_job", job_id=job["job_id"])


async def test_markup_in_a_job_name_or_an_entry_is_text(page: Any, agent: Client, dashboard: Dashboard) -> None:
    job_id = _as_alice(f"sbatch --parsable -p cpu -J '{XSS_NAME}' --wrap 'sleep 30'")
    try:
        row = page.locator(f'#board section[data-cluster="slurm"] tr[data-job="{job_id}"]')
        await playwright_api.expect(row.locator(".name")).to_have_text(XSS_NAME, timeout=20_000)
        assert await page.locator("#board img").count() == 0
        entry = await call(agent, "create_logbook_entry", project="web", title="<script>alert(2)</script>",
                           body=f"Ran @board_x. <img src=x onerror=alert(3)> [x](javascript:alert(4)) {XSS_NAME}")
        await page.goto(f"{dashboard.base}/logbook/{entry['id']}")
        await playwright_api.expect(page.locator("h1")).to_contain_text("<script>alert(2)</script>")
        assert await page.locator("article img, article script, article a[href^=javascript]").count() == 0
        await page.goto(f"{dashboard.base}/logbook")
        await _shot(page, "logbook")
        await page.goto(f"{dashboard.base}/clusters")
        await playwright_api.expect(page.locator('section[data-cluster="torque"] .checks')).to_contain_text("scheduler")
        await _shot(page, "clusters")
        assert page.dialogs == []  # no alert() ever ran
    finally:
        _as_alice(f"scancel {job_id}")


async def test_requests_without_the_cookie_or_from_a_foreign_origin_are_refused(dashboard: Dashboard) -> None:
    base = dashboard.base
    assert _status(base + "/") == 303  # to the login page
    assert _status(base + "/events/board", headers={"Accept": "text/event-stream"}) == 401
    assert _status(base + "/job/slurm/1/cancel", data=b"csrf=x") == 401
    assert _status(base + "/login", data=b"token=wrong-token") == 401
    request = urllib.request.Request(base + "/login", data=f"token={HTTP_TOKEN}".encode(), method="POST")

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    try:
        urllib.request.build_opener(Keep).open(request, timeout=10)
        raise AssertionError("login answered without a redirect")
    except urllib.error.HTTPError as exc:
        assert exc.code == 303
        cookie = exc.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    session = cookie.split(";")[0]
    assert _status(base + "/history", headers={"Cookie": session}) == 200
    assert _status(base + "/job/slurm/1/cancel", data=b"csrf=wrong", headers={"Cookie": session}) == 403
    assert _status(base + "/logbook", data=b"csrf=wrong&project=p&title=t", headers={"Cookie": session}) == 403
    foreign = {"Cookie": session, "Origin": "http://evil.example"}
    assert _status(base + "/job/slurm/1/cancel", data=b"csrf=x", headers=foreign) == 403
    assert _status(base + "/", headers={"Cookie": session, "Host": "evil.example"}) == 421
