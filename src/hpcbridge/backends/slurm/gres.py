"""GPU counts from every GRES / TRES spelling Slurm prints. One parser for every reader (scontrol text,
squeue/sinfo/sacct text and JSON).

    gpu:a100:4(S:0-1)          node Gres (socket affinity suffix)
    gpu:4(S:0-1)               untyped node Gres
    gpu:a100:2(IDX:0-1)        node GresUsed / job GRES (device indices)
    gpu:(null):3(IDX:0-2)      untyped devices in GresUsed (21.08-23.x print the missing type as (null))
    gpu:(null):0(IDX:N/A)      an idle untyped node
    gpu:a100:no_consume:2      flags between type and count (gres.conf Flags)
    gpu:4, gpu                 untyped (count defaults to 1)
    gres:gpu:a100:3            old TresPerNode / TresPerJob (<= 23.02)
    gres/gpu:1                 new TresPerNode
    gres/gpu=4                 TRES (AllocTRES, ReqTRES, CfgTRES), untyped total
    gres/gpu:a100=2            typed TRES (when AccountingStorageTRES lists the type)
    gres/gpu=8,gres/gpu:a100=4 typed and untyped together: the untyped entry is the total
    gpu:a100_3g.20gb:7         MIG profiles are types like any other
    gpu:p100:2(S:0-1),tmp:1860G   several GRES, only gpu counts
"""

from __future__ import annotations

import functools
import re

from ...models import GpuCount

_EMPTY = {"", "(null)", "n/a", "none", "(none)"}
_NULL_TYPES = {"(null)", "null", ""}
_FLAGS = {"no_consume"}
_SUFFIX = re.compile(r"\([^()]*\)$")  # (S:0-1), (IDX:0-2), (IDX:N/A): affinity/indices, never a count


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses: 'gpu:a:1(S:0-1),gpu:b:2(IDX:0,2)' -> two items."""
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


def _one(item: str) -> tuple[GpuCount, bool] | None:
    """One GRES/TRES item -> (count, explicit): explicit is False for an untyped entry that may be a total
    of typed entries beside it ('gres/gpu=8'), True for devices named untyped ('gpu:(null):3')."""
    item = _SUFFIX.sub("", item.strip()).strip()
    if item.startswith(("gres/", "gres:")):
        item = item[5:]
    if "=" in item:  # TRES form: gpu[:type]=N
        key, _, value = item.partition("=")
        parts = key.split(":")
        count = _count(value)
        if parts[0] != "gpu" or count is None:
            return None
        kind = ":".join(parts[1:])
        return GpuCount(None if kind in _NULL_TYPES else kind, count), kind == "(null)"
    parts = [p for p in item.split(":") if p not in _FLAGS]
    if not parts or parts[0] != "gpu":
        return None
    if len(parts) == 1:
        return GpuCount(None, 1), False
    last = _count(parts[-1])
    if len(parts) == 2:
        # 'gpu:a100' (type, no count) vs 'gpu:4' (count, no type)
        return (GpuCount(None, last), False) if last is not None else (GpuCount(_type(parts[1]), 1), True)
    kind = ":".join(parts[1:-1])
    return GpuCount(_type(kind), last if last is not None else 0), kind in _NULL_TYPES


def _type(kind: str) -> str | None:
    return None if kind in _NULL_TYPES else kind


def _count(text: str) -> int | None:
    m = re.match(r"^\s*([0-9]+)([KMG]?)\s*$", text)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]


def parse_gpus(text: str | None) -> tuple[GpuCount, ...]:
    """All GPU counts in a GRES or TRES string, merged by type. Typed entries win over an untyped total;
    what the total has beyond the typed ones stays untyped ('gres/gpu=8,gres/gpu:a100=4' -> a100:4 + 4)."""
    if text is None or text.strip().lower() in _EMPTY:
        return ()
    found = [g for g in (_one(i) for i in split_top_level(text)) if g is not None]
    merged: dict[str | None, int] = {}
    for g, _explicit in found:
        if g.type:
            merged[g.type] = merged.get(g.type, 0) + g.count
    typed_sum = sum(merged.values())
    untyped_devices = sum(g.count for g, explicit in found if g.type is None and explicit)
    untyped_totals = sum(g.count for g, explicit in found if g.type is None and not explicit)
    rest = untyped_devices + (max(untyped_totals - typed_sum, 0) if merged else untyped_totals)
    if rest:
        merged[None] = rest
    return tuple(GpuCount(t, c) for t, c in merged.items() if c > 0)


def with_type_hint(gpus: tuple[GpuCount, ...], *hints: str | None) -> tuple[GpuCount, ...]:
    """An untyped TRES total ('gres/gpu=2') gets the type the job asked for ('gres:gpu:a100:2', JOB_GRES
    'gpu:a100:2(IDX:0-1)') when that names exactly one type."""
    if len(gpus) != 1 or gpus[0].type is not None:
        return gpus
    for hint in hints:
        typed = [g for g in parse_gpus(hint) if g.type]
        if len(typed) == 1:
            return (GpuCount(typed[0].type, gpus[0].count),)
    return gpus


# A 10,000-task array repeats one TRES string 10,000 times: parsed once (the answer is an immutable tuple)
@functools.lru_cache(maxsize=4096)
def job_gpus(alloc_tres: str | None, num_nodes: int, per_job: str | None = None, per_node: str | None = None,
             *hints: str | None) -> tuple[GpuCount, ...]:
    """A job's GPUs. The allocated (or, while pending, requested) TRES is the one place every request form
    lands: --gres, --gpus, --gpus-per-node and --gpus-per-task all show there, while squeue's %b
    (tres-per-node) is N/A for --gpus jobs. Without GPUs in the TRES (a site that does not account gres/gpu,
    or an old output) the request strings are counted instead: per job as is, per node times the nodes."""
    from_tres = parse_gpus(alloc_tres)
    if from_tres:
        return with_type_hint(from_tres, per_node, per_job, *hints)
    if parse_gpus(per_job):
        return parse_gpus(per_job)
    return tuple(GpuCount(g.type, g.count * max(num_nodes, 1)) for g in parse_gpus(per_node))


def gpu_indices(text: str | None) -> str:
    """Device indices from 'gpu:a100:2(IDX:0-1)' -> '0-1' ('' when absent or IDX:N/A)."""
    if not text:
        return ""
    found = re.findall(r"IDX:([0-9][0-9,\-]*)", text)
    return ",".join(found)


# `scontrol show job -d` prints one detail line per group of nodes with the same allocation:
#     Nodes=gpu1 CPU_IDs=0 Mem=500 GRES=gpu:a100:2(IDX:0-1)
#     Nodes=gpu[2-3] CPU_IDs=0-1 Mem=500 GRES=gpu:a100:4(IDX:0-3)
# and the JSON forms a `gres_detail` list with one entry per allocated node, in node order.
_DETAIL_LINE = re.compile(r"^[ \t]+Nodes=(\S+) .*?\bGRES=(\S+)", re.MULTILINE)


def detail_lines(record_text: str) -> list[tuple[str, str]]:
    """(nodes, GRES) of each detail line of one `scontrol show job -d` record."""
    return _DETAIL_LINE.findall(record_text)


def indices_per_node(pairs: list[tuple[str, str]]) -> str:
    """'0-1' for a job on one node (or one group of nodes sharing the same indices); 'gpu1:0-1 gpu2:2-3' when
    its nodes hold different devices, so the indices of a multi-node job are never read as one node's."""
    found = [(nodes, gpu_indices(text)) for nodes, text in pairs]
    found = [(nodes, idx) for nodes, idx in found if idx]
    if len({idx for _, idx in found}) <= 1 and len(found) <= 1:
        return found[0][1] if found else ""
    return " ".join(f"{nodes}:{idx}" for nodes, idx in found)


def total(gpus: tuple[GpuCount, ...]) -> int:
    return sum(g.count for g in gpus)
