"""Metric series users already write: TensorBoard event files, JSONL/CSV logs (issue 27): get_job_metrics,
in the `watch` toolset. The answer is a compact table plus a PNG chart as image content."""

from __future__ import annotations

import base64
from typing import Annotated

from fastmcp.tools.base import ToolResult
from mcp.types import ImageContent, TextContent
from pydantic import Field, TypeAdapter

from ..services import metrics
from ..services.metrics import JobMetrics
from ..watch import chart
from ..watch.metrics import DEFAULT_MAX_POINTS, table
from .params import ClusterArg
from .toolkit import ToolKit


def _text(m: JobMetrics) -> str:
    where = f"job {m.job_id} in {m.work_dir}" if m.job_id else "given files"
    lines = [f"metrics of {where}: {m.total_series} series from {len(m.files)} files"]
    for f in m.files:
        extra = f" ({f.note})" if f.note else ""
        lines.append(f"  {f.path} [{f.kind}, {f.size_bytes} B, {f.series} series]{extra}")
    lines.append(table(m.series))
    if m.note:
        lines.append(m.note)
    return "\n".join(lines)


def register(kit: ToolKit) -> None:
    """Adds this part's tools to the `watch` toolset."""
    registry = kit.registry
    adapter = TypeAdapter(JobMetrics)

    @kit.tool(read_only=True, output=JobMetrics, title="Metric series of a job")
    async def get_job_metrics(
        job_id: Annotated[str | int | None, Field(description="The job whose working directory holds its "
                                                                "metric files")] = None,
        paths: Annotated[list[str] | None, Field(description="Or: metric files (events.out.tfevents.*, .jsonl, "
                                                             ".csv) or folders holding them; relative to the "
                                                             "job's work dir",
                                                 max_length=12)] = None,
        series: Annotated[str | None, Field(description="Regex on series names, e.g. 'loss|acc'")] = None,
        max_points: Annotated[int, Field(description="Points per series returned (downsampled, min/max "
                                                     "kept)", ge=2, le=5000)] = DEFAULT_MAX_POINTS,
        chart_png: Annotated[bool, Field(description="Add a PNG line chart (image content)")] = True,
        max_bytes: Annotated[int, Field(description="Bytes read per file (its head)", ge=1,
                                        le=metrics.MAX_BYTES_LIMIT)] = metrics.DEFAULT_MAX_BYTES,
        cluster: ClusterArg = None,
    ) -> ToolResult:
        """Scalar series (loss, accuracy, lr...) from TensorBoard event files and JSONL/CSV metric logs in a
        job's working directory or at given paths: per series points, step range, min, max, last, and a
        PNG chart."""
        c = registry.get(cluster)
        found = await metrics.job_metrics(c, str(job_id) if job_id is not None else None, paths, series,
                                          max_points, max_bytes)
        content: list[TextContent | ImageContent] = [TextContent(type="text", text=_text(found))]
        if chart_png and found.series:
            data = base64.b64encode(chart.png(found.series)).decode()
            content.append(ImageContent(type="image", data=data, mime_type="image/png"))
        return ToolResult(content=content, structured_content=adapter.dump_python(found, mode="json"))
