"""Every tool, through a real MCP client, over stdio and over HTTP; and a server that outlives sshd."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from ..conftest import ROOT, TC_DIR
from .conftest import call, wait_final

pytestmark = pytest.mark.cluster


@pytest.fixture(params=["stdio", "http", "openssh"])
def client(request: pytest.FixtureRequest) -> Client:
    return request.getfixturevalue({"stdio": "mcp", "http": "mcp_http", "openssh": "mcp_openssh"}[request.param])


async def test_every_tool_answers(client: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    seen: set[str] = set()

    async def use(tool: str, **args: Any) -> dict[str, Any]:
        seen.add(tool)
        return await call(client, tool, **args)

    assert (await use("get_cluster_status"))["cluster"] == "default"
    assert {p["name"] for p in (await use("get_partition_info", partition_name="gpu"))["partitions"]} == {"gpu"}
    nodes = await use("get_node_info", partition="gpu")
    assert nodes["total"] == 2 and {n["name"] for n in nodes["items"]} == {"gpu1", "gpu2"}
    assert (await use("get_node_info", node_name="cpu1"))["items"][0]["gpus"] == []
    assert (await use("get_gpu_info", gpu_type="a100"))["by_type"] == {"a100": 8}
    assert (await use("get_gpu_availability", partition="gpu"))["pools"][0]["partition"] == "gpu"
    job = await use("submit_job", script_content="echo tour", hold=True, time_limit="5", job_name=f"tour-{tag}")
    listed = await use("list_jobs", user="me", state="HELD")
    assert job["job_id"] in {j["job_id"] for j in listed["items"]} or listed["next_offset"] is not None
    assert (await use("get_job_details", job_id=job["job_id"]))["job"]["state"] == "HELD"
    await use("hold_job", job_id=job["job_id"])
    assert (await use("modify_job", job_id=job["job_id"], time_limit="6"))["changed"] == {"time_limit": "6"}
    assert (await use("get_job_details", job_id=job["job_id"]))["job"]["time_limit"] == "00:06:00"  # scontrol's form
    await use("release_job", job_id=job["job_id"])
    await wait_final(client, job["job_id"])
    out = await use("read_job_output", job_id=job["job_id"])
    assert out["content"] == "tour\n"
    assert (await use("diagnose_job", job_id=job["job_id"]))["cause"] == "completed"
    waited = await use("wait_for_job", job_id=job["job_id"], timeout=30)
    assert waited["wait"]["state"] == "COMPLETED"
    assert (await use("recommend_submission", gpus=1, time_limit="10"))["best"]["feasible"]
    victim = await use("submit_job", script_content="sleep 120", time_limit="5", job_name=f"tour-{tag}")
    await use("cancel_job", job_id=victim["job_id"])
    assert (await wait_final(client, victim["job_id"]))["job"]["state"] == "CANCELLED"
    history = await use("get_job_history", job_id=job["job_id"])
    assert history["total"] <= 1
    assert (await use("get_job_summary", user="me"))["total"] >= 0
    uploaded = await use("upload_file", content="line1\nline2\n", remote_path=f"tour/hpcb-tour-{tag}.txt",
                         make_dirs=True)
    assert uploaded["path"].endswith(f"/tour/hpcb-tour-{tag}.txt")
    assert (await use("read_job_output", file_path=uploaded["path"], head_lines=1))["content"] == "line1\n"
    dirs = await use("get_cluster_directories")
    assert {d["kind"] for d in dirs["directories"]} >= {"datasets", "models", "logs"}
    written = await use("write_file", path=f"tour-{tag}/notes.txt", content="a\n", directory_type="results")
    await use("write_file", path=f"tour-{tag}/notes.txt", content="b\n", directory_type="results", append=True)
    assert (await use("read_file", path=written["path"]))["content"] == "a\nb\n"
    assert (await use("get_file_info", path=f"tour-{tag}", directory_type="results"))["type"] == "directory"
    assert (await use("list_directory", path=f"tour-{tag}", directory_type="results"))["total"] == 1
    assert (await use("list_results", experiment_name=f"tour-{tag}"))["total"] == 1
    assert (await use("find_files", pattern="notes.txt", directory_type="results"))["total"] >= 1
    assert "total" in await use("list_datasets")
    assert "total" in await use("list_model_checkpoints")
    assert "entries" in await use("list_job_logs", recent=5)
    assert (await use("get_disk_usage", directory_type="results"))["usage"][0]["kind"] == "results"
    images = await use("list_container_images", pattern="pytorch*")
    assert images["images"][0]["name"] == "pytorch-24.01.sqsh"
    assert (await use("validate_container_image", image_path=images["images"][0]["path"]))["valid"] is True
    await use("delete_file", path=f"tour-{tag}", directory_type="results", recursive=True, confirm=True)
    shot = await use("run_interactive_command", command="echo one-shot", partition="cpu", time_limit="0:05:00")
    assert shot["stdout"] == "one-shot\n"
    await use("save_interactive_profile", profile_name=f"tour-{tag}", partition="cpu", time_limit="0:05:00")
    assert f"tour-{tag}" in {p["name"] for p in (await use("list_interactive_profiles"))["profiles"]}
    assert (await use("get_interactive_profile", profile_name=f"tour-{tag}"))["settings"]["partition"] == "cpu"
    session = await use("start_session_from_profile", profile_name=f"tour-{tag}")
    assert (await use("exec_in_session", session_id=session["session_id"], command="echo in"))["stdout"] == "in\n"
    assert session["session_id"] in {x["session_id"] for x in (await use("list_interactive_sessions"))["sessions"]}
    assert (await use("get_interactive_session_info", session_id=session["session_id"]))["status"] == "active"
    assert (await use("end_interactive_session", session_id=session["session_id"]))["status"] == "ended"
    await use("delete_interactive_profile", profile_name=f"tour-{tag}")
    direct = await use("start_interactive_session", partition="cpu", time_limit="0:05:00")
    await use("end_interactive_session", session_id=direct["session_id"])
    if "run_shell_command" in {t.name for t in await client.list_tools()}:  # the HTTP server turns it on
        seen.update({"run_shell_command", "run_script"})
        with pytest.raises(ToolError, match="allowlist"):  # the interpreter is not on the allowlist
            await call(client, "run_script", script="echo hi", interpreter="bash")
        shell = await call(client, "run_shell_command", command="echo 'a b' '$(id)'")
        assert shell["stdout"] == "a b $(id)\n" and shell["exit_status"] == 0  # no shell under an allowlist
        with pytest.raises(ToolError, match="not in this cluster's shell_allowlist"):
            await call(client, "run_shell_command", command="id")
    else:  # shell off on every cluster: a tool that can only refuse is not listed
        with pytest.raises(ToolError, match="Unknown tool"):
            await call(client, "run_shell_command", command="id")
    await _watch_and_account_tour(use, client, tag)
    await _config_tour(use)
    await _history_tour(use, job["job_id"], tag)
    await _jupyter_tour(use, tag)
    served = {t.name for t in await client.list_tools()}
    assert seen == served, f"not exercised: {served - seen}"


async def _watch_and_account_tour(use: Any, client: Client, tag: str) -> None:
    """The watch and account toolsets (tests/e2e/test_watch_*.py and test_account_*.py go deeper): a running
    1-GPU job whose output is one JSON line, and a metric log uploaded beside it."""
    script = 'echo \'{"step": 1, "loss": 0.5}\'\nsleep 120\n'
    job = await use("submit_job", script_content=script, partition="gpu", gpus=1, time_limit="5",
                    job_name=f"tour-{tag}")
    try:
        await call(client, "wait_for_job", job_id=job["job_id"], until="running", timeout=90)
        stats = await use("get_job_stats", job_id=job["job_id"])
        assert sum(len(n["gpus"]) for n in stats["nodes"]) == 1, stats  # the stand-in nvidia-smi, its one GPU
        for _ in range(30):  # the line is in the file once the job's first command ran
            page = await use("read_log", job_id=job["job_id"])
            if "loss" in page["text"]:
                break
            await asyncio.sleep(1)
        assert page["text"] == '{"step": 1, "loss": 0.5}\n', page
        assert (await use("search_log", job_id=job["job_id"], pattern="loss"))["hits"][0]["line"] == 1
        records = await use("read_log_records", job_id=job["job_id"], fields=["loss"])
        assert records["records"] == [{"_line": 1, "loss": 0.5}], records
        assert any(f["path"] == page["path"] for f in (await use("list_log_files", job_id=job["job_id"]))["files"])
        metrics = await use("upload_file", content='{"step": 0, "loss": 1.0}\n{"step": 1, "loss": 0.5}\n',
                            remote_path=f"tour/metrics-{tag}.jsonl", make_dirs=True)
        found = await use("get_job_metrics", paths=[metrics["path"]], chart_png=False)
        assert {s["name"]: s["last"] for s in found["series"]} == {"loss": 0.5}, found
        assert (await use("get_job_priority", job_id=job["job_id"]))["priority"] is None  # running: no rank
    finally:
        await call(client, "cancel_job", job_id=job["job_id"])
    assert (await use("get_fairshare"))["user"] == "alice"
    assert "AssocGrpGRES" in {limit["reason"] for limit in (await use("get_limits"))["limits"]}
    assert "lfs quota" in (await use("get_quotas"))["sources"]
    assert "alice" in {u["name"] for u in (await use("get_team_usage"))["users"]}
    assert [c["name"] for c in (await use("list_clusters"))["clusters"]] == ["default"]


async def _config_tour(use: Any) -> None:
    """The config toolset reads freely; every change here is one the editor refuses before writing, so the
    tour never touches a real config file (tests/e2e/test_config_tools.py changes one)."""
    assert (await use("get_cluster_config", cluster="default"))["name"] == "default"
    assert "settings" in await use("list_settings")
    for tool, args in (("add_cluster_config", {"cluster": "tour", "values": {"port": "not-a-port"}}),
                       ("update_cluster_config", {"cluster": "no-such-cluster", "values": {"port": 22}}),
                       ("remove_cluster_config", {"cluster": "no-such-cluster"}),
                       ("set_setting", {"key": "no_such_setting", "value": "1"})):
        with pytest.raises(ToolError):
            await use(tool, **args)


async def _history_tour(use: Any, job_id: str, tag: str) -> None:
    """The history toolset: the recorder has been running since the first call of this tour."""
    for _ in range(60):
        found = await use("search_history", text=f"tour-{tag}", state=["COMPLETED"])
        if job_id in {j["job_id"] for j in found["items"]}:
            break
        await asyncio.sleep(2)
    else:
        raise AssertionError(f"job {job_id} never reached the history")
    assert (await use("get_history_job", job_id=job_id))["job"]["state"] == "COMPLETED"
    assert job_id in {j["job_id"] for j in (await use("get_run", name=f"tour-{tag}"))["jobs"]["items"]}
    assert "total" in await use("list_projects")
    assert (await use("get_gpu_usage_history", days=1))["cluster"] == "default"
    assert "default" in {c["cluster"] for c in (await use("get_history_summary"))["clusters"]}
    held = await use("submit_job", script_content="sleep 60", hold=True, time_limit="5", job_name=f"tour-{tag}")
    assert (await use("cancel_jobs", job_ids=[held["job_id"]], confirm=True))["cancelled"] == [held["job_id"]]
    entry = await use("create_logbook_entry", project="tour", title=f"tour {tag}", body=f"ran @tour-{tag}")
    assert (await use("read_logbook_entry", entry_id=entry["id"]))["runs"] == [f"tour-{tag}"]
    await use("update_logbook_entry", entry_id=entry["id"], body=f"quokka {tag}")
    assert [e["id"] for e in (await use("search_logbook", text=f"quokka {tag}"))["items"]] == [entry["id"]]
    assert [e["id"] for e in (await use("bulk_read_logbooks", entry_ids=[entry["id"]]))["entries"]] == [entry["id"]]
    await use("delete_logbook_entry", entry_id=entry["id"], confirm=True)
    assert "dismissed" in await use("clear_finished", only_failed=True, confirm=True)
    assert (await use("cleanup_history", older_than_days=3650))["dry_run"]  # nothing is that old: a dry run
    assert (await use("backup_history"))["path"].endswith(".sqlite3")


async def _jupyter_tour(use: Any, tag: str) -> None:
    """The jupyter toolset (tests/e2e/test_jupyter.py goes deeper): a CPU server, one notebook, every tool."""
    nb = f"tour-{tag}"
    session = await use("start_kernel_session", notebook=nb, partition="cpu", time_limit="0:10:00")
    assert (await use("execute_code", notebook=nb, code="a = 20\na + 1"))["text"].strip() == "21"
    assert (await use("execute_scratch_code", notebook=nb, code="a * 2"))["text"].strip() == "40"
    await use("add_notebook_cell", notebook=nb, source="a + 2", cell_type="code")
    await use("edit_notebook_cell", notebook=nb, cell_index=1, source="a + 3")
    assert (await use("rerun_notebook_cell", notebook=nb, cell_index=1))["text"].strip() == "23"
    assert (await use("read_notebook", notebook=nb))["total"] == 2
    await use("delete_notebook_cell", notebook=nb, cell_index=1)
    again = await use("run_all_cells", notebook=nb)  # the saved cell, re-run in order
    assert again["completed"] and [c["status"] for c in again["ran"]] == ["ok"], again
    assert [s["notebook"] for s in (await use("list_kernel_sessions"))["sessions"]] == [nb]
    await use("interrupt_kernel", notebook=nb)
    await use("restart_kernel", notebook=nb)
    await use("shutdown_kernel_session", notebook=nb)
    assert (await use("stop_jupyter_server"))["job_id"] == session["job_id"]


@pytest.mark.skipif(os.geteuid() != 0, reason="restarting the test cluster's sshd needs root")
async def test_server_survives_an_sshd_restart(mcp: Client, tc_env: dict[str, str]) -> None:
    assert (await call(mcp, "list_jobs", limit=1))["total"] >= 0
    sshd = (TC_DIR / "sshd.pid").read_text().strip()
    # its connections first (children of this sshd only: the two-factor sshd's sessions, which the session's
    # OpenSSH master rides for later tests, stay), then the listener
    await asyncio.to_thread(subprocess.run, ["pkill", "-P", sshd], check=False)
    await asyncio.to_thread(subprocess.run, ["kill", sshd], check=True)
    await asyncio.sleep(0.5)
    await asyncio.to_thread(subprocess.run, ["bash", str(ROOT / "testcluster" / "cluster.sh"), "up"], check=True,
                            capture_output=True)
    # the same hpcbridge process; sacct is never cached, so this really runs over a new SSH connection
    history = await call(mcp, "get_job_history", limit=1)
    assert history["total"] >= 1
