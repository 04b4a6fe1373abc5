"""Kernel sessions: a kernel and its notebook on the cluster's file system, driven cell by cell.

A session is named by its notebook (`<name>.ipynb` in the server's notebook directory). The Jupyter server
keeps the session list itself (/api/sessions), so after an hpcbridge restart a persistent server's sessions
are found again with their kernels' state intact; the notebook is read back through the contents API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from nbformat import NotebookNode

from .. import principal, validate
from ..errors import HpcBridgeError, NotFound, SchedulerError
from ..models import AllocationSpec
from ..services.cluster import Cluster
from . import notebook
from .client import KernelSession, ServerGone
from .outputs import CellOutput
from .servers import JupyterServers, Launch, Server

log = logging.getLogger("hpcbridge.jupyter")
Progress = Callable[[str], Awaitable[None]]
PROGRESS_EVERY = 2.0


@dataclass
class Open:
    name: str
    path: str
    session: KernelSession
    nb: NotebookNode
    server: Server
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    saver: asyncio.Task[None] | None = None
    dirty: bool = False


@dataclass(frozen=True)
class SessionView:
    notebook: str
    path: str  # on the cluster
    cluster: str
    job_id: str
    node: str
    kernel_id: str
    kernel_state: str
    cells: int
    persistent: bool
    reattached: bool = False
    note: str = ""


@dataclass(frozen=True)
class Executed:
    notebook: str
    cell_index: int | None  # None for scratch code (not saved)
    execution_count: int | None
    status: str  # ok | error | aborted | interrupted
    output: CellOutput
    seconds: float


class Kernels:
    def __init__(self, servers: JupyterServers) -> None:
        self.servers = servers
        self._open: dict[tuple[str, str, str], Open] = {}

    # --- sessions -------------------------------------------------------------------------------------
    async def start(self, c: Cluster, name: str, want: Launch, progress: Progress) -> SessionView:
        c.check_writable("starting a Jupyter kernel (and its server job)")
        name = validate.name("notebook", name)
        warm_failed = self.servers.warm_failure(c)
        if warm_failed:
            await progress(f"the warm start at hpcbridge's start failed ({warm_failed}); starting the server now")
        server = await self.servers.ensure(c, want, progress)
        key = (c.name, principal.name(), name)
        path = f"{name}.ipynb"
        running = [s for s in await server.client.sessions() if s.path == path]
        note = ""
        if running:
            session, note = running[0], "reattached to the running kernel: its variables are intact"
        else:
            session = await server.client.new_session(path, kernel_id=server.take_spare())
        data = await server.client.read_notebook(path)
        if data and not running:
            note = "the notebook existed: its cells are kept; the new kernel starts empty (run_all_cells " \
                   "re-runs its code cells to restore state)"
        nb = notebook.loaded(data)
        if data is None:
            await server.client.save_notebook(path, notebook.as_dict(nb))
        self._open[key] = Open(name, path, session, nb, server)
        if warm_failed:
            note = f"the warm start failed ({warm_failed}); this call started the server. {note}".strip()
        return self._view(c, self._open[key], note)

    def _view(self, c: Cluster, o: Open, note: str = "") -> SessionView:
        return SessionView(o.name, f"{o.server.notebook_dir}/{o.path}", c.name, o.server.job_id, o.server.node,
                           o.session.kernel_id, o.session.execution_state, len(o.nb.cells), o.server.persist,
                           o.server.reattached, note)

    async def _get(self, c: Cluster, name: str) -> Open:
        name = validate.name("notebook", name)
        key = (c.name, principal.name(), name)
        if key in self._open:
            return self._open[key]
        server = await self.servers.current(c)
        if server is None:
            raise NotFound(f"no kernel session '{name}' on {c.name}: no Jupyter server of yours runs there; "
                           "start_kernel_session starts one")
        sessions = await self._sessions(c, server)
        match = [s for s in sessions if s.path == f"{name}.ipynb"]
        if not match:
            names = ", ".join(s.path.removesuffix(".ipynb") for s in sessions) or "none"
            raise NotFound(f"no kernel session '{name}' on {c.name} (open: {names}); start_kernel_session with "
                           f"notebook='{name}' starts one (an existing notebook file is kept)")
        nb = notebook.loaded(await server.client.read_notebook(match[0].path))
        self._open[key] = Open(name, match[0].path, match[0], nb, server)
        return self._open[key]

    async def _sessions(self, c: Cluster, server: Server) -> list[KernelSession]:
        try:
            return await server.client.sessions()
        except ServerGone:
            self._drop(server)
            raise await self.servers.ended(c, server) from None

    def _drop(self, server: Server) -> None:
        for key in [k for k, o in self._open.items() if o.server is server]:
            del self._open[key]

    async def listing(self, c: Cluster) -> tuple[Server | None, list[SessionView]]:
        server = await self.servers.current(c)
        if server is None:
            return None, []
        views = []
        for s in await self._sessions(c, server):
            name = s.path.removesuffix(".ipynb")
            known = self._open.get((c.name, principal.name(), name))
            cells = len(known.nb.cells) if known else -1
            views.append(SessionView(name, f"{server.notebook_dir}/{s.path}", c.name, server.job_id, server.node,
                                     s.kernel_id, s.execution_state, cells, server.persist, server.reattached))
        return server, views

    async def shutdown(self, c: Cluster, name: str) -> SessionView:
        c.check_writable("shutting down a kernel")
        o = await self._get(c, name)
        await o.server.client.end_session(o.session.id)
        await o.server.client.channel(o.session.kernel_id).close()
        self._open.pop((c.name, principal.name(), o.name), None)
        return self._view(c, o, "kernel shut down; the notebook is kept and the server stays for other sessions")

    async def stop_server(self, c: Cluster) -> Server:
        for o in [o for o in self._open.values() if o.server.cluster == c.name]:
            with contextlib.suppress(HpcBridgeError):
                await self._flush(o)
        server = await self.servers.stop(c)
        self._drop(server)
        return server

    async def interrupt(self, c: Cluster, name: str) -> SessionView:
        c.check_writable("interrupting a kernel")
        o = await self._get(c, name)
        await self._call(c, o, o.server.client.interrupt(o.session.kernel_id))
        return self._view(c, o, "interrupt sent")

    async def restart(self, c: Cluster, name: str) -> SessionView:
        c.check_writable("restarting a kernel")
        o = await self._get(c, name)
        await self._call(c, o, o.server.client.restart(o.session.kernel_id))
        await o.server.client.channel(o.session.kernel_id).close()
        return self._view(c, o, "kernel restarted: its variables are gone, the notebook's cells are kept")

    async def _call(self, c: Cluster, o: Open, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except ServerGone:
            raise await self._gone(c, o) from None

    async def _gone(self, c: Cluster, o: Open) -> SchedulerError:
        """The kernel stopped answering: either its server ended, or only the kernel did (culled when idle,
        shut down elsewhere)."""
        self._open.pop((c.name, principal.name(), o.name), None)
        try:
            await o.server.client.status()
        except ServerGone:
            self._drop(o.server)
            return await self.servers.ended(c, o.server)
        return SchedulerError(f"the kernel of '{o.name}' is gone (idle past the timeout, or shut down); the "
                              f"server is still up. start_kernel_session with notebook='{o.name}' starts a new "
                              "kernel on the same notebook (variables must be recomputed)")

    # --- cells ----------------------------------------------------------------------------------------
    async def notebook(self, c: Cluster, name: str, start: int, limit: int) -> tuple[Open, list[notebook.CellSummary]]:
        o = await self._get(c, name)
        return o, notebook.summary(o.nb, start, limit)

    async def add_cell(self, c: Cluster, name: str, source: str, cell_type: str, index: int | None) -> int:
        c.check_writable(f"changing notebook {name}")
        o = await self._get(c, name)
        async with o.lock:
            position = notebook.add(o.nb, source, cell_type, index)
            await self._save(c, o)
        return position

    async def edit_cell(self, c: Cluster, name: str, index: int, source: str) -> tuple[int, str]:
        c.check_writable(f"changing notebook {name}")
        o = await self._get(c, name)
        async with o.lock:
            index = notebook.checked_index(o.nb, index)
            o.nb.cells[index].source = source
            if o.nb.cells[index].cell_type == "code":
                o.nb.cells[index].outputs, o.nb.cells[index].execution_count = [], None
            await self._save(c, o)
        return index, o.nb.cells[index].cell_type

    async def delete_cell(self, c: Cluster, name: str, index: int) -> int:
        c.check_writable(f"changing notebook {name}")
        o = await self._get(c, name)
        async with o.lock:
            index = notebook.checked_index(o.nb, index)
            del o.nb.cells[index]
            await self._save(c, o)
        return len(o.nb.cells)

    async def _save(self, c: Cluster, o: Open) -> None:
        await self._flush(o)
        await self._call(c, o, o.server.client.save_notebook(o.path, notebook.as_dict(o.nb)))

    def _save_soon(self, o: Open) -> None:
        """Executed cells are written behind the reply (a PUT costs ~10 ms through the forward): one writer per
        notebook writes the latest state until nothing is left; close() and every edit wait for it."""
        o.dirty = True
        if o.saver is None or o.saver.done():
            o.saver = asyncio.create_task(self._write_while_dirty(o))

    async def _write_while_dirty(self, o: Open) -> None:
        while o.dirty:
            o.dirty = False
            try:
                await o.server.client.save_notebook(o.path, notebook.as_dict(o.nb))
            except HpcBridgeError as exc:
                log.warning("could not save %s on %s: %s", o.path, o.server.cluster, exc)
                return

    @staticmethod
    async def _flush(o: Open) -> None:
        if o.saver is not None:
            await asyncio.shield(o.saver)

    async def close(self) -> None:
        """hpcbridge is stopping: every notebook written, then the servers ended (unless persistent)."""
        for o in list(self._open.values()):
            with contextlib.suppress(HpcBridgeError):
                await self._flush(o)
        self._open.clear()
        await self.servers.close()

    # --- execution ------------------------------------------------------------------------------------
    async def execute(self, c: Cluster, name: str, code: str, *, save: bool, progress: Progress,
                      cell_index: int | None = None) -> Executed:
        """Run code in the kernel. Saved code becomes a new cell (or re-runs cell_index) with its outputs;
        scratch code leaves the notebook and the kernel's history alone. A cancelled call interrupts the
        kernel, which stays usable."""
        c.check_writable("running code in a kernel")
        o = await self._get(c, name)
        async with o.lock:
            if cell_index is not None:
                cell_index = notebook.checked_index(o.nb, cell_index)
                if o.nb.cells[cell_index].cell_type != "code":
                    raise SchedulerError(f"cell {cell_index} is a markdown cell: only code cells run")
                code = o.nb.cells[cell_index].source
            elif save:
                cell_index = notebook.add(o.nb, code, "code")
            output, messages = CellOutput(), list[dict[str, Any]]()
            started = time.monotonic()
            try:
                status = await self._run(c, o, code, save, output, messages, progress)
            finally:
                if cell_index is not None:  # also when cancelled: the cell keeps what it printed until stopped
                    notebook.record(o.nb, cell_index, messages, output.execution_count)
                    self._save_soon(o)
        return Executed(o.name, cell_index, output.execution_count, status, output, time.monotonic() - started)

    async def _run(self, c: Cluster, o: Open, code: str, save: bool, output: CellOutput,
                   messages: list[dict[str, Any]], progress: Progress) -> str:
        async def on_message(kind: str, msg: dict[str, Any]) -> None:
            if kind == "_count":
                output.execution_count = msg["execution_count"]
                return
            await output.receive(kind, msg.get("content") or {})  # images and markup: off the event loop
            messages.append(msg)

        channel = o.server.client.channel(o.session.kernel_id)
        task = asyncio.create_task(channel.execute(code, on_message, store_history=save))
        started = time.monotonic()
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=PROGRESS_EVERY)
                if not task.done():
                    last = "".join(output.text).rstrip().rsplit("\n", 1)[-1][-120:]
                    await progress(f"running for {time.monotonic() - started:.0f}s" + (f"; last output: {last}"
                                                                                      if last else ""))
            return task.result()
        except (ServerGone, NotFound):  # the socket closed, or the kernel is no longer on the server
            raise await self._gone(c, o) from None
        except asyncio.CancelledError:
            # cancelled (MCP cancellation, client gone): stop the code, keep the kernel
            with anyio.CancelScope(shield=True):
                try:
                    await o.server.client.interrupt(o.session.kernel_id)
                    with anyio.move_on_after(10):
                        await asyncio.shield(task)
                except Exception as exc:  # noqa: BLE001 - the cancellation is what the caller must see
                    log.warning("could not interrupt kernel %s after a cancelled call: %s", o.session.kernel_id, exc)
                output.status = "interrupted"
            raise


def launch_of(c: Cluster, spec: AllocationSpec, *, persist: bool | None, idle_minutes: float | None,
              start_timeout: int | None, python_env: str | None = None,
              modules: list[str] | None = None) -> Launch:
    """A server's allocation: the session rules' AllocationSpec plus the lifetime settings (call over config)."""
    cfg = c.config
    return Launch(
        partition=spec.partition, time_limit=spec.time_limit, gpus=spec.gpus_per_node, gpu_type=spec.gpu_type,
        cpus=spec.cpus_per_task, memory=spec.memory, account=spec.account, container=spec.container,
        persist=cfg.persist_kernels if persist is None else persist,
        idle_minutes=idle_minutes or cfg.kernel_idle_timeout,
        start_timeout=float(start_timeout or cfg.jupyter_start_timeout),
        venv=validate.directory_path("python_env", python_env) if python_env else None,
        modules=tuple(validate.module_name("modules", m) for m in modules) if modules is not None else None)
