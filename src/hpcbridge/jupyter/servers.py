"""Jupyter servers in batch jobs: one per cluster and principal, started on demand, reached through the
transport (a forwarded port over SSH, direct on a login node), ended with hpcbridge unless persistent.

Lifetime rules (the interactive-session rules of services/interactive.py):
- the job is named `hpcb-<instance>-jupyter-<p>`: this instance cancels it when it stops, and a restarted
  hpcbridge reaps it when this instance died without doing so (SIGKILL);
- with persist_kernels it is `hpcb-keep-jupyter-<p>`: nobody reaps it, it ends at its time limit or after the
  idle timeout (jupyter_server culls idle kernels, then shuts itself down), and a restarted hpcbridge finds it
  by name and reattaches;
- a start that does not finish in time (queue wait included), fails, or is abandoned leaves no job behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from .. import principal
from ..errors import HpcBridgeError, NotFound, SchedulerError
from ..models import ContainerSpec, Job, JobRequest, JobState
from ..services.cluster import Cluster
from ..services.registry import Registry
from . import launch
from .client import JupyterClient, ServerGone

log = logging.getLogger("hpcbridge.jupyter")
Progress = Callable[[str], Awaitable[None]]
POLL = 0.5


@dataclass(frozen=True)
class Launch:
    """The allocation and environment of a new server (from the call, a profile, and the cluster config)."""

    partition: str
    time_limit: str
    gpus: int | None = None
    gpu_type: str | None = None
    cpus: int | None = None
    memory: str | None = None
    account: str | None = None
    container: ContainerSpec | None = None
    persist: bool = False
    idle_minutes: float = 30.0
    start_timeout: float = 300.0
    venv: str | None = None  # None: the cluster's jupyter_venv
    modules: tuple[str, ...] | None = None  # None: the cluster's jupyter_modules


@dataclass
class Server:
    cluster: str
    principal: str
    job_id: str
    job_name: str
    persist: bool
    runtime_dir: str
    notebook_dir: str
    node: str
    port: int
    client: JupyterClient
    started: float = field(default_factory=time.time)
    reattached: bool = False
    spare_kernel: str = ""  # started by the warm start, given to the first new session

    def take_spare(self) -> str:
        kernel, self.spare_kernel = self.spare_kernel, ""
        return kernel


class ServerEnded(SchedulerError):
    """The server's job is over: the kernels are gone, the notebooks stay."""


class JupyterServers:
    def __init__(self, registry: Registry, instance: str) -> None:
        self.registry = registry
        self.instance = instance
        self._servers: dict[tuple[str, str], Server] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._homes: dict[str, str] = {}
        self._warming: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._warm_failed: dict[tuple[str, str], str] = {}

    def check_cluster(self, c: Cluster) -> None:
        """A Jupyter server is a batch job found by its name and reached through the transport: every
        scheduler can serve one. Kept as the one place a backend that cannot would be refused."""

    async def current(self, c: Cluster) -> Server | None:
        """This principal's server on the cluster: known here, or a persistent one found by name."""
        async with self._lock(c):
            return await self._known(c)

    def _lock(self, c: Cluster) -> asyncio.Lock:
        return self._locks.setdefault((c.name, principal.name()), asyncio.Lock())

    async def _known(self, c: Cluster) -> Server | None:
        key = (c.name, principal.name())
        if key not in self._servers:
            found = await self._find_persistent(c)
            if found:
                self._servers[key] = found
        return self._servers.get(key)

    async def ensure(self, c: Cluster, want: Launch, progress: Progress) -> Server:
        """The running server, or a new one (waiting for it with progress). Under the lock: two sessions
        started at once share one server."""
        self.check_cluster(c)
        warming = self._warming.get((c.name, principal.name()))
        if warming is not None and not warming.done() and warming is not asyncio.current_task():
            await progress(f"waiting for the Jupyter server job started with hpcbridge on {c.name} (warm start)")
            await asyncio.shield(warming)  # a cancelled call leaves the warm start to finish (or fail) alone
        async with self._lock(c):
            known = await self._known(c)
            if known is not None:
                # a cancelled job's server answers for a moment while it shuts down (COMPLETING): the queue
                # says first that it is ending, so it is not handed out again
                live = await _queued(c, known.job_name)
                try:
                    if live is None or live.job_id != known.job_id:
                        raise ServerGone(f"job {known.job_id} is ending")
                    await known.client.status()
                    return known
                except ServerGone:
                    await progress(f"the Jupyter server (job {known.job_id}) has ended; starting a new one")
                    await self.forget(known)
            server = await self._launch(c, want, progress)
            self._servers[(c.name, principal.name())] = server
            return server

    async def forget(self, server: Server) -> None:
        self._servers.pop((server.cluster, server.principal), None)
        await server.client.close()

    async def ended(self, c: Cluster, server: Server) -> ServerEnded:
        """Why the server stopped answering, as the error to raise; it is forgotten."""
        await self.forget(server)
        try:
            details = await c.job_details(server.job_id)
            state = details.job.state.value + (f" ({details.job.reason})" if details.job.reason else "")
        except HpcBridgeError:
            state = "no longer in the queue"
        return ServerEnded(f"the Jupyter server ended (job {server.job_id} on {c.name}: {state}); its kernels "
                           f"and their variables are gone. The notebooks stay in {server.notebook_dir}. "
                           "start_kernel_session starts a new server and kernel on the same notebook; run_all_cells "
                           "then re-runs its saved code cells.")

    # --- starting -------------------------------------------------------------------------------------
    async def _home(self, c: Cluster) -> str:
        if c.name not in self._homes:
            result = await c.run(["printenv", "HOME"])
            if not result.ok or not result.stdout.strip():
                raise SchedulerError(f"cannot find the home directory on {c.name}: {result.stderr.strip()}")
            self._homes[c.name] = result.stdout.strip()
        return self._homes[c.name]

    async def _dirs(self, c: Cluster, name: str) -> tuple[str, str]:
        home = await self._home(c)
        cfg = c.config
        notebooks = cfg.notebook_dir or (f"{cfg.user_root.rstrip('/')}/notebooks" if cfg.user_root
                                         else f"{home}/notebooks")
        if notebooks.startswith("~/"):
            notebooks = home + notebooks[1:]
        return f"{home}/.hpcbridge/jupyter/{name}", launch.principal_notebooks(notebooks, principal.name())

    async def _launch(self, c: Cluster, want: Launch, progress: Progress) -> Server:
        name = launch.job_name(self.instance, principal.name(), want.persist)
        runtime, notebooks = await self._dirs(c, name)
        venv = want.venv or c.config.jupyter_venv
        if venv and venv.startswith("~/"):
            venv = await self._home(c) + venv[1:]
        modules = want.modules if want.modules is not None else tuple(c.config.jupyter_modules)
        step = c.container_step(want.container.argv(), want.gpus) if want.container else []
        plan = launch.ServerPlan(runtime, notebooks, want.idle_minutes, venv, modules, tuple(step))
        prepared = await c.run(launch.prepare_argv(runtime))
        if not prepared.ok:
            raise SchedulerError(f"cannot prepare {runtime} on {c.name}: {prepared.stderr.strip()}")
        await c.write_file(f"{runtime}/config/jupyter_server_config.py", launch.SERVER_CONFIG.encode())
        token = secrets.token_urlsafe(32)
        await c.write_file(f"{runtime}/token", token.encode())
        await c.run(["chmod", "600", f"{runtime}/token"])
        request = JobRequest(
            script_content=launch.server_script(plan), job_name=name, partition=want.partition,
            account=want.account, nodes=1, ntasks=1, cpus_per_task=want.cpus, memory=want.memory,
            time_limit=want.time_limit, gpus=want.gpus, gpu_type=want.gpu_type,
            output_file=f"{runtime}/server.log", error_file=f"{runtime}/server.log")
        submitted = await c.submit(request)
        job_id = submitted.job_id
        await progress(f"Jupyter server job {job_id} submitted on {c.name}")
        try:
            with anyio.fail_after(want.start_timeout):
                node, port, client = await self._wait_ready(c, job_id, runtime, token, progress)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):  # abandoned, failed or late: no job is left running
                state = await self._queue_state(c, name) if isinstance(exc, TimeoutError) else ""
                with contextlib.suppress(HpcBridgeError):  # already ended: nothing to cancel
                    await c.cancel(job_id)
            if isinstance(exc, TimeoutError):
                raise SchedulerError(f"the Jupyter server did not start within {want.start_timeout:g}s "
                                     f"(job {job_id}: {state}); it was cancelled") from None
            raise
        return Server(c.name, principal.name(), job_id, name, want.persist, runtime, notebooks, node, port, client)

    async def _queue_state(self, c: Cluster, name: str) -> str:
        queued = await _queued(c, name)
        if queued is None:
            return "not in the queue"
        return queued.native_state + (f", {queued.reason}: {c.explain(queued.reason)}"
                                      if queued.state in (JobState.PENDING, JobState.HELD) else "")

    async def _wait_ready(self, c: Cluster, job_id: str, runtime: str, token: str,
                          progress: Progress) -> tuple[str, int, JupyterClient]:
        said = ""
        while True:
            queued = await _queued(c, _name_of(runtime))
            if queued is None or queued.job_id != job_id:
                failure = (await self._state(c, runtime)).failure
                raise SchedulerError(f"the Jupyter server job {job_id} ended while starting: "
                                     f"{failure or await self._log_tail(c, runtime)}")
            if queued.state in (JobState.PENDING, JobState.HELD) and queued.reason != said:
                said = queued.reason
                await progress(f"job {job_id} pending: {queued.reason} ({c.explain(queued.reason)})")
            if queued.state is JobState.RUNNING:
                state = await self._state(c, runtime)
                if state.failure:  # e.g. jupyter-server 1.x: said at once, not after the start timeout
                    raise SchedulerError(f"the Jupyter server job {job_id} on {c.name} cannot start: {state.failure}")
                address = state.address
                if address:
                    client = JupyterClient(_reach(c, address.node, address.port), token)
                    with contextlib.suppress(ServerGone, NotFound):
                        await client.status(timeout=3)
                        await progress(f"Jupyter server ready on {address.node} (job {job_id})")
                        return address.node, address.port, client
                    await client.close()
                elif said != "RUNNING":
                    said = "RUNNING"
                    await progress(f"job {job_id} running on {queued.node_list}; Jupyter is starting")
            await asyncio.sleep(POLL)

    @staticmethod
    async def _state(c: Cluster, runtime: str) -> launch.ServerState:
        return launch.parse_state((await c.run(launch.read_state_argv(runtime))).stdout)

    @staticmethod
    async def _log_tail(c: Cluster, runtime: str) -> str:
        result = await c.run(["tail", "-n", "5", f"{runtime}/server.log"])
        return " | ".join(line for line in result.stdout.strip().splitlines()) or "(no output)"

    async def _find_persistent(self, c: Cluster) -> Server | None:
        """After a restart: a persistent server of this principal that is still running, with its token."""
        name = launch.job_name(self.instance, principal.name(), persist=True)
        queued = await _queued(c, name)
        if queued is None or queued.state is not JobState.RUNNING:
            return None
        runtime, notebooks = await self._dirs(c, name)
        state = await self._state(c, runtime)
        address = state.address
        token = await c.run(["cat", f"{runtime}/token"])
        if address is None or not token.ok:
            if state.failure:
                log.warning("persistent Jupyter server job %s on %s not reattached: %s", queued.job_id, c.name,
                            state.failure)
            return None
        client = JupyterClient(_reach(c, address.node, address.port), token.stdout.strip())
        log.info("reattached to the persistent Jupyter server job %s on %s", queued.job_id, c.name)
        return Server(c.name, principal.name(), queued.job_id, name, True, runtime, notebooks, address.node,
                      address.port, client, reattached=True)

    # --- warm start (jupyter_warm_start) --------------------------------------------------------------
    def warm(self, c: Cluster, want: Callable[[], Awaitable[Launch]], who: str) -> None:
        """Start `who`'s server in the background when hpcbridge starts, so the first cell does not wait for
        the queue. It is ensure() as a call runs it (same job name, persist and idle rules, reattaches a
        persistent server), so close() and the reaper treat it like any other; a failure is logged and said
        by the next kernel call, which then starts a server itself."""
        key = (c.name, who)

        async def start() -> None:
            with principal.acting_as(who):
                try:
                    c.check_writable("starting a Jupyter server job at startup (jupyter_warm_start)")
                    server = await self.ensure(c, await want(), _logged)
                    if not server.reattached and not server.spare_kernel:
                        # the kernel's start (~2 s) is waited for here too; the idle culler ends it
                        # like any kernel, and the server after it, when nobody comes
                        server.spare_kernel = await server.client.new_kernel()
                except HpcBridgeError as exc:
                    log.warning("Jupyter warm start on %s failed: %s", c.name, exc)
                    self._warm_failed[key] = str(exc)
                except Exception as exc:  # a background start must never end hpcbridge
                    log.exception("Jupyter warm start on %s failed", c.name)
                    self._warm_failed[key] = f"{type(exc).__name__}: {exc}"

        self._warming[key] = asyncio.create_task(start(), name=f"jupyter-warm-{c.name}")

    def warm_failure(self, c: Cluster) -> str:
        """Why the warm start of this principal's server failed (said once), or ''."""
        return self._warm_failed.pop((c.name, principal.name()), "")

    # --- stopping -------------------------------------------------------------------------------------
    async def stop(self, c: Cluster) -> Server:
        server = await self.current(c)
        if server is None:
            raise NotFound(f"no Jupyter server of yours is running on {c.name}")
        await c.cancel(server.job_id)
        await self.forget(server)
        return server

    async def close(self) -> None:
        """hpcbridge is stopping: cancel every server that is not persistent; leave persistent ones. A warm
        start still under way is cancelled first: _launch cancels its job as it does for an abandoned call."""
        for (cluster, who), task in list(self._warming.items()):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await self._cancel_unseen(cluster, who)
        self._warming.clear()
        for server in list(self._servers.values()):
            if not server.persist:
                c = self.registry.get(server.cluster)
                try:
                    await c.cancel(server.job_id)
                    await c.run(["rm", "-f", f"{server.runtime_dir}/token"])
                except HpcBridgeError as exc:
                    log.warning("could not cancel Jupyter server job %s on %s: %s", server.job_id, c.name, exc)
            await server.client.close()
        self._servers.clear()


    async def _cancel_unseen(self, cluster: str, who: str) -> None:
        """A warm start cancelled inside sbatch may have left a job whose id it never read: it is found by its
        name (this instance's, never a persistent one another hpcbridge may use)."""
        c = self.registry.get(cluster)
        try:
            await c.cancel_named(launch.job_name(self.instance, who, persist=False))
        except HpcBridgeError as exc:
            log.warning("could not cancel a Jupyter warm start's job on %s: %s", cluster, exc)


async def _logged(message: str) -> None:
    log.info("Jupyter warm start: %s", message)


def _name_of(runtime: str) -> str:
    return runtime.rstrip("/").rsplit("/", 1)[-1]


def _reach(c: Cluster, node: str, port: int) -> Callable[[], Awaitable[tuple[str, int]]]:
    async def address() -> tuple[str, int]:
        return await c.reach(node, port)

    return address


async def _queued(c: Cluster, name: str) -> Job | None:
    """The live server job of that name (an ended one has left the queue, or is ending)."""
    live = [j for j in await c.jobs_named(name) if not j.state.final and j.state is not JobState.COMPLETING]
    return live[0] if live else None
