"""Issue 30 in a real headless Chromium against the test cluster: projects (a project page shows a live job and
its logbook), a board you can tidy (a pinned failed job stays after a reload, survives "Dismiss all", and
goes when dismissed; `clear_finished` through a real MCP client; a background job by name pattern is faded),
the Ctrl/Cmd+K search finding a run by name, and the theme and auto-refresh choices surviving a reload.
The server, browser and MCP client fixtures are test_dashboard.py's; this module's server adds
`[dashboard] dim_patterns` and `[history] campaigns`. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from .conftest import HTTP_TOKEN, call, server_env, start_http_server, stop_and_read_log
from .test_dashboard import CHROMIUM, Dashboard, _shot, _toml, agent, browser, page, playwright_api

__all__ = ["agent", "browser", "page"]  # test_dashboard's fixtures, used here
pytestmark = pytest.mark.timeout(600)
expect = playwright_api.expect
FINAL = "final"


@pytest.fixture(scope="module")
def dashboard(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium")
    home = tmp_path_factory.mktemp("tidy")
    config = _toml(tc_env, home)
    config.write_text(config.read_text().replace("[history]\n", "[history]\ncampaigns = true\n", 1)
                      + '\n[dashboard]\ndim_patterns = ["tidybg*"]\n')
    env = server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_CONFIG=str(config),
                     HPCBRIDGE_STATE_DIR=str(home / "state"))
    for key in [k for k in env if k.startswith("SLURM_")]:
        del env[key]
    proc, url = start_http_server(env)
    yield Dashboard(url.removesuffix("/mcp"), url)
    log = stop_and_read_log(proc)
    assert "Traceback" not in log, log[-3000:]


async def _failed(agent: Client, name: str) -> str:
    job = await call(agent, "submit_job", job_name=name, script_content="echo no >&2; exit 3")
    await call(agent, "wait_for_job", job_id=job["job_id"], until=FINAL, timeout=90)
    return str(job["job_id"])


async def test_a_project_page_shows_a_live_job_and_its_logbook(page: Any, agent: Client, dashboard: Dashboard) -> None:
    project = f"tidy{secrets.token_hex(3)}"
    job = await call(agent, "submit_job", job_name=f"{project}_sweep_lr3", script_content="sleep 120")
    entry = await call(agent, "create_logbook_entry", project=project, title="why the sweep", body="lr 3e-4")
    try:
        # the torque cluster is Torque-style wrappers over the same Slurm: the job is live on both. The page reads
        # the queue watcher's snapshot, which may be from just before the submit (within cache_ttl): load again
        badge = page.locator(f'tr[data-project="{project}"] .live-count .badge', has_text="slurm")
        for _ in range(30):
            await page.goto(f"{dashboard.base}/projects")
            try:
                await expect(badge).to_be_visible(timeout=2_000)
                break
            except AssertionError:
                continue
        await expect(badge).to_be_visible()
        await _shot(page, "projects")
        await page.click(f'tr[data-project="{project}"] a')
        await expect(page.locator(".project-name")).to_have_text(project)
        live = page.locator(f'table.live-jobs tr[data-cluster="slurm"][data-job="{job["job_id"]}"]')
        await expect(live).to_be_visible()
        await expect(live.locator(".name")).to_have_text(f"{project}_sweep_lr3")
        await expect(page.locator(".entries")).to_contain_text(f"#{entry['id']} why the sweep")
        # campaigns on: the second name part; the facts come from the history store, once the recorder has the job
        for _ in range(30):
            try:
                await expect(page.locator(".facts")).to_contain_text("sweep: ", timeout=2_000)
                break
            except AssertionError:
                await page.reload()
        await expect(page.locator(".facts")).to_contain_text("sweep: ")
        await _shot(page, "project")
    finally:
        await call(agent, "cancel_job", job_id=job["job_id"])


async def test_a_pinned_failed_job_stays_until_dismissed(page: Any, agent: Client, dashboard: Dashboard) -> None:
    tag = secrets.token_hex(3)
    job_id, other_id = [await _failed(agent, f"tidypin{n}_{tag}") for n in (1, 2)]
    row = page.locator(f'#board section[data-cluster="slurm"] table.finished tr[data-job="{job_id}"]')
    other = page.locator(f'#board section[data-cluster="slurm"] table.finished tr[data-job="{other_id}"]')
    await page.goto(dashboard.base + "/")
    await expect(row).to_be_visible(timeout=60_000)  # the recorder saw it end
    await expect(other).to_be_visible(timeout=60_000)
    await row.locator("button:has-text('Pin')").click()
    await expect(page.locator("#toasts .toast.ok")).to_contain_text(f"pinned {job_id}")
    await page.reload()
    await expect(row).to_have_class("pinned")
    section = page.locator('#board section[data-cluster="slurm"]')
    await section.locator("button:has-text('Dismiss all')").click()  # the confirm dialog is accepted
    await expect(page.locator("#toasts .toast.ok")).to_contain_text("dismissed")
    assert any("Dismiss every finished job on slurm" in d for d in page.dialogs)
    await page.reload()
    await expect(row).to_be_visible()  # pinned: "Dismiss all" keeps it
    await expect(other).to_have_count(0)
    await _shot(page, "board-pinned")
    await row.locator("button:has-text('Dismiss')").click()
    await page.reload()
    await expect(page.locator('#board section[data-cluster="slurm"]')).to_be_visible()
    await expect(row).to_have_count(0)


async def test_clear_finished_asks_then_dismisses_failed_jobs(page: Any, agent: Client, dashboard: Dashboard) -> None:
    job_id = await _failed(agent, f"tidyclear_{secrets.token_hex(3)}")
    row = page.locator(f'#board section[data-cluster="slurm"] table.finished tr[data-job="{job_id}"]')
    await page.goto(dashboard.base + "/")
    await expect(row).to_be_visible(timeout=60_000)
    with pytest.raises(ToolError, match="confirm=true"):  # this client cannot be asked: nothing changes
        await call(agent, "clear_finished", cluster="slurm", only_failed=True)
    await page.reload()
    await expect(row).to_be_visible()
    done = await call(agent, "clear_finished", cluster="slurm", only_failed=True, confirm=True)
    # the answer lists the first 50 it dismissed: after the whole suite, this job may be further down
    assert done["count"] >= 1 and (f"slurm/{job_id}" in done["dismissed"] or done["count"] > 50), done
    await page.reload()
    await expect(page.locator('#board section[data-cluster="slurm"]')).to_be_visible()
    await expect(row).to_have_count(0)


async def test_a_background_job_by_name_pattern_is_dimmed(page: Any, agent: Client, dashboard: Dashboard) -> None:
    tag = secrets.token_hex(3)
    background = await call(agent, "submit_job", job_name=f"tidybg_{tag}", script_content="sleep 120")
    other = await call(agent, "submit_job", job_name=f"tidyfg_{tag}", script_content="sleep 120")
    try:
        await page.goto(dashboard.base + "/")
        # the slurm cluster's section: the torque cluster (wrappers over the same Slurm) lists the same job id
        # too, once its own watcher has polled, and an unscoped locator then matches two rows
        slurm = page.locator('#board section[data-cluster="slurm"]')
        row = slurm.locator(f'tr[data-job="{background["job_id"]}"]')
        await expect(row).to_be_visible(timeout=60_000)  # the board's next refresh after the watcher's poll
        await expect(row).to_have_class("dim")
        await expect(slurm.locator(f'tr[data-job="{other["job_id"]}"]')).not_to_have_class("dim")
    finally:
        for job in (background, other):
            await call(agent, "cancel_job", job_id=job["job_id"])


async def test_ctrl_k_finds_a_run_by_name(page: Any, agent: Client, dashboard: Dashboard) -> None:
    name = f"tidyrun_{secrets.token_hex(3)}"
    job = await call(agent, "submit_job", job_name=name, script_content="echo hello")
    await call(agent, "wait_for_job", job_id=job["job_id"], until=FINAL, timeout=90)
    await page.goto(dashboard.base + "/history")  # any page
    hit = page.locator("#search-hits li", has=page.locator(".badge", has_text="run")).filter(
        has_text=f"{name} (slurm)").locator("a")
    for _ in range(30):  # until the recorder has it: each try is a new search
        await page.keyboard.press("Control+k")
        await expect(page.locator("dialog#search")).to_be_visible()
        await page.fill("#search-q", name)
        try:
            await expect(hit).to_be_visible(timeout=2_000)
            break
        except AssertionError:
            await page.keyboard.press("Escape")
    await expect(hit).to_have_attribute("href", f"/run/{name}?cluster=slurm")
    await expect(page.locator("#search-hits a", has_text=f"{name} (slurm {job['job_id']},")).to_be_visible()
    await _shot(page, "search")
    first = await page.locator("#search-hits a").first.get_attribute("href")
    await page.keyboard.press("Enter")  # opens the first hit
    await expect(page).to_have_url(dashboard.base + first)
    await page.keyboard.press("Meta+k")  # Cmd+K on a Mac
    await expect(page.locator("dialog#search")).to_be_visible()


async def test_theme_and_auto_refresh_survive_a_reload(page: Any, dashboard: Dashboard) -> None:
    await page.goto(dashboard.base + "/")
    await page.select_option("[data-theme-choice]", "dark")
    await page.uncheck("[data-auto-refresh]")
    await expect(page.locator("[data-live-status]")).to_have_text("paused")
    await page.reload()
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    await expect(page.locator("[data-theme-choice]")).to_have_value("dark")
    await expect(page.locator("[data-auto-refresh]")).not_to_be_checked()
    await expect(page.locator("[data-live-status]")).to_have_text("paused")
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)", background  # the dark palette, whatever the system says
    await _shot(page, "board-dark")
    await page.select_option("[data-theme-choice]", "light")
    await page.check("[data-auto-refresh]")
    await page.reload()
    assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    await expect(page.locator("[data-live-status]")).to_have_text("live")
