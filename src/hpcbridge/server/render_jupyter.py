"""Text and image content of the Jupyter tools: what the model reads (and sees)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from mcp.types import ImageContent, TextContent

from ..jupyter.kernels import Executed, SessionView
from ..jupyter.notebook import CellSummary
from ..jupyter.servers import Server


@dataclass(frozen=True)
class ImageInfo:
    mime: str
    width: int
    height: int
    scaled_from: list[int] | None = None


@dataclass(frozen=True)
class ExecutionResult:
    notebook: str
    cell_index: int | None
    execution_count: int | None
    status: str
    text: str
    truncated: bool
    error_name: str | None
    error_value: str | None
    images: list[ImageInfo] = field(default_factory=list)
    seconds: float = 0.0


def execution(e: Executed) -> tuple[ExecutionResult, list[TextContent | ImageContent]]:
    text, cut = e.output.rendered_text()
    err = e.output.error
    result = ExecutionResult(
        e.notebook, e.cell_index, e.execution_count, "error" if err else e.status, text, cut,
        err.name if err else None, err.value if err else None,
        [ImageInfo(i.mime, i.width, i.height, list(i.scaled_from) if i.scaled_from else None)
         for i in e.output.images], round(e.seconds, 3))
    where = f"cell {e.cell_index}" if e.cell_index is not None else "scratch (not saved)"
    head = f"[{e.notebook} {where}, {'error' if err else e.status}, {e.seconds:.2f}s"
    head += f", {len(e.output.images)} image(s)]" if e.output.images else "]"
    blocks: list[TextContent | ImageContent] = [TextContent(type="text", text=f"{head}\n{text}".rstrip())]
    for image in e.output.images:
        blocks.append(ImageContent(type="image", data=base64.b64encode(image.data).decode(), mime_type=image.mime))
    return result, blocks


def session(v: SessionView) -> str:
    cells = f", {v.cells} cells" if v.cells >= 0 else ""
    life = "persistent" if v.persistent else "ends with hpcbridge"
    text = (f"notebook {v.notebook} on {v.cluster}: kernel {v.kernel_state or 'starting'} on {v.node} "
            f"(job {v.job_id}, {life}){cells}\nfile: {v.path}")
    return text + (f"\n{v.note}" if v.note else "")


def sessions(server: Server | None, views: list[SessionView], cluster: str) -> str:
    if server is None:
        return f"no Jupyter server of yours runs on {cluster}; start_kernel_session starts one"
    head = (f"Jupyter server job {server.job_id} on {server.node} ({cluster}), "
            f"{'persistent' if server.persist else 'ends with hpcbridge'}; notebooks in {server.notebook_dir}")
    lines = [f"- {v.notebook}: kernel {v.kernel_state}" for v in views] or ["(no kernel sessions)"]
    return "\n".join([head, *lines])


def cells(name: str, total: int, found: list[CellSummary]) -> str:
    if not found:
        return f"{name}: {total} cells (none in this range)"
    lines = [f"{name}: cells {found[0].index}-{found[-1].index} of {total}"]
    for c in found:
        count = f" [{c.execution_count}]" if c.execution_count else ""
        lines.append(f"--- {c.index} {c.cell_type}{count}" + (f" -> {c.outputs}" if c.outputs else ""))
        lines.append(c.source)
    return "\n".join(lines)
