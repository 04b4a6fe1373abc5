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


# The start, where the server runs (inside the container when there is one): $1 is the runtime directory, the
# rest the server's options. jupyter-server before 2.20 started with --port=0 writes port 0 in its runtime file
# and in its log ("running at: http://node:0/") while it listens elsewhere, so the port is chosen here: the OS
# names a free one, it is written to <runtime>/port, and the server must bind exactly it (port_retries=0). In
# the moment between choosing and binding another process may take it: the server then exits at once and,
# if the port is held now (bound as tornado binds, with SO_REUSEADDR), another is chosen. An environment
# without jupyter-server 2 (1.x, none, a broken one) is refused in <runtime>/failed, naming what it found.
START = r"""rt=$1; shift
fail() { echo "hpcbridge: $*" >&2; echo "$*" >"$rt/failed.tmp" && mv "$rt/failed.tmp" "$rt/failed"; exit 3; }
py=$(command -v python3 || command -v python) || fail "no python3 in the job environment (PATH=$PATH)"
version=$("$py" -c "import jupyter_server; print(jupyter_server.__version__)" 2>"$rt/import.err") \
  || fail "no jupyter_server in the job environment ($py): $(tail -n 1 "$rt/import.err")"
version=$(echo "$version" | tail -n 1)
case $version in
  [2-9].*|[1-9][0-9]*) ;;
  *) fail "jupyter-server $version ($py) cannot serve the kernels of hpcbridge: it needs jupyter-server 2 or \
newer (pip install \"jupyter-server>=2\" \"ipykernel>=6\" in that environment)" ;;
esac
for try in 1 2 3; do
  port=$("$py" -c "import socket; s = socket.socket(); s.bind((\"\", 0)); print(s.getsockname()[1])") \
    || fail "cannot choose a free port on $(hostname)"
  echo "$port" >"$rt/port.tmp" && mv "$rt/port.tmp" "$rt/port"
  jupyter server "$@" --port="$port" && exit 0 || status=$?
  "$py" -c "import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((\"\", int(sys.argv[1])))" "$port" 2>/dev/null && exit "$status"
  echo "hpcbridge: port $port was taken before the server bound it; choosing another" >&2
done
exit "$status"
"""


def server_script(plan: ServerPlan) -> str:
    """The batch script body (directives come from the JobRequest). The server listens on a port START chose
    and wrote down; it records itself in jpserver-PID.json (0600, in JUPYTER_RUNTIME_DIR) once it listens."""
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
        shell_join(["exec", *plan.container_step, "bash", "-c", START, "hpcbridge-jupyter", plan.runtime_dir,
                    "--no-browser", "--ip=0.0.0.0", "--ServerApp.port_retries=0",
                    f"--ServerApp.root_dir={plan.notebook_dir}", *idle_settings(plan.idle_minutes)]),
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
    return ["sh", "-c", ('umask 077 && mkdir -p "$1/config" && chmod 700 "$1" && '
            'rm -f "$1"/node "$1"/port "$1"/failed "$1"/jpserver-*'), "prepare", runtime_dir]


def read_state_argv(runtime_dir: str) -> list[str]:
    """One line each, empty when not written yet: the node, the port START chose, why START refused, and the
    server's info file (written once it listens)."""
    return ["sh", "-c", ('for f in node port failed; do cat "$1/$f" 2>/dev/null | tr -d "\\n"; echo; done; '
            'cat "$1"/jpserver-*.json 2>/dev/null | tr -d "\\n"'), "state", runtime_dir]


@dataclass(frozen=True)
class ServerAddress:
    node: str
    port: int


@dataclass(frozen=True)
class ServerState:
    """What the runtime directory says: where the server listens once it does, or why it never will."""

    address: ServerAddress | None = None
    failure: str = ""


def parse_state(text: str) -> ServerState:
    """read_state_argv's answer. The port is the server's own word when it is not 0, else the one START chose
    (jupyter-server < 2.20 records 0 when the OS chose; with START's port it records that one)."""
    node, chosen, failed, info_text = (text.split("\n", 3) + ["", "", ""])[:4]
    node, chosen, failure = node.strip(), chosen.strip(), failed.strip()
    try:
        info = json.loads(info_text.strip()) if info_text.strip() else None
    except json.JSONDecodeError:
        info = None  # written as we read it: the next poll sees it whole
    if failure or not node or not isinstance(info, dict):
        return ServerState(None, failure)
    port = info.get("port")
    if isinstance(port, int) and port > 0:
        return ServerState(ServerAddress(node, port))
    if chosen.isdigit() and 0 < int(chosen) < 65536:
        return ServerState(ServerAddress(node, int(chosen)))
    return ServerState(None, f"jupyter-server {info.get('version', '(version unknown)')} recorded port {port!r} "
                             "in its runtime file (before 2.20 it records 0 when started with --port=0) and the "
                             "job wrote no port of its own, so where it listens is unknown")
