"""The job page's log part in a real headless Chromium (Playwright, Debian's chromium) against the test
cluster: a finished job's 100 KB stdout paged first/next/previous by byte offsets, searched (line numbers, a
hit opens the page at its line), and its JSONL metric log shown as a table with the bad line named."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from ..conftest import ROOT
from .conftest import (
    HTTP_TOKEN,
    as_cluster_user,
    call,
    server_env,
    start_http_server,
    stop_and_read_log,
    wait_final,
)

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install -e '.[test]' brings playwright")
expect = playwright_api.expect
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "docs" / "screenshots"
RUN = f"watchlogs-page-{os.getpid()}"
DIR = f"/lustre/users/alice/{RUN}"
ROWS = 3000  # "row N of the log, padded to about 35 bytes": ~100 KB, four 32 KB pages


@pytest.fixture(scope="module")
def server(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium")
    home = tmp_path_factory.mktemp("watchlogs-page")
    env = server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_STATE_DIR=str(home / "state"),
                     HPCBRIDGE_TOOLSETS="cluster,jobs,watch")
    as_cluster_user(tc_env, 'mkdir -p "$1"', DIR)
    proc, url = start_http_server(env)
    yield url
    log = stop_and_read_log(proc)
    as_cluster_user(tc_env, 'rm -rf -- "$1"', DIR)
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
async def job(server: str) -> str:
    script = (f"#!/bin/bash\n#SBATCH --job-name={RUN}\n#SBATCH --output={DIR}/train-%j.out\n"
              f"for i in $(seq 1 {ROWS}); do echo \"row $i of the log, padded\"; done\n"
              f"printf '{{\"step\": 1, \"loss\": 0.9}}\\nbroken\\n{{\"step\": 2, \"loss\": 0.5}}\\n' "
              f"> {DIR}/metrics.jsonl\n")
    async with Client(StreamableHttpTransport(server, auth=HTTP_TOKEN), timeout=120) as agent:
        submitted = await call(agent, "submit_job", script_content=script, partition="cpu", time_limit="00:02:00",
                               working_directory=DIR)
        await wait_final(agent, submitted["job_id"])
    return str(submitted["job_id"])


@pytest.fixture
async def tab(server: str) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 1440, "height": 900})
        page = await context.new_page()
        await page.goto(server.removesuffix("/mcp") + "/")
        await page.fill("input[name=token]", HTTP_TOKEN)
        await page.click("button:has-text('Log in')")
        await expect(page.locator("#board")).to_be_visible()
        yield page
        await browser.close()


async def _offsets(text: Any) -> tuple[int, int]:
    return int(await text.get_attribute("data-offset")), int(await text.get_attribute("data-next-offset"))


async def test_page_search_and_jsonl_table_on_the_job_page(tab: Any, server: str, job: str) -> None:
    await tab.goto(server.removesuffix("/mcp") + f"/job/default/{job}")
    part = tab.locator("#job-logs")
    text = part.locator("[data-log-text]")
    await expect(text).to_contain_text(f"row {ROWS} of the log, padded")  # the last page first
    last_start, _ = await _offsets(text)
    assert last_start > 0 and not (await text.inner_text()).startswith("row 1 ")

    await part.locator("button:has-text('First')").click()
    await expect(text).to_have_attribute("data-offset", "0")
    assert (await text.inner_text()).startswith("row 1 of the log, padded\nrow 2 ")
    first = await text.inner_text()
    _, second_start = await _offsets(text)
    await part.locator("[data-log-next]").click()
    await expect(text).to_have_attribute("data-offset", str(second_start))
    second = await text.inner_text()
    assert first.splitlines()[-1].split()[1] == str(int(second.splitlines()[0].split()[1]) - 1), "no line lost"
    await part.locator("[data-log-prev]").click()
    await expect(text).to_have_attribute("data-offset", "0")
    assert await text.inner_text() == first

    await part.locator("input[name=q]").fill("^row 1234 ")
    await part.locator("button:has-text('Search')").click()
    hits = part.locator("[data-log-hits] tr.match")
    await expect(hits).to_have_count(1)
    await expect(hits.locator("td").first).to_have_text("1234")
    await hits.locator("a").click()
    await expect(text).not_to_have_attribute("data-offset", "0")
    assert (await text.inner_text()).startswith("row 1234 of the log, padded\n")

    await part.locator("details summary").click()
    await part.locator("[data-log-jsonl]").click()
    table = part.locator("[data-log-records]")
    await expect(table.locator("tbody tr")).to_have_count(2)
    await expect(table.locator("thead")).to_contain_text("loss")
    await expect(part.locator("#log-records p.error")).to_contain_text("line 2")
    await expect(table.locator("tbody tr").nth(1)).to_contain_text("0.5")
    await part.scroll_into_view_if_needed()
    await part.screenshot(path=str(SHOTS / "job-logs.png"))  # shown in README's "Logs" subsection
