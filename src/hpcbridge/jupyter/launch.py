"""The Jupyter server job, as text: its batch script, its names, and what it leaves in its runtime directory.

Pure: no I/O. The token never appears here. hpcbridge writes it into `<runtime>/token` (0600) before submission
and the server reads it through JUPYTER_TOKEN_FILE (jupyter_server/auth/identity.py), so it is on no command
line, in no script kept by the scheduler (scontrol/sacct show scripts), and in no log.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..principal import LOCAL
from ..quoting import shell_join

INHERITED_TOKENS = ("JUPYTER_TOKEN", "JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")  # Jupyter's and JupyterHub's
KEEP = "keep"  # the instance part of a persistent server's name: never a 6-hex instance tag, so never reaped


@dataclass(frozen=True)
class ServerPlan:
    """What the script needs: where things go and how long idleness is tolerated."""

    runtime_dir: str  # 0700: token, node name, jpserver-PID.json, the server's log
    notebook_dir: str
    idle_minutes: float
    venv: str | None = None
    modules: tuple[str, ...] = ()
    # a containerized server runs as a job step in its container (Pyxis containerizes steps, not the batch
    # script): the scheduler's step launcher with the container options (Cluster.container_step), else empty
    container_step: tuple[str, ...] = ()


def principal_tag(principal: str) -> str:
    """A short, name-safe stand-in for a principal (job names are visible to every cluster user)."""
    return hashlib.sha256(principal.encode()).hexdigest()[:6]


def principal_notebooks(root: str, principal: str) -> str:
    """Each principal's server is rooted in its own directory, so one HTTP client cannot open (read, overwrite)
    another's notebooks by name: `<root>/<principal>`. `local` (stdio, the CLI: the machine's owner) keeps
    `<root>` itself, where its notebooks were before principals. Principal names are `[A-Za-z0-9_.-]`, never
    `local` nor starting with '.' (config.HttpToken), so the name is one plain path part."""
    return root if principal == LOCAL else f"{root.rstrip('/')}/{principal}"


def job_name(instance: str, principal: str, persist: bool) -> str:
    """`hpcb-<instance>-jupyter-<p>`: cancelled when that instance stops or is found dead. A persistent
    server is `hpcb-keep-jupyter-<p>`: no instance owns it, so a restarted hpcbridge finds it by name."""
    tag = principal_tag(principal)
    return f"hpcb-{KEEP}-jupyter-{tag}" if persist else f"hpcb-{instance}-jupyter-{tag}"


def idle_settings(idle_minutes: float) -> list[str]:
    """Kernels without execution for the idle time are culled, even with a client connected (hpcbridge keeps
    a websocket open); a server without kernels then shuts down (checked every 60 s by jupyter_server), and
    the job ends with it. Busy kernels are never culled: a long computation is not idleness."""
    seconds = max(30, int(idle_minutes * 60))
    interval = max(10, min(300, seconds // 3))
    return [f"--MappingKernelManager.cull_idle_timeout={seconds}",
            f"--MappingKernelManager.cull_interval={interval}",
            "--MappingKernelManager.cull_connected=True", "--MappingKernelManager.cull_busy=False",
            f"--ServerApp.shutdown_no_activity_timeout={seconds}"]


def server_script(plan: ServerPlan) -> str:
    """The batch script body (directives come from the JobRequest). Port 0: the OS picks a free port on the
    node, and the server records it in its jpserver-PID.json (0600, in JUPYTER_RUNTIME_DIR)."""
    lines = ["#!/bin/bash", "# hpcbridge: a Jupyter server for kernels driven through MCP", "umask 077", "set -e"]
    lines += [shell_join(["module", "load", m]) for m in plan.modules]
    if plan.venv:
        lines.append(shell_join(["source", f"{plan.venv.rstrip('/')}/bin/activate"]))
    lines += [
        shell_join(["export", f"JUPYTER_RUNTIME_DIR={plan.runtime_dir}"]),
        shell_join(["export", f"JUPYTER_TOKEN_FILE={plan.runtime_dir}/token"]),
        # a token from the login environment (the job inherits it) would win over the file (jupyter_server reads
        # JUPYTER_TOKEN first), and every kernel would carry it; after module/venv set-up, which may set them
        shell_join(["unset", *INHERITED_TOKENS]),
        # the user's own jupyter config (a password, extensions) must not change how hpcbridge talks to it
        shell_join(["export", f"JUPYTER_CONFIG_DIR={plan.runtime_dir}/config"]),
        shell_join(["mkdir", "-p", plan.notebook_dir]),
        shell_join(["cd", plan.notebook_dir]),
        f"hostname > {shell_join([plan.runtime_dir + '/node.tmp'])}",
        shell_join(["mv", f"{plan.runtime_dir}/node.tmp", f"{plan.runtime_dir}/node"]),
        shell_join(["exec", *plan.container_step, "jupyter", "server", "--no-browser", "--ip=0.0.0.0", "--port=0",
                    "--ServerApp.port_retries=0", f"--ServerApp.root_dir={plan.notebook_dir}",
                    *idle_settings(plan.idle_minutes)]),
    ]
    return "\n".join(lines) + "\n"


# jupyter_server never sets TCP_NODELAY on a kernel's websocket (services/kernels/websocket.py), so the small
# frames that end an execution (status idle, execute_reply) wait for the peer's delayed ACK: 1+1 took 47 ms
# through the server against 5 ms on the kernel's own ZMQ sockets. This config file (the server's only one:
# JUPYTER_CONFIG_DIR is ours) turns Nagle off on that socket; if the class moves, the server still starts.
SERVER_CONFIG = """\
try:
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

    _open = KernelWebsocketHandler.open

    async def _open_without_nagle(self, *args, **kwargs):
        self.set_nodelay(True)
        return await _open(self, *args, **kwargs)

    KernelWebsocketHandler.open = _open_without_nagle
except Exception as exc:  # a newer jupyter_server: slower cells, nothing worse
    import sys

    sys.stderr.write(f"hpcbridge: TCP_NODELAY not set on kernel websockets: {exc}\\n")
"""


def prepare_argv(runtime_dir: str) -> list[str]:
    """Make the runtime directory private and clear what an earlier server of the same name left."""
    return ["sh", "-c", 'umask 077 && mkdir -p "$1/config" && chmod 700 "$1" && rm -f "$1"/node "$1"/jpserver-*',
            "prepare", runtime_dir]


def read_state_argv(runtime_dir: str) -> list[str]:
    """The node name and the server's info file, if written yet (one line each)."""
    return ["sh", "-c", 'cat "$1/node" 2>/dev/null; echo; cat "$1"/jpserver-*.json 2>/dev/null | tr -d "\\n"',
            "state", runtime_dir]


@dataclass(frozen=True)
class ServerAddress:
    node: str
    port: int


def parse_state(text: str) -> ServerAddress | None:
    """read_state_argv's answer: the node's host name and the port once the server has recorded it."""
    lines = text.split("\n", 1)
    node = lines[0].strip()
    if not node or len(lines) < 2 or not lines[1].strip():
        return None
    try:
        info = json.loads(lines[1].strip())
    except json.JSONDecodeError:
        return None  # written as we read it: the next poll sees it whole
    port = info.get("port") if isinstance(info, dict) else None
    return ServerAddress(node, int(port)) if isinstance(port, int) and port > 0 else None
