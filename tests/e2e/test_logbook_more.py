"""Issue 30's logbook in a real headless Chromium and through a real MCP client on the same server: an image
pasted into the editor is uploaded and shown with a table (and an entry's <script> never runs), `@` completes
a recorded run, the map shows two linked entries, search ranks the better match first, bulk reads, and
cleanup_history dry-runs before it deletes."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import struct
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from ..conftest import ROOT
from .conftest import HTTP_TOKEN, as_cluster_user, call, server_env, start_http_server, stop_and_read_log

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install -e '.[test]' brings playwright")
expect = playwright_api.expect

pytestmark = pytest.mark.timeout(600)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "docs" / "screenshots"
TAG = "h30c" + secrets.token_hex(3)  # this run's names: other tests share the cluster


def _png(width: int = 40, height: int = 24) -> bytes:
    """A real PNG (red), made here so the test needs no file."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xdd\x22\x22" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def base(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium")
    home = tmp_path_factory.mktemp("logbook")
    (home / "config.toml").write_text('toolsets = ["all"]\n\n[dashboard]\nimage_max_kb = 64\n')
    env = server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_CONFIG=str(home / "config.toml"),
                     HPCBRIDGE_STATE_DIR=str(home / "state"), SLURM_DEFAULT_PARTITION="cpu")
    _seed_an_old_job(home / "state")
    proc, url = start_http_server(env)
    yield url.removesuffix("/mcp")
    log = stop_and_read_log(proc)
    assert "Traceback" not in log, log[-3000:]


def _seed_an_old_job(state: Path) -> None:
    """A finished job last seen 40 days ago, written into the server's history before it starts (nothing on a
    live cluster is that old): what cleanup_history(older_than_days=30) must find and then delete."""
    from hpcbridge.history.db import Database, default_url
    from hpcbridge.history.store import HistoryWriter
    from hpcbridge.models import Job, JobState

    state.mkdir(mode=0o700)
    db = Database(default_url(state))
    at = time.time() - 40 * 86400
    old = Job(job_id="990001", name=f"{TAG}_ancient", user="alice", partition="cpu", state=JobState.COMPLETED,
              native_state="COMPLETED", submit_time="2026-01-01T10:00:00")
    HistoryWriter(db).observe("default", [old], at=at)
    db.close()


@pytest.fixture(scope="module")
async def agent(base: str) -> AsyncIterator[Client]:
    async with Client(StreamableHttpTransport(base + "/mcp", auth=HTTP_TOKEN), timeout=120) as client:
        yield client


@pytest.fixture
async def page(base: str) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = await (await chromium.new_context(viewport={"width": 1440, "height": 900})).new_page()
        tab.dialogs = []  # type: ignore[attr-defined]
        tab.on("dialog", lambda d: (tab.dialogs.append(d.message), asyncio.ensure_future(d.accept())))
        await tab.goto(base + "/")
        await tab.fill("input[name=token]", HTTP_TOKEN)
        await tab.click("button:has-text('Log in')")
        await tab.wait_for_url(base + "/")
        yield tab
        await chromium.close()


def _get(url: str, cookie: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Cookie": cookie}), timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), b""


async def test_a_pasted_png_and_a_table_render_and_script_does_not_run(page: Any, base: str) -> None:
    await page.goto(base + "/logbook")
    area = page.locator("textarea[data-logbook-editor]")
    await area.fill("| lr | loss |\n|---|---|\n| 3e-4 | 1.91 |\n\n<script>alert(1)</script>\n")
    await area.evaluate("""(area, bytes) => {
        area.focus(); area.selectionStart = area.selectionEnd = area.value.length;
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(bytes)], "shot.png", {type: "image/png"}));
        area.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
    }""", list(_png()))
    await expect(area).to_have_value(re.compile(r"!\[image\]\(/logbook-images/[0-9a-f]{32}\.png\)"),
                                     timeout=15_000)
    await page.fill(".entry-form input[name=project]", TAG)
    await page.fill(".entry-form input[name=title]", "Loss table <script>alert(2)</script>")
    await page.click(".entry-form button")
    await expect(page.locator("article.markdown table td").first).to_have_text("3e-4")
    image = page.locator("article.markdown img")
    await expect(image).to_have_count(1)
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 40  # served and decoded
    await expect(page.locator("article.markdown")).to_contain_text("<script>alert(1)</script>")  # shown as text
    assert await page.locator("article script").count() == 0
    await page.screenshot(path=str(SHOTS / "logbook-entry-image-table.png"))
    # the image comes back as PNG because its bytes are PNG, with nosniff
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in await page.context.cookies())
    src = await image.get_attribute("src")
    status, headers, body = _get(base + src, cookie)
    assert (status, headers["content-type"], headers["x-content-type-options"]) == (200, "image/png", "nosniff")
    assert body == _png()
    assert _get(base + src, "")[0] in (302, 303, 401)  # not without a login
    # HTML posing as a PNG is refused: the type is read from the bytes
    refused = await page.evaluate("""async () => (await fetch("/logbook-images", {method: "POST",
        headers: {"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content,
                  "Content-Type": "image/png"}, body: "<html><script>alert(3)</script>"})).status""")
    too_big = await page.evaluate("""async () => (await fetch("/logbook-images", {method: "POST",
        headers: {"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content},
        body: new Uint8Array(70 * 1024)})).status""")
    no_token = await page.evaluate("""async () => (await fetch("/logbook-images", {method: "POST",
        body: new Uint8Array(8)})).status""")
    assert (refused, too_big, no_token) == (400, 413, 403)
    assert page.dialogs == []  # no alert() ever ran


async def test_the_map_shows_two_linked_entries(page: Any, base: str, agent: Client) -> None:
    project = TAG + "map"
    first = await call(agent, "create_logbook_entry", project=project, title="Baseline", body="lr 3e-4")
    second = await call(agent, "create_logbook_entry", project=project, title="Follow-up",
                        body=f"Better than #{first['id']}.")
    await page.goto(f"{base}/logbook-map?project={project}")
    edge = page.locator(f'svg line.edge[data-from="{second["id"]}"][data-to="{first["id"]}"]')
    await expect(edge).to_have_count(1)
    await expect(page.locator("svg a.node")).to_have_count(2)
    nested = page.locator(f'.map-tree li:has(> a[href="/logbook/{first["id"]}"]) li > a[href="/logbook/{second["id"]}"]')
    await expect(nested).to_have_count(1)
    await page.screenshot(path=str(SHOTS / "logbook-map.png"))


async def test_at_completes_a_recorded_run(page: Any, base: str, agent: Client) -> None:
    name = f"{TAG}_complete"
    job = await call(agent, "submit_job", script_content="#!/bin/bash\nsleep 1\n", job_name=name, partition="cpu")
    assert job
    await page.goto(base + "/logbook")
    area = page.locator("textarea[data-logbook-editor]")
    button = page.locator(".run-suggest button", has_text=f"@{name}")
    for _ in range(30):  # the recorder writes the run down on its next poll
        await area.fill("")
        await area.press_sequentially(f"see @{TAG}_c")
        try:
            await expect(button).to_be_visible(timeout=2000)
            break
        except AssertionError:
            await asyncio.sleep(2)
    await button.click()
    await expect(area).to_have_value(f"see @{name} ")


async def test_search_ranks_bulk_reads_and_cleanup_dry_runs_first(agent: Client) -> None:
    project = TAG + "rank"
    strong = await call(agent, "create_logbook_entry", project=project, title="NaN loss hunt",
                        body="NaN at step 10, NaN again after restart, NaN with bf16: the NaN comes from the loss scale.")
    weak = await call(agent, "create_logbook_entry", project=project, title="Throughput notes",
                      body="Tokens per second went up 12% with the new kernel; one NaN seen, unrelated.")
    found = await call(agent, "search_logbook", text="NaN", project=project)
    assert [e["id"] for e in found["items"]] == [strong["id"], weak["id"]]  # newer weak match second
    batch = await call(agent, "bulk_read_logbooks", entry_ids=[weak["id"], strong["id"], 10**9])
    assert [e["id"] for e in batch["entries"]] == [weak["id"], strong["id"]] and batch["missing"] == [10**9]
    ancient = f"{TAG}_ancient"
    dry = await call(agent, "cleanup_history", older_than_days=30)
    assert (dry["dry_run"], dry["jobs"], dry["examples"]) == (True, 1, [f"default:990001 {ancient}"])
    assert (await call(agent, "search_history", text=ancient))["total"] == 1  # a dry run deletes nothing
    done = await call(agent, "cleanup_history", older_than_days=30, confirm=True)
    assert (done["dry_run"], done["jobs"]) == (False, 1)
    assert (await call(agent, "search_history", text=ancient))["total"] == 0
    assert (await call(agent, "cleanup_history", older_than_days=30))["jobs"] == 0
    assert (await call(agent, "read_logbook_entry", entry_id=strong["id"]))["id"] == strong["id"]  # entries stay


async def test_the_job_page_shows_where_a_job_came_from(page: Any, base: str, agent: Client,
                                                        tc_env: dict[str, str]) -> None:
    repo = f"{tc_env['SLURM_USER_ROOT']}/{TAG}_page_repo"
    commit = as_cluster_user(tc_env, 'set -e; mkdir -p "$1"; cd "$1"; git init -q .; git config user.email t@e.org; '
                             'git config user.name t; echo a > a; git add a; git commit -qm a; git rev-parse HEAD',
                             repo).strip()
    try:
        job = await call(agent, "submit_job", script_content="sleep 20", job_name=f"{TAG}_prov",
                         working_directory=repo, time_limit="1")
        await page.goto(f"{base}/job/{job['cluster']}/{job['job_id']}")
        await expect(page.locator("dd.provenance")).to_contain_text(f"git {commit[:12]}, clean")
        await expect(page.locator("dd.provenance")).to_contain_text("submit_job")
        await call(agent, "cancel_job", job_id=job["job_id"])
    finally:
        as_cluster_user(tc_env, 'rm -rf -- "$1"', repo)
