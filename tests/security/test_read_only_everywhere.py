"""Issue 23, items 2 and 6, replayed live through the real front doors on the test cluster.

2. `read_only = true` is enforced in the cluster object, so every door inherits it: the dashboard's job page
   (which only hid its buttons), MCP tools, `hpcbridge call`, history's bulk cancel and TensorPool actions.
   Two clusters point at the same test cluster, one of them read-only, so one job is seen from both: the
   writable one shows that the same request works there; the read-only one refuses it and the job is
   untouched (squeue says so, asked over plain ssh).
6. The audit log names the principal of a dashboard login and of an HTTP MCP resource read, not `local`.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.exceptions import ToolError

from ..e2e.conftest import (
    as_cluster_user,
    call,
    hpcbridge_executable,
    server_env,
    start_http_server,
    stop_and_read_log,
)
from ..tensorpool_engine import Engine

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]
TP_KEY = "tpkey-" + os.urandom(16).hex()
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmlD8SyHbbzrBG/ZB0u5uFVNuw3CAXxRjnNrK6QSlhv me@laptop"
REFUSED = r"cluster '{}' is read-only \(read_only = true\): {} refused"


@dataclass(frozen=True)
class Setup:
    env: dict[str, str]  # the server's environment (HPCBRIDGE_CONFIG names the two-cluster file)
    tokens: dict[str, str]  # principal -> token
    engine: Engine
    job: str  # a pending job (begins in an hour), seen as rw and as ro


@pytest.fixture(scope="module")
def setup(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    home = tmp_path_factory.mktemp("read-only")
    tokens = {name: f"{name}-{os.urandom(20).hex()}" for name in ("carol", "dave", "erin")}
    table = ""
    for name, token in tokens.items():
        (home / name).write_text(token)
        (home / name).chmod(0o600)
        table += f'[[http.tokens]]\nname = "{name}"\ntoken_file = "{home / name}"\n'
    common = (f'scheduler = "slurm"\nhost = "{tc_env["SLURM_SSH_HOST"]}"\nport = {tc_env["SLURM_SSH_PORT"]}\n'
              f'user = "{tc_env["SLURM_SSH_USER"]}"\nkey_path = "{tc_env["SLURM_SSH_KEY_PATH"]}"\n'
              f'known_hosts = "{tc_env["SLURM_SSH_KNOWN_HOSTS"]}"\ndefault_partition = "cpu"\n'
              f'user_root = "{tc_env["SLURM_USER_ROOT"]}"\nallow_shell = true\n')
    engine = Engine(TP_KEY)
    engine.start()
    config = home / "config.toml"
    config.write_text('toolsets = ["all"]\n\n' + table +
                      f'\n[clusters.rw]\ndefault = true\n{common}\n[clusters.ro]\nread_only = true\n{common}\n'
                      f'[clusters.tpro]\nprovider = "tensorpool"\nread_only = true\ncommand_timeout = 3\n'
                      f'tensorpool_engine = "{engine.url}"\n')
    env = server_env(tc_env, HPCBRIDGE_CONFIG=str(config), HPCBRIDGE_STATE_DIR=str(home / "state"),
                     TENSORPOOL_API_KEY=TP_KEY)
    for key in [k for k in env if k.startswith("SLURM_")]:
        del env[key]  # the clusters come from the file
    # submitted over plain ssh, not through hpcbridge: pending for an hour (BeginTime), never started
    job = as_cluster_user(tc_env, 'sbatch --parsable --begin=now+3600 -p cpu -t 5 -J "$1" --wrap "sleep 1"',
                          f"ro-{uuid.uuid4().hex[:6]}").strip().split(";")[0]
    try:
        yield Setup(env, tokens, engine, job)
    finally:
        as_cluster_user(tc_env, 'scancel "$1"', job)
        engine.stop()


@pytest.fixture(scope="module")
def server(setup: Setup) -> Iterator[str]:
    """`hpcbridge serve --transport http`: /mcp and the dashboard; yields the base URL."""
    proc, url = start_http_server(setup.env)
    try:
        yield url.removesuffix("/mcp")
    finally:
        log = stop_and_read_log(proc)
        assert "Traceback" not in log, log[-3000:]


def _queue(tc_env: dict[str, str], job: str) -> tuple[str, str]:
    """(state, reason) of the job as squeue tells the cluster user over plain ssh."""
    state, _, reason = as_cluster_user(tc_env, 'squeue -h -j "$1" -o "%T %r"', job).strip().partition(" ")
    return state, reason


def _held(tc_env: dict[str, str], job: str) -> bool:
    """Held by its user; otherwise the reason is BeginTime, or None until the scheduler's next pass."""
    return _queue(tc_env, job)[1] == "JobHeldUser"


@contextlib.contextmanager
def _login(base: str, token: str) -> Iterator[tuple[httpx.Client, str]]:
    """A dashboard session as a browser gets it: POST /login, the cookie, the page's CSRF token."""
    with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
        yield client, _logged_in(client, token)


def _logged_in(client: httpx.Client, token: str) -> str:
    made = client.post("/login", data={"token": token})
    assert made.status_code == 303, made.text[:500]
    cookie = made.headers["set-cookie"].split(";", 1)[0]
    client.headers["Cookie"] = cookie
    page = client.get("/", headers={"Accept": "text/html"})
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf, page.text[:500]
    return csrf.group(1)


def _act(client: httpx.Client, csrf: str, cluster: str, job: str, action: str) -> str:
    """POST a job action as the job page's form does; the page it sends the browser back to."""
    answer = client.post(f"/job/{cluster}/{job}/{action}", data={"csrf": csrf})
    assert answer.status_code == 303, answer.text[:500]
    return httpx.URL(answer.headers["location"]).params.get("error") or answer.headers["location"]


def test_dashboard_job_actions_on_a_read_only_cluster_are_refused(setup: Setup, server: str,
                                                                  tc_env: dict[str, str]) -> None:
    """The review's attack: the job page posts cancel / hold / release to a read-only cluster."""
    with _login(server, setup.tokens["carol"]) as (client, csrf):
        assert client.get(f"/job/ro/{setup.job}").status_code == 200  # the read-only side sees the job
        assert _queue(tc_env, setup.job)[0] == "PENDING" and not _held(tc_env, setup.job)
        said = _act(client, csrf, "ro", setup.job, "hold")
        assert re.search(REFUSED.format("ro", f"holding job {setup.job}"), said), said
        assert _queue(tc_env, setup.job)[0] == "PENDING" and not _held(tc_env, setup.job)
        assert _act(client, csrf, "rw", setup.job, "hold").endswith("done=hold")  # the same post works on rw
        assert _queue(tc_env, setup.job) == ("PENDING", "JobHeldUser")
        for action, doing in (("release", "releasing"), ("cancel", "cancelling")):
            said = _act(client, csrf, "ro", setup.job, action)
            assert re.search(REFUSED.format("ro", f"{doing} job {setup.job}"), said), said
            assert _queue(tc_env, setup.job) == ("PENDING", "JobHeldUser")  # still there, still held
        assert _act(client, csrf, "rw", setup.job, "release").endswith("done=release")
        assert _queue(tc_env, setup.job)[0] == "PENDING" and not _held(tc_env, setup.job)


async def test_mcp_tools_and_bulk_cancel_refuse_a_read_only_cluster(setup: Setup, server: str,
                                                                    tc_env: dict[str, str]) -> None:
    marker = f"{tc_env['SLURM_USER_ROOT']}/ro-{uuid.uuid4().hex[:8]}.txt"
    kept = f"{tc_env['SLURM_USER_ROOT']}/ro-kept-{uuid.uuid4().hex[:8]}.txt"
    as_cluster_user(tc_env, 'echo kept > "$1"', kept)
    transport = StreamableHttpTransport(server + "/mcp", auth=setup.tokens["dave"])
    async with Client(transport, timeout=120) as mcp:
        seen = await call(mcp, "get_job_details", job_id=setup.job, cluster="ro")  # looking works
        assert seen["job"]["job_id"] == setup.job
        refusals = [  # (tool, arguments, the action the refusal names)
            ("submit_job", {"script_content": "touch /tmp/never"}, "submitting a job"),
            ("cancel_job", {"job_id": setup.job}, f"cancelling job {setup.job}"),
            ("release_job", {"job_id": setup.job}, f"releasing job {setup.job}"),
            ("cancel_jobs", {"job_ids": [setup.job], "confirm": True}, f"cancelling job {setup.job}"),  # history
            ("start_interactive_session", {"wait_timeout": 5}, r"starting an interactive session"),
            ("run_interactive_command", {"command": "true"}, r"run_interactive_command \(it runs any command\)"),
            ("start_kernel_session", {"notebook": "ro"}, r"starting a Jupyter kernel \(and its server job\)"),
            ("hold_job", {"job_id": setup.job}, f"holding job {setup.job}"),
            ("upload_file", {"content": "x", "remote_path": marker}, f"writing {re.escape(marker)}"),
            ("write_file", {"content": "x", "path": marker}, f"writing {re.escape(marker)}"),
            ("delete_file", {"path": kept, "confirm": True}, f"deleting {re.escape(kept)}"),
            ("run_shell_command", {"command": "true"}, r"run_shell_command \(a command can change anything\)"),
        ]
        for tool, arguments, action in refusals:
            with pytest.raises(ToolError, match=REFUSED.format("ro", action)):
                await call(mcp, tool, cluster="ro", **arguments)
        # a TensorPool account marked read-only: nothing reaches its engine
        for tool, arguments, action in [
            ("tensorpool_cluster_create", {"instance_type": "1xH100", "ssh_public_key": PUBLIC_KEY, "confirm": True},
             "creating a TensorPool cluster"),
            ("tensorpool_cluster_destroy", {"cluster_id": "c-1a2b3c", "confirm": True},
             "destroying a TensorPool cluster"),
            ("tensorpool_job_push", {"config_name": "x", "cluster_id": "c-1a2b3c"}, "pushing a TensorPool job"),
            ("tensorpool_job_cancel", {"job_id": "j-1a2b3c", "confirm": True}, "cancelling a TensorPool job"),
            ("tensorpool_add_ssh_cluster", {"instance_id": "i-1a2b3c", "cluster_name": "tp1"},
             "adding an instance as a cluster"),
        ]:
            with pytest.raises(ToolError, match=REFUSED.format("tpro", action)):
                await call(mcp, tool, account="tpro", **arguments)
        assert not setup.engine.clusters
        # a test submission changes nothing, so it is allowed (recommend_resources relies on it)
        assert (await call(mcp, "submit_job", script_content="true", test_only=True, cluster="ro"))["test_only"]
    assert _queue(tc_env, setup.job)[0] == "PENDING"
    assert as_cluster_user(tc_env, 'test -e "$1" && echo there || echo absent', marker).strip() == "absent"
    assert as_cluster_user(tc_env, 'cat "$1" && rm -f "$1"', kept).strip() == "kept"


def test_cli_call_refuses_a_read_only_cluster(setup: Setup, tc_env: dict[str, str]) -> None:
    done = subprocess.run([hpcbridge_executable(), "call", "cancel_job", f"job_id={setup.job}", "cluster=ro"],
                          env=setup.env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert re.search(REFUSED.format("ro", f"cancelling job {setup.job}"), done.stdout + done.stderr), done
    assert _queue(tc_env, setup.job)[0] == "PENDING"


async def test_audit_log_names_the_dashboard_and_resource_principals(setup: Setup, tc_env: dict[str, str]) -> None:
    """A dashboard action by carol and a resource read over HTTP MCP by erin: each named in the audit log."""
    proc, url = start_http_server(setup.env)
    try:
        with _login(url.removesuffix("/mcp"), setup.tokens["carol"]) as (client, csrf):
            assert _act(client, csrf, "rw", setup.job, "hold").endswith("done=hold")
            assert _act(client, csrf, "rw", setup.job, "release").endswith("done=release")
        async with Client(StreamableHttpTransport(url, auth=setup.tokens["erin"]), timeout=120) as mcp:
            read = await mcp.read_resource(f"slurm://job/{setup.job}")
            assert setup.job in read[0].text  # type: ignore[union-attr]
    finally:
        log = stop_and_read_log(proc)
    audit = [line for line in log.splitlines() if "cluster=rw principal=" in line and setup.job in line]
    by_carol = [line for line in audit if "principal=carol" in line]
    by_erin = [line for line in audit if "principal=erin" in line]
    assert any("hold" in line for line in by_carol) and any("release" in line for line in by_carol), audit
    assert by_erin, audit  # the resource read's scheduler query
