"""get_job_stats (issue 27) through a real MCP client, on the real Slurm test cluster and the real OpenPBS 23.06.

The nodes have no GPU: testcluster/nvidia-smi stands in for nvidia-smi on their PATH. It prints NVIDIA's
documented query form (nvidia-smi(1), `nvidia-smi --help-query-gpu`): for
`--query-gpu=index,name,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu
--format=csv,noheader,nounits` one line per GPU, the fields in the order asked, separated by ", ", no header
and no units (MiB, W, degrees C, %), e.g. `0, NVIDIA A100-SXM4-80GB, 87, 40536, 81920, 312.45, 64`; "[N/A]"
for what a GPU cannot report. It lists the GPUs in CUDA_VISIBLE_DEVICES (else all 4) and reads its values from
<state dir>/nvidia-smi/<node>/<index> (`field=value` lines), which these tests write as the cluster user,
with values drawn at random so that only the stand-in's answer can match them.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from fastmcp.exceptions import ToolError

from hpcbridge.watch import gpustats

from ..conftest import ROOT, TC_DIR, openpbs_env
from .conftest import (
    HTTP_TOKEN,
    as_cluster_user,
    call,
    hpcbridge_executable,
    server_env,
    slurm_and_openpbs_toml,
    start_http_server,
    stdio_server,
    stop_and_read_log,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]
VALUES = str(TC_DIR / "nvidia-smi")


def _values() -> dict[str, float]:
    return {"utilization.gpu": random.randint(11, 99), "memory.used": random.randint(1000, 80000),
            "power.draw": round(random.uniform(70, 399), 2), "temperature.gpu": random.randint(35, 85)}


def _write(tc_env: dict[str, str], node: str, index: int, values: dict[str, float]) -> None:
    body = "".join(f"{k}={v}\n" for k, v in values.items())
    as_cluster_user(tc_env, 'mkdir -p "$1/$2" && chmod 1777 "$1/$2" 2>/dev/null; printf "%s" "$4" > "$1/$2/$3"',
                    VALUES, node, str(index), body)


def _clear(tc_env: dict[str, str], node: str, indices: list[int]) -> None:
    as_cluster_user(tc_env, 'd=$1; shift; for i in "$@"; do rm -f "$d/$i"; done', f"{VALUES}/{node}",
                    *map(str, indices))


def _indices(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        out.extend(range(int(low), int(high or low) + 1))
    return out


def _matches(gpu: dict[str, Any], values: dict[str, float]) -> bool:
    return (gpu["utilization_percent"] == values["utilization.gpu"] and gpu["memory_used_mib"] == values["memory.used"]
            and gpu["power_watts"] == values["power.draw"] and gpu["temperature_c"] == values["temperature.gpu"])


async def _running(client: Client, job_id: str, **cluster: str) -> dict[str, Any]:
    for _ in range(120):
        details = await call(client, "get_job_details", job_id=job_id, **cluster)
        if details["job"]["state"] == "RUNNING":
            return details
        assert not details["job"]["state"] in {"FAILED", "CANCELLED", "COMPLETED"}, details
        await asyncio.sleep(1)
    raise AssertionError(f"job {job_id} never started")


async def _error(client: Client, **arguments: Any) -> str:
    with pytest.raises(ToolError) as err:
        await client.call_tool("get_job_stats", arguments)
    return str(err.value)


async def test_two_gpu_job_shows_its_two_gpus_with_the_stand_ins_values(
    mcp: Client, mcp_openssh: Client, tc_env: dict[str, str]
) -> None:
    tag = os.urandom(3).hex()
    job = await call(mcp, "submit_job", script_content="sleep 300", job_name=f"hpb_stats_gpu_{tag}",
                     partition="gpu", gpus=2, time_limit="10")
    job_id = job["job_id"]
    node, indices = "", []
    try:
        details = await _running(mcp, job_id)
        node, indices = details["job"]["node_list"], _indices(details["gpu_indices"])
        assert len(indices) == 2, details
        values = {i: _values() for i in indices}
        for i, v in values.items():
            _write(tc_env, node, i, v)
        # a job waiting on this one is pending: refused in one line that says so
        waiting = await call(mcp, "submit_job", script_content="true", job_name=f"hpb_stats_pend_{tag}",
                             partition="cpu", time_limit="5", dependency=f"afterok:{job_id}")
        try:
            said = await _error(mcp, job_id=waiting["job_id"])
            assert f"job {waiting['job_id']} is PENDING (Dependency)" in said and "\n" not in said, said
        finally:
            await call(mcp, "cancel_job", job_id=waiting["job_id"])

        for client in (mcp, mcp_openssh):  # the asyncssh and the OpenSSH ControlMaster transports
            result = await client.call_tool("get_job_stats", {"job_id": job_id})
            stats = result.structured_content or {}
            assert stats["state"] == "RUNNING" and stats["gpu_count"] == 2, stats
            [seen] = stats["nodes"]
            assert seen["node"] == node and seen["gpu_tool"] == "nvidia-smi" and seen["note"] == "", seen
            assert [g["index"] for g in seen["gpus"]] == indices, (seen, details["gpu_indices"])
            for gpu in seen["gpus"]:
                assert gpu["model"] == "NVIDIA A100-SXM4-80GB" and gpu["memory_total_mib"] == 81920, gpu
                assert _matches(gpu, values[gpu["index"]]), (gpu, values)
            assert stats["cpu_source"] == "sstat" and any(s["step"].endswith(".batch") for s in stats["steps"]), stats
            text = result.content[0].text  # type: ignore[union-attr]
            assert f"gpu{indices[0]} NVIDIA A100-SXM4-80GB: {values[indices[0]]['utilization.gpu']}% util" in text
    finally:
        await call(mcp, "cancel_job", job_id=job_id)
        if node:
            _clear(tc_env, node, indices)


async def test_two_node_job_in_one_call(mcp: Client, tc_env: dict[str, str]) -> None:
    """One srun step over both GPU nodes: each node's GPU and its own stand-in values, in one answer."""
    job = await call(mcp, "submit_job", script_content="sleep 300", job_name=f"hpb_stats_2n_{os.urandom(3).hex()}",
                     partition="gpu", nodes=2, gpus=1, time_limit="10")
    job_id, written = job["job_id"], []
    try:
        await _running(mcp, job_id)
        first = await call(mcp, "get_job_stats", job_id=job_id)
        assert sorted(n["node"] for n in first["nodes"]) == ["gpu1", "gpu2"], first
        assert all(len(n["gpus"]) == 1 for n in first["nodes"]), first
        # get_job_details' gpu_indices keeps one node's IDX; Slurm's own per-node answer is the reference here
        shown = as_cluster_user(tc_env, 'scontrol show job -d "$1"', job_id)
        per_node = {}
        for nodes, idx in re.findall(r"Nodes=(\S+) .*?IDX:([0-9,-]+)\)", shown):  # gpu[1-2]: same IDX on each
            group = re.fullmatch(r"(\w+)\[(\d+)-(\d+)\]", nodes)
            names = [f"{group[1]}{k}" for k in range(int(group[2]), int(group[3]) + 1)] if group else [nodes]
            per_node.update({name: _indices(idx) for name in names})
        assert {n["node"]: [n["gpus"][0]["index"]] for n in first["nodes"]} == per_node, (first, shown)
        values = {}
        for n in first["nodes"]:
            values[n["node"]] = _values()
            written.append((n["node"], n["gpus"][0]["index"]))
            _write(tc_env, n["node"], n["gpus"][0]["index"], values[n["node"]])
        stats = await call(mcp, "get_job_stats", job_id=job_id)
        assert stats["gpu_count"] == 2, stats
        for n in stats["nodes"]:
            assert _matches(n["gpus"][0], values[n["node"]]), (n, values)
    finally:
        await call(mcp, "cancel_job", job_id=job_id)
        for node, index in written:
            _clear(tc_env, node, [index])


async def test_a_gpu_tool_that_hangs_is_bounded(mcp: Client, tc_env: dict[str, str]) -> None:
    """nvidia-smi that does not answer (the stand-in's hang file): the node's own `timeout` ends it and the
    answer says so; with a shorter call timeout the probe step itself is cancelled and the answer says that."""
    job = await call(mcp, "submit_job", script_content="sleep 300", job_name=f"hpb_stats_hang_{os.urandom(3).hex()}",
                     partition="gpu", gpus=1, time_limit="10")
    job_id, node = job["job_id"], ""
    try:
        details = await _running(mcp, job_id)
        node = details["job"]["node_list"]
        as_cluster_user(tc_env, 'mkdir -p "$1" && chmod 1777 "$1" 2>/dev/null; echo 60 > "$1/hang"', f"{VALUES}/{node}")
        stats = await call(mcp, "get_job_stats", job_id=job_id)
        [seen] = stats["nodes"]
        assert seen["gpus"] == [] and seen["note"] == f"nvidia-smi on {node} did not answer within 10s", stats
        short = await call(mcp, "get_job_stats", job_id=job_id, timeout=3)
        assert short["nodes"] == [] and short["notes"][0] == "the GPU probe step did not answer within 3s (cancelled)"
        steps = as_cluster_user(tc_env, 'squeue -h -s -j "$1" -o %j', job_id).split()
        assert "hpcbridge-stats" not in steps, steps  # the probe step was cancelled, the job's own remain
        assert "batch" in steps, steps
    finally:
        await call(mcp, "cancel_job", job_id=job_id)
        if node:
            as_cluster_user(tc_env, 'rm -f "$1/hang"', f"{VALUES}/{node}")


async def test_cpu_only_job_says_it_has_no_gpus(mcp: Client) -> None:
    job = await call(mcp, "submit_job", script_content="sleep 300", job_name=f"hpb_stats_cpu_{os.urandom(3).hex()}",
                     partition="cpu", time_limit="10")
    try:
        await _running(mcp, job["job_id"])
        stats = await call(mcp, "get_job_stats", job_id=job["job_id"])
        assert stats["gpu_count"] == 0 and [n["note"] for n in stats["nodes"]] == ["the job has no GPUs"], stats
        assert stats["nodes"][0]["rss_bytes"] and stats["nodes"][0]["rss_bytes"] > 0, stats  # sleep's own RSS
    finally:
        await call(mcp, "cancel_job", job_id=job["job_id"])


def _real_nvidia_smi() -> str | None:
    found = shutil.which("nvidia-smi")
    if not found:
        return None
    with open(found, "rb") as f:
        return None if b"Stand-in nvidia-smi" in f.read(4096) else found


@pytest.mark.skipif(_real_nvidia_smi() is None, reason="no real nvidia-smi on this machine (only the "
                    "test cluster's stand-in, or none): the probe is checked against the stand-in above")
def test_probe_against_a_real_nvidia_smi() -> None:
    """The same probe and parser on a machine with a real NVIDIA GPU and driver."""
    out = subprocess.run(["bash", "-c", gpustats.PROBE], capture_output=True, text=True, timeout=60,
                         check=False).stdout
    [node] = gpustats.parse_probe(out)
    assert node.gpu_tool == "nvidia-smi" and node.gpus and node.note == "", out
    for gpu in node.gpus:
        assert gpu.memory_total_mib and gpu.memory_used_mib is not None and gpu.memory_used_mib <= gpu.memory_total_mib
        assert gpu.utilization_percent is None or 0 <= gpu.utilization_percent <= 100, gpu


@pytest.fixture(scope="module")
async def mcp_pbs(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    config = slurm_and_openpbs_toml(tc_env, openpbs_env(), default="pbs")
    async with stdio_server(tmp_path_factory.mktemp("stats-pbs"), config) as client:
        yield client


async def test_openpbs_job_through_pbs_attach(mcp_pbs: Client, tc_env: dict[str, str]) -> None:
    """OpenPBS 23.06 here: the MoM runs on the login host, so pbs_attach joins the job; no cgroups hook binds
    devices, so every GPU of the host is shown, and the answer says so. CPU and memory: qstat -f."""
    job = await call(mcp_pbs, "submit_job", script_content="sleep 300", job_name=f"hpb_stats_{os.urandom(3).hex()}",
                     partition="gpu", gpus=2, time_limit="10")
    job_id, node = job["job_id"], ""
    try:
        await _running(mcp_pbs, job_id)
        first = await call(mcp_pbs, "get_job_stats", job_id=job_id)
        [seen] = first["nodes"]
        node = seen["node"]
        values = _values()
        _write(tc_env, node, 1, values)
        stats = await call(mcp_pbs, "get_job_stats", job_id=job_id)
        [seen] = stats["nodes"]
        assert seen["gpu_tool"] == "nvidia-smi" and [g["index"] for g in seen["gpus"]] == [0, 1, 2, 3], stats
        assert _matches(seen["gpus"][1], values) and not _matches(seen["gpus"][0], values), seen
        assert any("binds no devices" in n for n in stats["notes"]), stats
        assert stats["cpu_source"] == "qstat -f resources_used", stats
        assert stats["gpu_source"] == "pbs_attach on the execution host"
        for _ in range(90):  # the MoM reports resources_used at its next poll after the start
            if seen["rss_bytes"]:
                break
            await asyncio.sleep(1)
            [seen] = (await call(mcp_pbs, "get_job_stats", job_id=job_id))["nodes"]
        assert seen["rss_bytes"] and seen["rss_bytes"] > 0 and seen["cpu_seconds"] is not None, seen
    finally:
        await call(mcp_pbs, "cancel_job", job_id=job_id)
        if node:
            _clear(tc_env, node, [1])


async def test_read_only_cluster_starts_nothing_inside_the_job(mcp_pbs: Client, tc_env: dict[str, str],
                                                               tmp_path: Path) -> None:
    """`read_only = true`: get_job_stats still answers with what the scheduler reports (sstat; qstat -f) but
    starts nothing inside the job: no `srun --overlap` step, no `pbs_attach`. The server's audit log (every
    command, on stderr) is the witness; the answer says in a note that GPU use is left out because of read_only.
    The jobs are submitted through a writable server on the same two clusters."""
    config = slurm_and_openpbs_toml(tc_env, openpbs_env(), default="pbs")
    read_only = (config.replace("[clusters.slurm]\n", "[clusters.slurm]\nread_only = true\n")
                 .replace("[clusters.pbs]\n", "[clusters.pbs]\nread_only = true\n"))
    assert read_only.count("read_only = true") == 2, read_only
    (tmp_path / "config.toml").write_text(read_only)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "HPCBRIDGE_", "PBS_"))}
    env.update(HPCBRIDGE_CONFIG=str(tmp_path / "config.toml"), HPCBRIDGE_STATE_DIR=str(tmp_path / "state"),
               HPCBRIDGE_TOOLSETS="all")
    log = tmp_path / "server.log"
    jobs: dict[str, str] = {}
    try:
        for cluster in ("slurm", "pbs"):
            job = await call(mcp_pbs, "submit_job", cluster=cluster, script_content="sleep 300", partition="gpu",
                             job_name=f"hpb_stats_ro_{os.urandom(3).hex()}", gpus=1, time_limit="10")
            jobs[cluster] = job["job_id"]
        for cluster, job_id in jobs.items():
            await _running(mcp_pbs, job_id, cluster=cluster)
        transport = StdioTransport(command=hpcbridge_executable(), args=["serve"], env=env, keep_alive=False,
                                   log_file=log)
        async with Client(transport, timeout=200) as looker:
            answers = {c: await call(looker, "get_job_stats", job_id=j, cluster=c) for c, j in jobs.items()}
    finally:
        for cluster, job_id in jobs.items():
            await call(mcp_pbs, "cancel_job", job_id=job_id, cluster=cluster)
    for cluster, stats in answers.items():
        assert stats["state"] == "RUNNING" and stats["gpu_source"] == "" and stats["gpu_count"] == 0, stats
        assert stats["nodes"] and all(n["gpus"] == [] and n["note"] == "GPU use not read on a read_only cluster"
                                      for n in stats["nodes"]), stats
        assert stats["notes"][0].startswith("read_only = true: nothing is started inside the job"), stats
    assert answers["slurm"]["cpu_source"] == "sstat", answers["slurm"]
    assert any(s["step"].endswith(".batch") for s in answers["slurm"]["steps"]), answers["slurm"]
    assert answers["pbs"]["cpu_source"] == "qstat -f resources_used", answers["pbs"]
    audit = log.read_text()
    assert f"sstat -a -j {jobs['slurm']}" in audit, audit[-3000:]  # the log does hold the commands run
    assert "srun --jobid" not in audit and "pbs_attach" not in audit, audit[-3000:]


@pytest.fixture(scope="module")
def dashboard_url(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("stats-dashboard")
    env = server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_STATE_DIR=str(home / "state"))
    proc, url = start_http_server(env)
    yield url
    log = stop_and_read_log(proc)
    assert "Traceback" not in log, log[-3000:]


async def test_job_page_charts_the_gpus_while_it_is_open(dashboard_url: str, tc_env: dict[str, str]) -> None:
    """Chromium on the job page of a running 2-GPU job: the part's stream shows the stand-in's values in its
    table and uPlot draws one utilization and one memory line per GPU of the job."""
    playwright = pytest.importorskip("playwright.async_api", reason="pip install -e '.[test]' brings playwright")
    base = dashboard_url.removesuffix("/mcp")
    async with Client(StreamableHttpTransport(dashboard_url, auth=HTTP_TOKEN), timeout=120) as agent:
        job = await call(agent, "submit_job", script_content="sleep 300", job_name=f"hpb_stats_page_{os.urandom(3).hex()}",
                         partition="gpu", gpus=2, time_limit="10")
        job_id, node, indices = job["job_id"], "", []
        try:
            details = await _running(agent, job_id)
            node, indices = details["job"]["node_list"], _indices(details["gpu_indices"])
            values = {i: _values() for i in indices}
            for i, v in values.items():
                _write(tc_env, node, i, v)
            async with playwright.async_playwright() as p:
                browser = await p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                                  args=["--no-sandbox"])
                tab = await (await browser.new_context(viewport={"width": 1440, "height": 900})).new_page()
                await tab.goto(base + "/")
                await tab.fill("input[name=token]", HTTP_TOKEN)
                await tab.click("button:has-text('Log in')")
                await tab.goto(f"{base}/job/default/{job_id}")
                rows = tab.locator("#job-stats-now table.gpu-stats tbody tr")
                await playwright.expect(rows).to_have_count(2, timeout=30_000)
                for row, i in zip(await rows.all(), indices, strict=True):
                    cells = await row.locator("td").all_inner_texts()
                    assert cells[:4] == [node, str(i), "NVIDIA A100-SXM4-80GB", str(values[i]["utilization.gpu"])], cells
                legend = tab.locator("#job-stats-util .u-legend")
                await playwright.expect(legend).to_contain_text(f"GPU {node}:{indices[1]} %", timeout=30_000)
                await playwright.expect(tab.locator("#job-stats-mem .u-legend")).to_contain_text(
                    f"GPU {node}:{indices[0]} GiB")
                await tab.screenshot(path=str(ROOT / "docs" / "screenshots" / "job-gpu-stats.png"))
                await browser.close()
        finally:
            await call(agent, "cancel_job", job_id=job_id)
            if node:
                _clear(tc_env, node, indices)
