"""Issue 30, configuration from an agent: a real MCP client on `hpcbridge serve` adds a second cluster (the test
cluster again), changes its default partition and removes it. After each step the file keeps its comments and
the running server sees the change (list_clusters; a job submitted on it lands in the new default partition). An
HTTP principal not in `[config] editors` is refused in one line and the file is untouched."""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from fastmcp.exceptions import ToolError

from .conftest import hpcbridge_executable, start_http_server, stop_and_read_log

COMMENT = "# our clusters -- ask Ana before changing"


def _clean_env(home: Path, toolsets: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(home / "config.toml"), HPCBRIDGE_STATE_DIR=str(home / "state"),
               HPCBRIDGE_TOOLSETS=toolsets)
    return env


@contextlib.asynccontextmanager
async def _stdio(home: Path, config: str, toolsets: str) -> AsyncIterator[Client]:
    """`hpcbridge serve` (stdio) configured only by `config` in `home`; the process ends with the client."""
    (home / "config.toml").write_text(config)
    transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=_clean_env(home, toolsets),
                               keep_alive=False)
    async with Client(transport, timeout=200) as client:
        yield client


def _config(tc: dict[str, str]) -> str:
    return (f'{COMMENT}\nlog_level = "INFO"  # keep it quiet\n\n'
            f'[clusters.main]  # the one we use\nhost = "{tc["SLURM_SSH_HOST"]}"\nport = {tc["SLURM_SSH_PORT"]}\n'
            f'user = "{tc["SLURM_SSH_USER"]}"\nkey_path = "{tc["SLURM_SSH_KEY_PATH"]}"\n'
            f'known_hosts = "{tc["SLURM_SSH_KNOWN_HOSTS"]}"\ndefault = true\n')


def _second(tc: dict[str, str]) -> dict[str, Any]:
    return {"host": tc["SLURM_SSH_HOST"], "port": int(tc["SLURM_SSH_PORT"]), "user": tc["SLURM_SSH_USER"],
            "key_path": tc["SLURM_SSH_KEY_PATH"], "known_hosts": tc["SLURM_SSH_KNOWN_HOSTS"],
            "default_partition": "cpu", "policy.max_gpus": 2}


def _kept(path: Path) -> dict[str, Any]:
    text = path.read_text()
    assert COMMENT in text and "# the one we use" in text and "# keep it quiet" in text, text
    return tomllib.loads(text)


async def _partition_of_a_held_job(client: Client, cluster: str) -> str:
    submitted = await client.call_tool("submit_job", {"script_content": "sleep 1", "job_name": "h30a-config-e2e",
                                                      "hold": True, "time_limit": "1", "cluster": cluster})
    job_id = submitted.structured_content["job_id"]
    try:
        details = await client.call_tool("get_job_details", {"job_id": job_id, "cluster": cluster})
        return str(details.structured_content["job"]["partition"])
    finally:
        await client.call_tool("cancel_job", {"job_id": job_id, "cluster": cluster})


async def test_an_agent_adds_changes_and_removes_a_cluster(tmp_path: Path, tc_env: dict[str, str]) -> None:
    path = tmp_path / "config.toml"
    async with _stdio(tmp_path, _config(tc_env), "cluster,jobs,account,config") as client:
        names = {t.name for t in await client.list_tools()}
        assert {"get_cluster_config", "add_cluster_config", "update_cluster_config", "remove_cluster_config",
                "list_settings", "set_setting", "list_clusters"} <= names

        added = await client.call_tool("add_cluster_config", {"cluster": "second", "values": _second(tc_env)})
        assert added.structured_content["applied_now"] == ["clusters: second"], added.structured_content
        data = _kept(path)
        assert data["clusters"]["second"]["default_partition"] == "cpu"
        assert data["clusters"]["second"]["policy"]["max_gpus"] == 2
        listing = (await client.call_tool("list_clusters", {})).structured_content
        second = next(c for c in listing["clusters"] if c["name"] == "second")
        assert second["reachable"], second
        assert await _partition_of_a_held_job(client, "second") == "cpu"

        await client.call_tool("update_cluster_config", {"cluster": "second", "values": {"default_partition": "gpu"}})
        assert _kept(path)["clusters"]["second"]["default_partition"] == "gpu"
        shown = (await client.call_tool("get_cluster_config", {"cluster": "second"})).structured_content
        assert shown["keys"]["default_partition"] == "gpu" and shown["source"] == "file"
        assert await _partition_of_a_held_job(client, "second") == "gpu"  # the running server took it

        with pytest.raises(ToolError, match="visible to every user"):
            await client.call_tool("update_cluster_config", {"cluster": "second", "values": {"password": "x"}})
        with pytest.raises(ToolError, match="unknown key 'default_partiton'"):
            await client.call_tool("update_cluster_config", {"cluster": "second",
                                                             "values": {"default_partiton": "gpu"}})

        await client.call_tool("remove_cluster_config", {"cluster": "second"})
        assert "second" not in _kept(path)["clusters"]
        listing = (await client.call_tool("list_clusters", {})).structured_content
        assert [c["name"] for c in listing["clusters"]] == ["main"]
        with pytest.raises(ToolError, match="cluster 'second' is not configured"):
            await client.call_tool("get_cluster_status", {"cluster": "second"})

        changed = await client.call_tool("set_setting", {"key": "history.active_minutes", "value": 7})
        assert changed.structured_content["needs_restart"] == ["history.active_minutes"]
        assert _kept(path)["history"]["active_minutes"] == 7


async def test_a_principal_not_in_the_editors_is_refused(tmp_path: Path, tc_env: dict[str, str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(_config(tc_env) + '\n[clusters.main.policy]\nmax_gpus = 4\n')
    token = "h30a-" + os.urandom(16).hex()
    env = _clean_env(tmp_path, "config") | {"HPCBRIDGE_HTTP_TOKEN": token}
    proc, url = start_http_server(env)
    before = path.read_text()
    try:
        async with Client(StreamableHttpTransport(url, auth=token), timeout=60) as client:
            listing = await client.call_tool("list_settings", {"key": "config.editors"})
            assert listing.structured_content["may_edit"] is False
            assert listing.structured_content["settings"][0]["value"] == ["local"]
            with pytest.raises(ToolError) as refused:
                await client.call_tool("update_cluster_config", {"cluster": "main",
                                                                 "values": {"policy.max_gpus": 64}})
            message = str(refused.value)
            assert "'default' may not change the configuration" in message and "\n" not in message
    finally:
        log = stop_and_read_log(proc)
    assert path.read_text() == before
    assert "config principal=default refused: change cluster 'main'" in log


async def _board_events(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The board's stream, one item per look (every 2 s): an `update` event's HTML, or "" when the stream only
    said it is still there (nothing changed)."""
    data: list[str] = []
    async for line in lines:
        if line.startswith("data: "):
            data.append(line[6:])
        elif line.startswith(":"):
            yield ""
        elif not line and data:
            yield "\n".join(data)
            data = []


async def test_the_board_follows_a_cluster_added_and_removed_by_an_agent(tmp_path: Path,
                                                                         tc_env: dict[str, str]) -> None:
    """One `hpcbridge serve --transport http` (MCP and the dashboard): an agent adds a cluster with
    add_cluster_config; the open board's stream and a fresh board page show it, reachable, without a
    restart; removed, it leaves the board."""
    (tmp_path / "config.toml").write_text(_config(tc_env) + '\n[config]\neditors = ["default"]\n')
    token = "h30b-" + os.urandom(16).hex()
    proc, url = start_http_server(_clean_env(tmp_path, "cluster,jobs,config") | {"HPCBRIDGE_HTTP_TOKEN": token})
    base = url.removesuffix("/mcp")
    try:
        async with (Client(StreamableHttpTransport(url, auth=token), timeout=120) as agent,
                    httpx.AsyncClient(base_url=base, timeout=120) as browser):
            made = await browser.post("/login", data={"token": token})
            assert made.status_code == 303, made.text[:500]
            browser.headers["Cookie"] = made.headers["set-cookie"].split(";", 1)[0]
            first = await browser.get("/", headers={"Accept": "text/html"})
            assert 'data-cluster="main"' in first.text and 'data-cluster="second"' not in first.text, first.text[:2000]
            async with browser.stream("GET", "/events/board", headers={"Accept": "text/event-stream"}) as stream:
                events = _board_events(stream.aiter_lines())
                assert 'data-cluster="second"' not in await anext(events)
                added = await agent.call_tool("add_cluster_config", {"cluster": "second", "values": _second(tc_env)})
                assert added.structured_content["applied_now"] == ["clusters: second"], added.structured_content
                for _ in range(30):  # one look every 2 s
                    html = await anext(events)
                    if 'data-cluster="second"' in html:
                        break
                else:
                    raise AssertionError(f"the open board never showed the added cluster: {html[:2000]}")
            page = (await browser.get("/", headers={"Accept": "text/html"})).text
            second = page[page.index('data-cluster="second"'):]
            second = second[:second.find("</section>")]
            assert "in queue" in second and "unreachable" not in second, second  # its queue was read
            await agent.call_tool("remove_cluster_config", {"cluster": "second"})
            page = (await browser.get("/", headers={"Accept": "text/html"})).text
            assert 'data-cluster="main"' in page and 'data-cluster="second"' not in page, page[:2000]
    finally:
        log = stop_and_read_log(proc)
    assert "Traceback" not in log, log[-3000:]
