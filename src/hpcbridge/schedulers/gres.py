"""GPU counts from every GRES / TRES spelling Slurm prints.

    gpu:a100:4(S:0-1)      node Gres (socket affinity suffix)
    gpu:a100:2(IDX:0-1)    node GresUsed / job GRES (device indices)
    gpu:4, gpu             untyped (count defaults to 1)
    gres:gpu:a100:3        old TresPerNode (<= 23.02)
    gres/gpu:1             new TresPerNode
    gres/gpu=4             TRES (AllocTRES, ReqTRES, CfgTRES), untyped total
    gres/gpu:a100=2        typed TRES (when AccountingStorageTRES lists the type)
    gpu:p100:2(S:0-1),tmp:1860G   several GRES, only gpu counts
"""

from __future__ import annotations

import re

from ..models import GpuCount

_EMPTY = {"", "(null)", "n/a", "none", "(none)"}


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses: 'gpu:a:1(S:0-1),gpu:b:2' -> two items."""
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return [i.strip() for i in items if i.strip()]


def _one(item: str) -> GpuCount | None:
    item = re.sub(r"\(.*\)$", "", item.strip())
    if item.startswith(("gres/", "gres:")):
        item = item[5:]
    if "=" in item:  # TRES form: gpu[:type]=N
        key, _, value = item.partition("=")
        parts = key.split(":")
        if parts[0] != "gpu":
            return None
        count = _count(value)
        return None if count is None else GpuCount(parts[1] if len(parts) > 1 and parts[1] else None, count)
    parts = item.split(":")
    if parts[0] != "gpu":
        return None
    if len(parts) == 1:
        return GpuCount(None, 1)
    if len(parts) == 2:
        count = _count(parts[1])
        # 'gpu:a100' (type, no count) vs 'gpu:4' (count, no type)
        return GpuCount(None, count) if count is not None else GpuCount(parts[1], 1)
    count = _count(parts[-1])
    return GpuCount(":".join(parts[1:-1]) or None, count if count is not None else 0)


def _count(text: str) -> int | None:
    m = re.match(r"^\s*([0-9]+)([KMG]?)\s*$", text)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]


def parse_gpus(text: str | None) -> tuple[GpuCount, ...]:
    """All GPU counts in a GRES or TRES string, merged by type. Typed entries win over an untyped total."""
    if text is None or text.strip().lower() in _EMPTY:
        return ()
    found = [g for g in (_one(i) for i in split_top_level(text)) if g is not None]
    typed = [g for g in found if g.type]
    chosen = typed if typed else found
    merged: dict[str | None, int] = {}
    for g in chosen:
        merged[g.type] = merged.get(g.type, 0) + g.count
    return tuple(GpuCount(t, c) for t, c in merged.items() if c > 0)


def gpu_indices(text: str | None) -> str:
    """Device indices from 'gpu:a100:2(IDX:0-1)' -> '0-1' ('' when absent)."""
    if not text:
        return ""
    found = re.findall(r"IDX:([0-9,\-]+)", text)
    return ",".join(found)


def total(gpus: tuple[GpuCount, ...]) -> int:
    return sum(g.count for g in gpus)
