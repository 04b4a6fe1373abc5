"""Live resource use of a running job: the probe run on each of its nodes, and readers of what it prints.

Pure: a backend runs PROBE inside the allocation (Slurm: one `srun --overlap` step over all nodes; PBS: on
the job's exec host) and the scheduler's own accounting (sstat, qstat -f), and hands the text here.

nvidia-smi's query form (nvidia-smi(1), `nvidia-smi --help-query-gpu`): with
`--query-gpu=index,name,... --format=csv,noheader,nounits` it prints one line per GPU, the fields in the order
asked, separated by ", ", without header or units (MiB, W, degrees C, %); a value the GPU cannot give is
"[N/A]" or "[Not Supported]".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

GPU_FIELDS = ("index", "name", "utilization.gpu", "memory.used", "memory.total", "power.draw", "temperature.gpu")
TOOL_SECONDS = 10  # each node's GPU tool is stopped after this (a hung driver must not hang the call)
OUTPUT_CAP = 16384  # bytes of a GPU tool's answer kept per node

# Printed per node; markers start with "@@" (no GPU tool prints that at a line start). CUDA_VISIBLE_DEVICES
# is printed as "-" when unset: a step of a job without GPUs has none (Slurm sets it for every GPU step).
PROBE = f"""n=${{SLURMD_NODENAME:-$(hostname -s)}}
echo "@@node $n"
echo "@@visible ${{CUDA_VISIBLE_DEVICES--}}"
if command -v nvidia-smi >/dev/null 2>&1; then
  echo "@@tool nvidia-smi"
  timeout {TOOL_SECONDS} nvidia-smi --query-gpu={",".join(GPU_FIELDS)} --format=csv,noheader,nounits 2>&1 \\
    | head -c {OUTPUT_CAP}
  s=${{PIPESTATUS[0]}}; echo; echo "@@exit $s"
elif command -v rocm-smi >/dev/null 2>&1; then
  echo "@@tool rocm-smi"
  timeout {TOOL_SECONDS} rocm-smi --showuse --showmeminfo vram --showtemp --showpower --showproductname \\
    --json 2>&1 | head -c {OUTPUT_CAP * 4}
  s=${{PIPESTATUS[0]}}; echo; echo "@@exit $s"
else
  echo "@@tool none"
fi
"""


@dataclass(frozen=True)
class GpuStat:
    index: int | None
    model: str
    utilization_percent: float | None
    memory_used_mib: float | None
    memory_total_mib: float | None
    power_watts: float | None
    temperature_c: float | None


@dataclass(frozen=True)
class NodeStats:
    node: str
    gpus: list[GpuStat] = field(default_factory=list)
    gpu_tool: str = ""  # nvidia-smi | rocm-smi | '' (none found)
    note: str = ""  # why there are no GPU figures, in one line
    visible: str = "-"  # CUDA_VISIBLE_DEVICES as the probe saw it ("-": unset)
    cpu_seconds: float | None = None  # CPU time of the job's processes on this node so far
    rss_bytes: int | None = None  # their resident memory now
    cpu_percent: float | None = None  # as the scheduler computes it (PBS cpupercent), when it does


@dataclass(frozen=True)
class StepUse:
    """One running step as sstat reports it (Slurm)."""

    step: str
    nodes: str
    tasks: int
    cpu_seconds: float | None
    rss_bytes: int | None  # summed over the step's tasks (TRESUsageInTot mem)
    max_rss_bytes: int | None
    max_rss_node: str


@dataclass(frozen=True)
class ResourceUse:
    """What a backend read about a running job: per node (GPUs, CPU, RSS), per step, and how."""

    nodes: list[NodeStats]
    steps: list[StepUse] = field(default_factory=list)
    cpu_source: str = ""
    gpu_source: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobStats:
    cluster: str
    job_id: str
    state: str
    sampled_at: str  # ISO 8601, UTC
    nodes: list[NodeStats]
    steps: list[StepUse] = field(default_factory=list)
    gpu_count: int = 0
    cpus: int = 0
    elapsed_seconds: int | None = None
    cpu_percent: float | None = None  # CPU time / (elapsed x CPUs), the average since the job started
    cpu_source: str = ""  # "sstat", "qstat -f resources_used"
    gpu_source: str = ""  # how the GPUs were read ("srun --overlap step", "ssh to the exec host", ...)
    notes: list[str] = field(default_factory=list)


def not_probed(step: str, cpu_source: str) -> str:
    """The note of an answer read without the probe (a read_only cluster: see Cluster.resource_use)."""
    return (f"read_only = true: nothing is started inside the job ({step}), so GPU use is not shown; "
            f"CPU time and memory are what {cpu_source} reports")


def unprobed_nodes(hosts: list[str], has_gpus: bool) -> list[NodeStats]:
    """The job's nodes, without GPU figures, for an answer read without the probe."""
    note = "GPU use not read on a read_only cluster" if has_gpus else "the job has no GPUs"
    return [NodeStats(h, note=note) for h in hosts or ["?"]]


def _number(text: str) -> float | None:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return None  # [N/A], [Not Supported], [Unknown Error]


def parse_nvidia_csv(text: str) -> list[GpuStat]:
    """nvidia-smi's rows for GPU_FIELDS; lines that are not rows (warnings) are skipped."""
    gpus = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(", ")]
        if len(cells) != len(GPU_FIELDS) or not cells[0].isdigit():
            continue
        index, name, util, used, total, power, temp = cells
        gpus.append(GpuStat(int(index), name, _number(util), _number(used), _number(total), _number(power),
                            _number(temp)))
    return gpus


def _rocm_value(card: dict[str, object], *words: str) -> str:
    """The first value whose key holds every word (rocm-smi's keys vary between releases)."""
    for key, value in card.items():
        if all(w.lower() in key.lower() for w in words):
            return str(value)
    return ""


def parse_rocm_json(text: str) -> list[GpuStat]:
    """rocm-smi --showuse --showmeminfo vram --showtemp --showpower --showproductname --json:
    {"card0": {"GPU use (%)": "12", "VRAM Total Memory (B)": "...", "VRAM Total Used Memory (B)": "...",
    "Temperature (Sensor edge) (C)": "40.0", "Average Graphics Package Power (W)": "35.0", "Card series": ...}}"""
    start = text.find("{")
    try:
        data = json.loads(text[start:]) if start >= 0 else {}
    except json.JSONDecodeError:
        return []
    gpus = []
    for key, card in data.items() if isinstance(data, dict) else ():
        found = re.fullmatch(r"card(\d+)", key)
        if not found or not isinstance(card, dict):
            continue
        total, used = _number(_rocm_value(card, "vram total memory")), _number(_rocm_value(card, "vram total used"))
        mib = 1024 * 1024
        gpus.append(GpuStat(
            int(found.group(1)), _rocm_value(card, "card series") or _rocm_value(card, "card model") or "AMD GPU",
            _number(_rocm_value(card, "gpu use")), used / mib if used is not None else None,
            total / mib if total is not None else None, _number(_rocm_value(card, "power", "(w)")),
            _number(_rocm_value(card, "temperature"))))
    return gpus


def _task_lines(text: str) -> dict[str, list[str]]:
    """srun --label prefixes each line with 'TASK: '; unlabelled text (one node) is task ''."""
    tasks: dict[str, list[str]] = {}
    for line in text.splitlines():
        found = re.match(r"\s*(\d+): ?(.*)", line)
        task, rest = (found.group(1), found.group(2)) if found else ("", line)
        tasks.setdefault(task, []).append(rest)
    return tasks


def parse_probe(text: str) -> list[NodeStats]:
    """PROBE's answer from one or many nodes: the GPUs each node's tool lists, or why there are none."""
    nodes = []
    for lines in _task_lines(text).values():
        node, visible, tool, status, body = "", "-", "", "", []
        for line in lines:
            if line.startswith("@@node "):
                node = line[7:].strip()
            elif line.startswith("@@visible "):
                visible = line[10:].strip()
            elif line.startswith("@@tool "):
                tool = line[7:].strip()
            elif line.startswith("@@exit "):
                status = line[7:].strip()
            elif tool:
                body.append(line)
        if not node:
            continue
        answer = "\n".join(body)
        gpus = parse_nvidia_csv(answer) if tool == "nvidia-smi" else parse_rocm_json(answer) if tool == "rocm-smi" else []
        note = ""
        if tool == "none":
            note = f"no GPU tool (nvidia-smi, rocm-smi) on {node}: GPU use not available"
        elif not gpus and status not in ("", "0"):
            said = next((b.strip() for b in body if b.strip()), f"exit status {status}")
            timed = status == "124"
            note = f"{tool} on {node} " + (f"did not answer within {TOOL_SECONDS}s" if timed else f"failed: {said[:200]}")
        nodes.append(NodeStats(node, gpus, "" if tool == "none" else tool, note, visible))
    return nodes


def _indices(text: str) -> set[int] | None:
    """'0,1' / '0-1,3' -> {0, 1, 3}; None when it is not a list of indices (UUIDs, MIG ids, '-')."""
    found: set[int] = set()
    for part in text.split(","):
        bounds = part.strip().split("-")
        if not all(b.isdigit() for b in bounds) or len(bounds) > 2:
            return None
        found.update(range(int(bounds[0]), int(bounds[-1]) + 1))
    return found


def job_gpus(node: NodeStats, has_gpus: bool, job_indices: str = "") -> NodeStats:
    """Keep the job's GPUs of what the node's tool listed. A node that does not confine devices (no cgroup
    device constraint) lists all its GPUs: they are narrowed to CUDA_VISIBLE_DEVICES (Slurm sets it in every
    step of a GPU job), else to the scheduler's indices for the job, else kept with a note."""
    if not has_gpus:
        return NodeStats(node.node, [], node.gpu_tool, "the job has no GPUs", node.visible)
    keep = _indices(node.visible) if node.visible != "-" else _indices(job_indices) if job_indices else None
    gpus = node.gpus
    if keep is not None and len(gpus) > len(keep):
        gpus = [g for g in gpus if g.index in keep]
    note = node.note
    if gpus and keep is None and not note:
        note = "the node does not say which GPUs are the job's: all GPUs its tool lists are shown"
    return NodeStats(node.node, gpus, node.gpu_tool, note, node.visible, node.cpu_seconds, node.rss_bytes,
                     node.cpu_percent)


_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def memory_bytes(text: str) -> int | None:
    """'2980K', '1.5G', '123' (bytes; sstat's TRES mem= carries a unit), '12kb' (PBS) -> bytes."""
    found = re.fullmatch(r"\s*([0-9.]+)\s*([KMGTP]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not found:
        return None
    return int(float(found.group(1)) * _UNITS[found.group(2).upper()])


def cpu_seconds(text: str) -> float | None:
    """Slurm's and PBS's CPU times: [D-][HH:]MM:SS[.fff] -> seconds."""
    found = re.fullmatch(r"\s*(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)\s*", text)
    if not found:
        return None
    days, hours, minutes, seconds = found.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def _tres(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(",") if "=" in item)


SSTAT_FIELDS = ("JobID", "NodeList", "NTasks", "MaxRSS", "MaxRSSNode", "TRESUsageInTot")


def parse_sstat(text: str) -> list[StepUse]:
    """`sstat -a -j J -P -n --format=SSTAT_FIELDS` rows; TRESUsageInTot is last (it holds no '|')."""
    steps = []
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) < len(SSTAT_FIELDS):
            continue
        step, nodes, tasks, max_rss, max_node, tres = cells[:5] + ["|".join(cells[5:])]
        use = _tres(tres)
        steps.append(StepUse(step, nodes, int(tasks) if tasks.isdigit() else 0, cpu_seconds(use.get("cpu", "")),
                             memory_bytes(use.get("mem", "")), memory_bytes(max_rss), max_node))
    return steps


def with_steps(nodes: list[NodeStats], steps: list[StepUse]) -> list[NodeStats]:
    """CPU time and RSS of the steps that run on one node alone, summed onto that node."""
    out = []
    for node in nodes:
        mine = [s for s in steps if s.nodes == node.node]
        cpu = sum(s.cpu_seconds or 0.0 for s in mine) if mine else None
        rss = sum(s.rss_bytes or 0 for s in mine) if mine else None
        out.append(NodeStats(node.node, node.gpus, node.gpu_tool, node.note, node.visible, cpu, rss,
                             node.cpu_percent))
    return out
