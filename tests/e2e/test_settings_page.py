"""Issue 30, configuration from the browser: in a real Chromium the Settings page adds a second cluster (the test
cluster again), changes its default partition and removes it. After each step the file keeps its comments and
the running server sees the change (an MCP client on the same server: list_clusters; a held job submitted without
a partition lands in the new default). A bad value is shown as an error with what was typed still in the form.
The screenshot is the README's Settings image."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from .conftest import HTTP_TOKEN, call, server_env, start_http_server, stop_and_read_log
from .test_dashboard import CHROMIUM, SHOTS, playwright_api

pytestmark = pytest.mark.timeout(600)
COMMENT = "# shared by the lab -- ask Ana before changing"


@pytest.fixture(scope="module")
def served(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium")
    home = tmp_path_factory.mktemp("settings")
    path = home / "config.toml"
    path.write_text(f'{COMMENT}\ntoolsets = ["cluster", "jobs", "account", "config"]\n\n'
                    '[config]\neditors = ["default"]  # the dashboard\'s token\n\n'
                    f'[clusters.main]  # the one we use\nhost = "{tc_env["SLURM_SSH_HOST"]}"\n'
                    f'port = {tc_env["SLURM_SSH_PORT"]}\nuser = "{tc_env["SLURM_SSH_USER"]}"\n'
                    f'key_path = "{tc_env["SLURM_SSH_KEY_PATH"]}"\nknown_hosts = "{tc_env["SLURM_SSH_KNOWN_HOSTS"]}"\n'
                    'default = true\n')
    env = server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_CONFIG=str(path),
                     HPCBRIDGE_STATE_DIR=str(home / "state"))
    for key in [k for k in env if k.startswith("SLURM_") or k == "HPCBRIDGE_TOOLSETS"]:
        del env[key]
    proc, url = start_http_server(env)
    yield url, path
    log = stop_and_read_log(proc)
    assert "Traceback" not in log, log[-3000:]
    assert "config principal=default add cluster second" in log
    assert "config principal=default remove cluster second" in log


@pytest.fixture
async def tab(served: tuple[str, Path]) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await chromium.new_context(viewport={"width": 1440, "height": 1100})
        page = await context.new_page()
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), asyncio.ensure_future(d.accept())))
        await page.goto(served[0].removesuffix("/mcp") + "/login")
        await page.fill("input[name=token]", HTTP_TOKEN)
        await page.click("button:has-text('Log in')")
        await playwright_api.expect(page.locator("#board")).to_be_visible()
        yield page
        await chromium.close()


def _kept(path: Path) -> dict[str, Any]:
    text = path.read_text()
    assert COMMENT in text and "# the one we use" in text and "# the dashboard's token" in text, text
    return tomllib.loads(text)


async def _held_partition(agent: Client, cluster: str) -> str:
    job = (await call(agent, "submit_job", script_content="sleep 1", job_name="h30a-settings-page", hold=True,
                      time_limit="1", cluster=cluster))["job_id"]
    try:
        return str((await call(agent, "get_job_details", job_id=job, cluster=cluster))["job"]["partition"])
    finally:
        await call(agent, "cancel_job", job_id=job, cluster=cluster)


async def _names(agent: Client) -> list[str]:
    return [c["name"] for c in (await call(agent, "list_clusters"))["clusters"]]


async def test_the_settings_page_adds_changes_and_removes_a_cluster(tab: Any, served: tuple[str, Path],
                                                                     tc_env: dict[str, str]) -> None:
    url, path = served
    expect = playwright_api.expect
    async with Client(StreamableHttpTransport(url, auth=HTTP_TOKEN), timeout=120) as agent:
        await tab.click("nav >> text=Settings")
        await expect(tab.locator("section[data-cluster=main]")).to_contain_text("127.0.0.1")
        form = tab.locator("#add-cluster")
        for field, value in (("name", "second"), ("host", tc_env["SLURM_SSH_HOST"]),
                             ("port", tc_env["SLURM_SSH_PORT"]), ("user", tc_env["SLURM_SSH_USER"]),
                             ("key_path", tc_env["SLURM_SSH_KEY_PATH"]), ("default_partition", "cpu")):
            await form.locator(f"input[name={field}]").fill(value)
        await form.locator("textarea[name=pairs]").fill(f"known_hosts={tc_env['SLURM_SSH_KNOWN_HOSTS']}")
        await form.locator("button").click()
        await expect(tab.locator("#done")).to_contain_text("add cluster second: the running server uses it now")
        assert _kept(path)["clusters"]["second"]["default_partition"] == "cpu"
        assert await _names(agent) == ["main", "second"]
        assert await _held_partition(agent, "second") == "cpu"

        second = tab.locator("section[data-cluster=second]")
        await second.locator("textarea[name=pairs]").fill("default_partition=gpu\npolicy.max_gpus=many")
        await second.locator("button:has-text('Save second')").click()
        await expect(tab.locator("#error")).to_contain_text("max_gpus")  # refused, said, and nothing lost:
        await expect(second.locator("textarea[name=pairs]")).to_have_value("default_partition=gpu\n"
                                                                           "policy.max_gpus=many")
        assert _kept(path)["clusters"]["second"]["default_partition"] == "cpu"
        await second.locator("textarea[name=pairs]").fill("default_partition=gpu\npolicy.max_gpus=2")
        await second.locator("button:has-text('Save second')").click()
        await expect(tab.locator("#done")).to_contain_text("change cluster second")
        await expect(second).to_contain_text("gpu")
        data = _kept(path)["clusters"]["second"]
        assert (data["default_partition"], data["policy"]["max_gpus"]) == ("gpu", 2)
        assert await _held_partition(agent, "second") == "gpu"  # the running server took it

        setting = tab.locator("tr[data-key='history.active_minutes']")
        await setting.locator("input[name=value]").fill("9")
        await setting.locator("button").click()
        await expect(tab.locator("#done")).to_contain_text("takes effect when the server restarts")
        assert _kept(path)["history"]["active_minutes"] == 9
        SHOTS.mkdir(parents=True, exist_ok=True)
        await tab.screenshot(path=str(SHOTS / "settings.png"), full_page=True)

        await second.locator("button:has-text('Remove second')").click()
        await expect(tab.locator("#done")).to_contain_text("remove cluster second")
        assert tab.dialogs and "Remove cluster second" in tab.dialogs[0]
        assert "second" not in _kept(path)["clusters"]
        assert await _names(agent) == ["main"]
