"""Jupyter kernels on compute nodes (jlab-mcp's tools, reached from anywhere): code in, text and plots out,
every saved cell kept in a real .ipynb on the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastmcp import Context
from fastmcp.tools.base import ToolResult
from pydantic import Field

from .. import validate
from ..jupyter.kernels import Kernels, SessionView, launch_of
from ..jupyter.notebook import CellSummary
from ..jupyter.restore import RunAll, run_all
from ..jupyter.restore import render as render_run_all
from ..models import next_offset
from ..services import profiles
from ..services.interactive import Sessions
from . import render_jupyter as render
from .params import ClusterArg
from .toolkit import ToolKit, reply

Notebook = Annotated[str, Field(description="Notebook name (the session): letters, digits, . _ -; saved as "
                                            "<name>.ipynb in the notebook directory")]
Code = Annotated[str, Field(description="Python code to run in the kernel")]
CellIndex = Annotated[int, Field(description="Cell index, 0-based (negative counts from the end)")]


@dataclass(frozen=True)
class SessionList:
    cluster: str
    job_id: str | None
    node: str | None
    persistent: bool | None
    sessions: list[SessionView]


@dataclass(frozen=True)
class NotebookCells:
    notebook: str
    total: int
    offset: int
    cells: list[CellSummary]
    next_offset: int | None


@dataclass(frozen=True)
class CellChange:
    notebook: str
    cell_index: int
    cells: int
    note: str


def register(kit: ToolKit, sessions: Sessions, kernels: Kernels) -> None:
    registry = kit.registry

    def progress_of(ctx: Context):  # type: ignore[no-untyped-def]
        async def progress(message: str) -> None:
            await ctx.report_progress(0, None, message)

        return progress

    async def run(ctx: Context, notebook: str, code: str, cluster: str | None, *, save: bool,
                  cell_index: int | None = None) -> ToolResult:
        c = registry.get(cluster)
        done = await kernels.execute(c, notebook, code, save=save, progress=progress_of(ctx), cell_index=cell_index)
        result, blocks = render.execution(done)
        return ToolResult(content=blocks, structured_content=reply(result, "").structured_content)

    @kit.tool(read_only=False, destructive=False, idempotent=False, output=SessionView, task=True)
    async def start_kernel_session(
        ctx: Context, notebook: Notebook,
        profile_name: Annotated[str | None, Field(description="Take resources from this interactive profile")] = None,
        partition: Annotated[str | None, Field(description="Partition (default: the interactive partition)")] = None,
        gpus_per_node: Annotated[int | None, Field(description="GPUs", ge=0, le=64)] = None,
        gpu_type: Annotated[str | None, Field(description="GPU type, e.g. a100")] = None,
        cpus: Annotated[int | None, Field(description="CPUs for the server and its kernels", ge=1, le=1024)] = None,
        memory: Annotated[str | None, Field(description="Memory, e.g. 16G")] = None,
        time_limit: Annotated[str | None, Field(description="Time limit, e.g. 4:00:00 (default: configured)")] = None,
        account: Annotated[str | None, Field(description="Account to charge")] = None,
        container_image: Annotated[str | None, Field(description="Container .sqsh image (Pyxis), or 'default'")] = None,
        persist: Annotated[bool | None, Field(description="Keep the server after hpcbridge exits (until its time "
                                                          "limit or idle timeout); default: persist_kernels")] = None,
        idle_timeout_minutes: Annotated[float | None, Field(description="End the server after this many minutes "
                                                                        "without execution", ge=0.5)] = None,
        start_timeout: Annotated[int | None, Field(description="Seconds to wait for the server (queue included) "
                                                               "before cancelling it", ge=10, le=86400)] = None,
        python_env: Annotated[str | None, Field(description="venv or conda directory to activate (default: the "
                                                            "cluster's jupyter_venv); needs jupyter-server, ipykernel")] = None,
        modules: Annotated[list[str] | None, Field(description="modules to load first, e.g. ['cuda/12.6'] "
                                                               "(default: the cluster's jupyter_modules)")] = None,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Open a kernel on a compute node with its notebook. The first call starts this cluster's Jupyter
        server job (progress carries the pending reason); later sessions share it. An existing notebook is
        reopened (its running kernel reattached if there is one). Resources apply only to a new server."""
        c = registry.get(cluster)
        if profile_name:
            p = profiles.one(sessions.store, c, validate.name("profile_name", profile_name)).settings
            spec = await profiles.from_profile(c, p, time_limit)
            python_env, modules = python_env or p.get("python_env"), modules or p.get("modules")
        else:
            spec = await profiles.allocation(c, partition, account, 1, gpus_per_node, gpu_type, time_limit,
                                             container_image, None, True)
        if memory:
            validate.memory_mb("memory", memory)
        spec = profiles.with_size(spec, cpus, memory)
        await sessions.check_allocation(c, spec)  # a batch job: every scheduler can run one
        want = launch_of(c, spec, persist=persist, idle_minutes=idle_timeout_minutes, start_timeout=start_timeout,
                         python_env=python_env, modules=modules)
        view = await kernels.start(c, notebook, want, progress_of(ctx))
        return reply(view, render.session(view))

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=render.ExecutionResult)  # runs any code
    async def execute_code(ctx: Context, notebook: Notebook, code: Code, cluster: ClusterArg = None) -> ToolResult:
        """Run code in the notebook's kernel and save it as a new cell with its outputs. Returns text
        (capped), the error's last frames, and images the model can see. Progress while it runs;
        cancelling the call interrupts the kernel (which stays usable)."""
        return await run(ctx, notebook, code, cluster, save=True)

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=render.ExecutionResult)  # runs any code
    async def execute_scratch_code(ctx: Context, notebook: Notebook, code: Code,
                                   cluster: ClusterArg = None) -> ToolResult:
        """Run code in the kernel without saving it to the notebook (inspection, quick checks)."""
        return await run(ctx, notebook, code, cluster, save=False)

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=render.ExecutionResult)  # runs any code
    async def rerun_notebook_cell(ctx: Context, notebook: Notebook, cell_index: CellIndex,
                                  cluster: ClusterArg = None) -> ToolResult:
        """Run a code cell of the notebook again; its outputs are replaced."""
        return await run(ctx, notebook, "", cluster, save=True, cell_index=cell_index)

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=RunAll)  # runs any code
    async def run_all_cells(ctx: Context, notebook: Notebook, cluster: ClusterArg = None) -> ToolResult:
        """Re-run the notebook's saved code cells in order (after a server or kernel loss: the new kernel
        gets the old one's state back), stopping at the first error and naming that cell. Outputs are saved
        to the notebook; the answer is one line per cell plus the failing cell's output."""
        c = registry.get(cluster)
        result = await run_all(kernels, c, notebook, progress_of(ctx))
        return reply(result, render_run_all(result))

    @kit.tool(read_only=False, destructive=False, idempotent=False, output=CellChange)
    async def add_notebook_cell(
        notebook: Notebook, source: Annotated[str, Field(description="Cell text (markdown or code)")],
        cell_type: Annotated[Literal["markdown", "code"], Field(description="markdown or code")] = "markdown",
        index: Annotated[int | None, Field(description="Insert before this cell (default: append)")] = None,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Add a markdown or code cell without running it (run code cells with rerun_notebook_cell)."""
        c = registry.get(cluster)
        position = await kernels.add_cell(c, notebook, source, cell_type, index)
        o, _ = await kernels.notebook(c, notebook, 0, 0)
        change = CellChange(notebook, position, len(o.nb.cells), f"{cell_type} cell added at {position}")
        return reply(change, change.note)

    @kit.tool(read_only=False, destructive=True, idempotent=True, output=CellChange)
    async def edit_notebook_cell(notebook: Notebook, cell_index: CellIndex,
                                 source: Annotated[str, Field(description="The cell's new text")],
                                 cluster: ClusterArg = None) -> ToolResult:
        """Replace a cell's text (a code cell's old outputs are cleared; re-run it with rerun_notebook_cell)."""
        c = registry.get(cluster)
        index, kind = await kernels.edit_cell(c, notebook, cell_index, source)
        o, _ = await kernels.notebook(c, notebook, 0, 0)
        change = CellChange(notebook, index, len(o.nb.cells), f"{kind} cell {index} replaced")
        return reply(change, change.note)

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=CellChange)
    async def delete_notebook_cell(notebook: Notebook, cell_index: CellIndex, cluster: ClusterArg = None) -> ToolResult:
        """Delete a cell from the notebook (the kernel's state is not changed)."""
        left = await kernels.delete_cell(registry.get(cluster), notebook, cell_index)
        change = CellChange(notebook, cell_index, left, f"cell {cell_index} deleted; {left} cells left")
        return reply(change, change.note)

    @kit.tool(read_only=True, output=NotebookCells)
    async def read_notebook(notebook: Notebook, offset: Annotated[int, Field(ge=0)] = 0,
                            limit: Annotated[int, Field(ge=1, le=200)] = 50, cluster: ClusterArg = None) -> ToolResult:
        """The notebook's cells (paged): index, type, source, and what outputs each holds."""
        o, found = await kernels.notebook(registry.get(cluster), notebook, offset, limit)
        total = len(o.nb.cells)
        page = NotebookCells(notebook, total, offset, found, next_offset(offset, len(found), total))
        return reply(page, render.cells(notebook, total, found))

    @kit.tool(read_only=True, output=SessionList)
    async def list_kernel_sessions(cluster: ClusterArg = None) -> ToolResult:
        """Your Jupyter server on the cluster (job, node, lifetime) and its kernel sessions."""
        c = registry.get(cluster)
        server, views = await kernels.listing(c)
        found = SessionList(c.name, server.job_id if server else None, server.node if server else None,
                            server.persist if server else None, views)
        return reply(found, render.sessions(server, views, c.name))

    @kit.tool(read_only=False, destructive=False, idempotent=True, output=SessionView)
    async def interrupt_kernel(notebook: Notebook, cluster: ClusterArg = None) -> ToolResult:
        """Interrupt what the kernel runs (KeyboardInterrupt); variables are kept."""
        view = await kernels.interrupt(registry.get(cluster), notebook)
        return reply(view, render.session(view))

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=SessionView)
    async def restart_kernel(notebook: Notebook, cluster: ClusterArg = None) -> ToolResult:
        """Restart the kernel: variables are lost, the notebook's cells stay."""
        view = await kernels.restart(registry.get(cluster), notebook)
        return reply(view, render.session(view))

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=SessionView)
    async def shutdown_kernel_session(notebook: Notebook, cluster: ClusterArg = None) -> ToolResult:
        """Shut down the notebook's kernel; the notebook file and the server (for other sessions) stay."""
        view = await kernels.shutdown(registry.get(cluster), notebook)
        return reply(view, render.session(view))

    @kit.tool(read_only=False, destructive=True, idempotent=False, output=SessionList)
    async def stop_jupyter_server(cluster: ClusterArg = None) -> ToolResult:
        """End your Jupyter server job on the cluster (every kernel goes; notebooks stay)."""
        c = registry.get(cluster)
        server = await kernels.stop_server(c)
        found = SessionList(c.name, server.job_id, server.node, server.persist, [])
        return reply(found, f"Jupyter server job {server.job_id} on {c.name} cancelled; notebooks stay in "
                            f"{server.notebook_dir}")
