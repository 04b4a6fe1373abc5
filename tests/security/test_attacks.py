"""The outside review's attacks (issue 10), each replayed live: test cluster, real MCP client, real sbatch."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.exceptions import ToolError

from ..e2e.conftest import (
    as_cluster_user,
    call,
    post_status,
    server_env,
    start_http_server,
    stop_and_read_log,
)
from .conftest import client_with

pytestmark = pytest.mark.cluster

RESULTS = "/lustre/users/alice/results"


# --- 2. HTTP transport ------------------------------------------------------------------------------------
def _post(url: str, headers: dict[str, str]) -> int:
    return post_status(url, headers, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                                    "clientInfo": {"name": "evil", "version": "1"}})


def test_dns_rebinding_is_refused_and_a_token_is_generated(tc_env: dict[str, str], tmp_path: Path) -> None:
    """The review's request: Host evil.example:8799 + Origin http://evil.example:8799, no token configured."""
    proc, url = start_http_server(server_env(tc_env, HPCBRIDGE_STATE_DIR=str(tmp_path)))
    try:
        token_file = tmp_path / "http-token"
        deadline = time.monotonic() + 10
        while not token_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        token = token_file.read_text().strip()
        assert len(token) >= 32 and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        port = url.split(":")[2].split("/")[0]
        evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        assert _post(url, evil) in (401, 421)  # no token: refused either way
        assert _post(url, {**evil, "Authorization": f"Bearer {token}"}) == 421  # Host checked
        assert _post(url, {"Origin": f"http://evil.example:{port}", "Authorization": f"Bearer {token}"}) == 403
        assert _post(url, {}) == 401  # loopback without a token: every local user is not the owner
        assert _post(url, {"Authorization": f"Bearer {token}"}) == 200
        assert _post(url, {"Origin": f"http://127.0.0.1:{port}", "Authorization": f"Bearer {token}"}) == 200
    finally:
        log = stop_and_read_log(proc, 20)
    assert str(token_file) in log and token not in log  # where it is, never what it is


@pytest.mark.parametrize(("args", "env", "words"), [
    (["--token", "x" * 40], {}, "would show the token to every user in `ps`"),
    ([], {"HPCBRIDGE_HTTP_TOKEN": "short-token"}, "at least 32"),
])
def test_tokens_from_the_command_line_or_too_short_are_refused(tc_env: dict[str, str], args: list[str],
                                                               env: dict[str, str], words: str) -> None:
    from ..e2e.conftest import hpcbridge_executable

    result = subprocess.run([hpcbridge_executable(), "serve", "--transport", "http", "--port", "0", *args],
                            env=server_env(tc_env, **env), capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and words in result.stderr


async def test_named_tokens_are_principals_that_own_sessions_and_profiles(tc_env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    tokens = {}
    for name in ("ana", "bob"):
        tokens[name] = f"{name}-" + os.urandom(20).hex()
        (tmp_path / f"{name}.token").write_text(tokens[name])
        (tmp_path / f"{name}.token").chmod(0o600)
    (tmp_path / "hpcbridge.toml").write_text(
        "".join(f'[[http.tokens]]\nname = "{n}"\ntoken_file = "{tmp_path / (n + ".token")}"\n' for n in tokens))
    state = tmp_path / "state"
    proc, url = start_http_server(server_env(tc_env, HPCBRIDGE_CONFIG=str(tmp_path / "hpcbridge.toml"),
                                             HPCBRIDGE_STATE_DIR=str(state)))
    try:
        async with Client(StreamableHttpTransport(url, auth=tokens["ana"]), timeout=120) as ana, \
                Client(StreamableHttpTransport(url, auth=tokens["bob"]), timeout=120) as bob:
            await call(ana, "save_interactive_profile", profile_name="anas", partition="cpu")
            names = {p["name"] for p in (await call(bob, "list_interactive_profiles"))["profiles"]}
            assert "anas" not in names and "cpu-only" in names  # bob sees the built-ins, not ana's
            session = await call(ana, "start_interactive_session", session_name="mine", partition="cpu",
                                 time_limit="0:05:00", wait_timeout=60)
            try:
                for tool, extra in (("get_interactive_session_info", {}), ("exec_in_session", {"command": "id"}),
                                    ("end_interactive_session", {})):
                    with pytest.raises(ToolError, match="no session"):
                        await call(bob, tool, session_id=session["session_id"], **extra)
                assert (await call(bob, "list_interactive_sessions"))["sessions"] == []
                out = await call(ana, "exec_in_session", session_id="mine", command="echo ok")
                assert out["stdout"].strip() == "ok"
            finally:
                await call(ana, "end_interactive_session", session_id="mine")
    finally:
        log = stop_and_read_log(proc, 30)
    assert "principal=ana" in log and "srun" in log  # the audit log names who ran what
    assert tokens["ana"] not in log and tokens["bob"] not in log


# --- 3. File sandbox --------------------------------------------------------------------------------------
async def test_trailing_whitespace_cannot_reach_a_symlinked_key(tc_env: dict[str, str]) -> None:
    """`a ` (a file) beside `a -> ~/.ssh/authorized_keys`: read_file("a ") reads `a `, never the key; the same
    through a parent directory whose name ends in a blank, for append and delete."""
    tag = uuid.uuid4().hex[:8]
    as_cluster_user(tc_env, 'cd "$1" && mkdir -p "t$2" && cd "t$2" && printf harmless > "a " && '
                    'ln -s "$HOME/.ssh/authorized_keys" a && mkdir "d " && ln -s "$HOME/.ssh" d', RESULTS, tag)
    key_before = as_cluster_user(tc_env, 'cat "$HOME/.ssh/authorized_keys"')
    async with client_with(tc_env) as mcp:
        got = await call(mcp, "read_file", path=f"t{tag}/a ", directory_type="results")
        assert got["content"] == "harmless" and got["path"].endswith("/a ")
        await call(mcp, "write_file", path=f"t{tag}/d /authorized_keys", content="ssh-ed25519 EVIL",
                   directory_type="results", append=True)
        await call(mcp, "delete_file", path=f"t{tag}/d /authorized_keys", directory_type="results", confirm=True)
        with pytest.raises(ToolError, match="credential or private|private dot"):
            await call(mcp, "read_file", path=f"t{tag}/a", directory_type="results")  # the symlink itself
        await call(mcp, "delete_file", path=f"t{tag}", directory_type="results", recursive=True, confirm=True)
    assert as_cluster_user(tc_env, 'cat "$HOME/.ssh/authorized_keys"') == key_before


@pytest.mark.parametrize(("tool", "args"), [
    ("write_file", {"path": "/home/alice/.bashrc.d/evil.sh", "content": "touch /tmp/x"}),
    ("write_file", {"path": "/home/alice/.bash_aliases", "content": "alias ls=x"}),
    ("write_file", {"path": "/home/alice/.zshenv", "content": "x"}),
    ("write_file", {"path": "/home/alice/.config/fish/config.fish", "content": "x"}),
    ("write_file", {"path": "/home/alice/.gitconfig", "content": "x"}),
    ("write_file", {"path": "/lustre/users/alice/Projects/venv/lib/python3.11/site-packages/evil.pth", "content": "x"}),
    ("read_file", {"path": "/home/alice/.config/gh/hosts.yml"}),
    ("read_file", {"path": "/home/alice/.cache/huggingface/token"}),
    ("read_file", {"path": "/home/alice/.pypirc"}),
    ("read_file", {"path": "/home/alice/.config/enroot/.credentials"}),
    ("read_file", {"path": "/home/alice/.config/hpcbridge/config.toml"}),
    ("list_directory", {"path": "/home/alice/.config"}),
    ("delete_file", {"path": "/home/alice/.profile", "confirm": True}),
])
async def test_dot_files_of_the_home_and_named_secrets_are_private(tc_env: dict[str, str], tool: str,
                                                                   args: dict[str, object]) -> None:
    async with client_with(tc_env) as mcp:
        with pytest.raises(ToolError, match="private|credential"):
            await call(mcp, tool, **args)


async def test_home_listing_hides_dot_entries_and_recursive_delete_checks_inside(tc_env: dict[str, str]) -> None:
    tag = uuid.uuid4().hex[:8]
    as_cluster_user(tc_env, 'mkdir -p "$1/c$2/.config/gcloud" && echo t > "$1/c$2/.config/gcloud/creds"', RESULTS, tag)
    async with client_with(tc_env) as mcp:
        listing = await call(mcp, "list_directory", path="/home/alice")
        assert not [e for e in listing["entries"] if e["name"].startswith(".")]
        with pytest.raises(ToolError, match="protects"):
            await call(mcp, "delete_file", path=f"c{tag}", directory_type="results", recursive=True, confirm=True)
    assert as_cluster_user(tc_env, 'cat "$1/c$2/.config/gcloud/creds"', RESULTS, tag).strip() == "t"
    as_cluster_user(tc_env, 'rm -rf "$1/c$2"', RESULTS, tag)


async def test_images_inside_a_writable_root_stay_read_only(tc_env: dict[str, str]) -> None:
    as_cluster_user(tc_env, 'mkdir -p "$1/images" && printf hsqs > "$1/images/x.sqsh"', "/lustre/users/alice")
    async with client_with(tc_env, SLURM_IMAGE_DIR="/lustre/users/alice/images") as mcp:
        for tool, args in (("write_file", {"path": "images/x.sqsh", "content": "swapped"}),
                           ("delete_file", {"path": "images/x.sqsh", "confirm": True}),
                           ("upload_file", {"remote_path": "/lustre/users/alice/images/y.sqsh", "content": "x"})):
            with pytest.raises(ToolError, match="read-only images"):
                await call(mcp, tool, **args)
    assert as_cluster_user(tc_env, 'cat "$1/images/x.sqsh"', "/lustre/users/alice") == "hsqs"


async def test_encodings_are_a_short_list(tc_env: dict[str, str]) -> None:
    async with client_with(tc_env) as mcp:
        with pytest.raises(ToolError, match="encoding.*utf-8, utf-16, latin-1"):
            await call(mcp, "read_file", path="/etc/hostname", encoding="punycode")


# --- 4. Policy --------------------------------------------------------------------------------------------
POLICY = '[clusters.default.policy]\nallowed_partitions = ["cpu"]\nmax_gpus = 1\nmax_time = "00:10:00"\n'
ATTACK = "#SBATCH --partition=gpu\n#SBATCH --gres=gpu:a100:4\n#SBATCH --time=20:00:00\nsleep 30"


async def test_sbatch_lines_in_the_script_cannot_pass_policy(tc_env: dict[str, str], tmp_path: Path) -> None:
    async with client_with(tc_env, POLICY, tmp_path) as mcp:
        before = (await call(mcp, "list_jobs", user="me", state="all"))["total"]
        with pytest.raises(ToolError, match="conflicts with the script's line 1"):  # the review's exact call
            await call(mcp, "submit_job", partition="cpu", time_limit="00:05:00", script_content=ATTACK)
        for script in (ATTACK, "#!/bin/bash\n#SBATCH --part=gpu\nsleep 30",
                       "#!/bin/bash\n#SBATCH -t 20:00:00\nsleep 30", "#!/bin/bash\n#SBATCH -G 4\nsleep 30",
                       "#!/bin/bash\n#SBATCH --gres=gpu:a100:4\nsleep 30"):
            with pytest.raises(ToolError, match="policy"):
                await call(mcp, "submit_job", script_content=script)
        with pytest.raises(ToolError, match="#PBS directive"):
            await call(mcp, "submit_job", script_content="#!/bin/bash\n#PBS -q gpu\nsleep 30", partition="cpu")
        with pytest.raises(ToolError, match="another cluster"):
            await call(mcp, "submit_job", script_content="#!/bin/bash\n#SBATCH -M other\nsleep 30")
        after = (await call(mcp, "list_jobs", user="me", state="all"))["total"]
        assert after == before
    async with client_with(tc_env) as mcp:  # no policy: a conflict is still refused, naming both
        with pytest.raises(ToolError, match="partition='cpu' conflicts with the script's line 1"):
            await call(mcp, "submit_job", partition="cpu", time_limit="00:05:00", script_content=ATTACK)
        shown = await call(mcp, "submit_job", script_content=ATTACK, test_only=True)
        assert shown["partition"] == "gpu" and "#SBATCH --gres=gpu:a100:4" in shown["script"]
        assert "partition=gpu (line 1)" in shown["from_script"]
        job = await call(mcp, "submit_job", script_content="#!/bin/bash\n#SBATCH -t 3 --mail-type=NONE\necho hi",
                         env={"A": "1"}, hold=True, job_name="directive-kept")
        details = await call(mcp, "get_job_details", job_id=job["job_id"])
        assert details["job"]["time_limit"] in ("00:03:00", "3:00")  # the script's own limit was applied
        await call(mcp, "cancel_job", job_id=job["job_id"])


async def test_code_running_tools_are_destructive_and_read_only_clusters_only_look(tc_env: dict[str, str]) -> None:
    async with client_with(tc_env, SLURM_ALLOW_SHELL="true") as mcp:  # else run_shell_command is not listed
        tools = {t.name: t for t in await mcp.list_tools()}
        for name in ("submit_job", "run_interactive_command", "exec_in_session", "run_shell_command"):
            assert tools[name].annotations.destructive_hint is True, name
    async with client_with(tc_env, SLURM_READ_ONLY="true") as mcp:
        names = {t.name for t in await mcp.list_tools()}
        assert not names & {"submit_job", "cancel_job", "write_file", "delete_file", "start_interactive_session",
                            "run_interactive_command", "upload_file", "hold_job"}
        assert (await call(mcp, "list_jobs"))["total"] >= 0


# --- 5. Faults --------------------------------------------------------------------------------------------
def _sshd_tree(tc_env: dict[str, str]) -> list[int]:
    """The no-SFTP sshd (port 2223, used only here) and its per-connection children."""
    pid = int(Path("/var/lib/hpcbridge-testcluster/sshd-nosftp.pid").read_text())
    # pgrep exits 1 when a process has no children: an empty list, not an error
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    grand = [c for p in children for c in subprocess.run(["pgrep", "-P", p], capture_output=True, text=True,
                                                         check=False).stdout.split()]
    return [pid, *map(int, children), *map(int, grand)]


async def test_a_hung_connection_fails_within_the_timeout_and_recovers(tc_env: dict[str, str]) -> None:
    env = {"SLURM_SSH_PORT": "2223", "SLURM_COMMAND_TIMEOUT": "4"}
    async with client_with(tc_env, **env) as mcp:
        assert (await call(mcp, "list_jobs", user="me"))["total"] >= 0
        pids = _sshd_tree(tc_env)
        for pid in pids:
            os.kill(pid, 19)  # SIGSTOP: the peer accepts nothing and answers nothing
        try:
            started = time.monotonic()
            with pytest.raises(ToolError, match="did not|within"):
                await call(mcp, "get_partition_info")
            assert time.monotonic() - started < 4 + 1.5
        finally:
            for pid in pids:
                os.kill(pid, 18)  # SIGCONT
        assert (await call(mcp, "get_partition_info"))["partitions"]


async def test_one_cluster_down_does_not_fail_a_cross_cluster_answer(tc_env: dict[str, str], tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts TCP, never speaks SSH
    port = silent.getsockname()[1]
    toml = (f'[clusters.dead]\nhost = "127.0.0.1"\nport = {port}\nuser = "alice"\nconnect_timeout = 3\n'
            f'known_hosts = "{tc_env["SLURM_SSH_KNOWN_HOSTS"]}"\n')
    log = tmp_path / "server.log"
    try:
        async with client_with(tc_env, toml, tmp_path, log_file=log) as mcp:
            started = time.monotonic()
            answer = await call(mcp, "recommend_submission", gpus=1)
            assert time.monotonic() - started < 30
            assert answer["best"] and answer["best"]["cluster"] == "default"
            assert [u["cluster"] for u in answer["unreachable"]] == ["dead"]
            assert "127.0.0.1" in answer["unreachable"][0]["why"] or "no answer" in answer["unreachable"][0]["why"]
    finally:
        silent.close()
    assert "never awaited" not in log.read_text()


async def test_a_stopped_controller_is_named_and_calls_work_again(tc_env: dict[str, str]) -> None:
    pid_file = Path("/var/lib/hpcbridge-testcluster/slurmctld.pid")
    async with client_with(tc_env, SLURM_COMMAND_TIMEOUT="40") as mcp:
        os.kill(int(pid_file.read_text()), 15)
        try:
            await asyncio.sleep(2)
            with pytest.raises(ToolError, match="slurmctld"):
                await call(mcp, "get_partition_info")
        finally:
            root = Path(__file__).resolve().parents[2]
            await asyncio.to_thread(subprocess.run, ["bash", str(root / "testcluster" / "cluster.sh"), "up"],
                                    check=True, timeout=180, capture_output=True)
        assert (await call(mcp, "get_partition_info"))["partitions"]


async def test_parallel_session_starts_cannot_pass_max_sessions(tc_env: dict[str, str], tmp_path: Path) -> None:
    """Ten parallel start_interactive_session calls with max_sessions = 2: the check and the insert are one step."""

    async with client_with(tc_env, "[clusters.default]\nmax_sessions = 2\n", tmp_path) as mcp:
        async def start(i: int) -> str:
            try:
                await call(mcp, "start_interactive_session", session_name=f"par{i}", partition="cpu",
                           time_limit="0:05:00", wait_timeout=60)
                return "started"
            except ToolError as exc:
                return str(exc)

        outcomes = await asyncio.gather(*(start(i) for i in range(10)))
        try:
            assert outcomes.count("started") == 2, outcomes
            assert all("max_sessions = 2" in o for o in outcomes if o != "started")
        finally:
            for s in (await call(mcp, "list_interactive_sessions"))["sessions"]:
                if s["status"] != "ended":
                    await call(mcp, "end_interactive_session", session_id=s["session_id"])


@pytest.mark.parametrize("args", [
    {"partition": "cpu --gres=gpu:4"}, {"partition": "cpu,gpu"}, {"gpu_type": "a100 --partition=gpu"},
    {"account": "x -M other"}, {"container_mounts": "/:/host --container-image=/tmp/x.sqsh",
                                "container_image": "default"},
    {"time_limit": "0:05:00 --time=20:00:00"}, {"gpus_per_node": 4},
])
async def test_interactive_options_cannot_be_smuggled_past_policy(tc_env: dict[str, str], tmp_path: Path,
                                                                  args: dict[str, object]) -> None:
    async with client_with(tc_env, POLICY, tmp_path) as mcp:
        with pytest.raises(ToolError, match="invalid|policy|not allowed"):
            await call(mcp, "run_interactive_command", command="true", **{"partition": "cpu", **args})


async def test_listings_are_cut_on_the_cluster(tc_env: dict[str, str]) -> None:
    """20,001 entries at most cross the connection; the answer says it stopped."""
    tag = uuid.uuid4().hex[:8]
    as_cluster_user(tc_env, 'mkdir -p "$1/big$2" && cd "$1/big$2" && seq 1 20500 | xargs touch', RESULTS, tag)
    try:
        async with client_with(tc_env) as mcp:
            found = await call(mcp, "find_files", pattern="*", directory_type="results", path=f"big{tag}", limit=5)
            assert found["total"] == 20_000 and "stopped at 20000" in found["note"]
    finally:
        as_cluster_user(tc_env, 'rm -rf "$1/big$2"', RESULTS, tag)
