"""The notebook kept beside each kernel session, with nbformat: cells in, outputs recorded as the kernel sent
them (so the .ipynb opens in JupyterLab exactly as if run there). Pure: the service loads and saves it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, output_from_msg

from ..errors import InvalidParameter

CELL_TYPES = ("code", "markdown")


def empty() -> NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def loaded(data: dict[str, Any] | None) -> NotebookNode:
    return nbformat.from_dict(data) if data else empty()


def as_dict(nb: NotebookNode) -> dict[str, Any]:
    """Cells are built by nbformat's own constructors; the server validates what it saves (and the tests
    validate the file), so no schema check here: it costs milliseconds per cell on a long notebook."""
    return dict(nb)


def checked_index(nb: NotebookNode, index: int, parameter: str = "cell_index") -> int:
    """0-based; negative counts from the end as in Python."""
    count = len(nb.cells)
    if not -count <= index < count:
        raise InvalidParameter(parameter, str(index), f"0..{count - 1} (the notebook has {count} cells)"
                               if count else "no index: the notebook has no cells yet")
    return index % count


def add(nb: NotebookNode, source: str, cell_type: str, index: int | None = None) -> int:
    if cell_type not in CELL_TYPES:
        raise InvalidParameter("cell_type", repr(cell_type), "'code' or 'markdown'")
    cell = new_code_cell(source) if cell_type == "code" else new_markdown_cell(source)
    position = len(nb.cells) if index is None else (checked_index(nb, index) if nb.cells else 0)
    nb.cells.insert(position, cell)
    return position


def record(nb: NotebookNode, index: int, messages: list[dict[str, Any]], execution_count: int | None) -> None:
    """Replace a code cell's outputs by the outputs of the messages the kernel sent for it."""
    cell = nb.cells[index]
    outputs = []
    for msg in messages:
        try:
            outputs.append(output_from_msg(msg))
        except ValueError:
            continue  # not an output message
    cell.outputs = outputs
    cell.execution_count = execution_count


@dataclass(frozen=True)
class CellSummary:
    index: int
    cell_type: str
    source: str
    execution_count: int | None
    outputs: str  # a short description of what the cell holds


def summary(nb: NotebookNode, start: int = 0, limit: int = 50, source_cap: int = 2000) -> list[CellSummary]:
    found = []
    for i, cell in enumerate(nb.cells[start:start + limit], start):
        kinds = [o.get("output_type", "") for o in cell.get("outputs", [])]
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        images = sum(1 for o in cell.get("outputs", []) if any(k.startswith("image/") for k in o.get("data", {})))
        described = ", ".join(filter(None, [
            f"{len(text)} chars of text" if text else "", f"{images} image(s)" if images else "",
            "an error" if "error" in kinds else ""]))
        source = cell.source if len(cell.source) <= source_cap else cell.source[:source_cap] + "\n[... cut]"
        found.append(CellSummary(i, cell.cell_type, source, cell.get("execution_count"), described))
    return found
