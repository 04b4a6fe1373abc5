"""run_all_cells: after a server or kernel loss, re-run a notebook's saved code cells in order so the new
kernel holds the state the old one had (jlab-mcp's restore), stopping at the first cell that fails.

Each cell runs through Kernels.execute as rerun_notebook_cell runs it, so its outputs are written back to the
.ipynb by the normal path. The answer is capped: one short line per cell, and the failing cell's text (the
capped output with the error's last frames).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nbformat import NotebookNode

from ..services.cluster import Cluster
from .kernels import Executed, Kernels

Progress = Callable[[str], Awaitable[None]]
LINE_CAP = 120  # a cell's first line as quoted
TAIL_CAP = 160  # a cell's output as listed (its last characters)
FAIL_CAP = 4000  # the failing cell's output (the end kept)


@dataclass(frozen=True)
class CellRun:
    cell_index: int
    first_line: str
    status: str  # ok | error | aborted | interrupted
    execution_count: int | None
    output_tail: str


@dataclass(frozen=True)
class RunAll:
    notebook: str
    code_cells: int
    ran: list[CellRun]
    completed: bool
    failed_cell: int | None = None
    failed_first_line: str | None = None
    error_name: str | None = None
    error_value: str | None = None
    error_text: str = ""
    note: str = ""


def first_line(source: str) -> str:
    """The cell's first non-blank line, capped: how the answer names a cell besides its index."""
    line = next((x.strip() for x in source.splitlines() if x.strip()), "")
    return line if len(line) <= LINE_CAP else line[:LINE_CAP - 3] + "..."


def code_cells(nb: NotebookNode) -> list[int]:
    """Indices of the code cells that hold code, in notebook order (an empty cell has nothing to restore)."""
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.source.strip()]


def tail(text: str, cap: int) -> str:
    text = text.strip()
    return text if len(text) <= cap else "..." + text[-(cap - 3):]


def cell_run(index: int, source: str, done: Executed) -> CellRun:
    text, _ = done.output.rendered_text()
    status = "error" if done.output.error else done.status
    return CellRun(index, first_line(source), status, done.execution_count, tail(text, TAIL_CAP))


def finished(name: str, total: int, ran: list[CellRun], failed: Executed | None) -> RunAll:
    """The result: every cell ran, or where it stopped and why."""
    if failed is None:
        return RunAll(name, total, ran, True, note=f"{len(ran)} of {total} code cells ran in order without error")
    last = ran[-1]
    err = failed.output.error
    why = f"{err.name}: {err.value}" if err else last.status
    text, _ = failed.output.rendered_text(FAIL_CAP)
    return RunAll(name, total, ran, False, last.cell_index, last.first_line, err.name if err else None,
                  err.value if err else None, text,
                  f"stopped at cell {last.cell_index} ({last.first_line!r}), code cell {len(ran)} of {total}: "
                  f"{why}; the cells after it did not run")


def render(r: RunAll) -> str:
    lines = [f"{r.notebook}: {r.note}"]
    lines += [f"- cell {c.cell_index} [{c.execution_count or ' '}] {c.status}: {c.first_line}"
              + (f" -> {c.output_tail.splitlines()[-1]}" if c.output_tail and c.status == "ok" else "")
              for c in r.ran]
    if not r.completed and r.error_text:
        lines += [f"--- cell {r.failed_cell} output", r.error_text.rstrip()]
    return "\n".join(lines)


async def run_all(kernels: Kernels, c: Cluster, name: str, progress: Progress) -> RunAll:
    o, _ = await kernels.notebook(c, name, 0, 0)
    wanted = [(i, o.nb.cells[i].source) for i in code_cells(o.nb)]  # as saved when the call began
    ran: list[CellRun] = []
    for n, (index, source) in enumerate(wanted, 1):
        async def said(message: str, n: int = n, index: int = index) -> None:
            await progress(f"cell {index} ({n} of {len(wanted)}): {message}")

        await progress(f"running cell {index} ({n} of {len(wanted)}): {first_line(source)}")
        done = await kernels.execute(c, name, "", save=True, progress=said, cell_index=index)
        ran.append(cell_run(index, source, done))
        if ran[-1].status != "ok":
            return finished(name, len(wanted), ran, done)
    return finished(name, len(wanted), ran, None)
