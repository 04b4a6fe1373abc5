"""Compact text renderings of tool results, sized for an agent's context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import JobDetails, JobRecord, Node, Page, Partition
from ..validate import format_minutes

if TYPE_CHECKING:
    from ..services.cluster import SubmitResult
    from ..services.files import FileContent
    from ..services.resources import GpuPool
    from ..services.shell import ShellResult
    from .outputs import ClusterStatus, JobSummary, JobSummaryRow


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def _page_head(page: Page[Any], noun: str) -> str:
    shown = len(page.items)
    head = f"{shown} of {page.total} {noun} (offset {page.offset}); by state: {_counts(page.counts)}"
    if page.next_offset is not None:
        head += f". More: offset={page.next_offset}"
    return head


def _table(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def cluster_status(s: ClusterStatus) -> str:
    lines = [(f"cluster {s.cluster} (Slurm {s.scheduler_version}): GPUs {s.gpus_allocated}/{s.gpus_total} "
             f"allocated; nodes {_counts(s.nodes_by_state)}; jobs {_counts(s.jobs_by_state)}")]
    rows = [["PARTITION", "KIND", "STATE", "MAXTIME", "NODES", "CPUS(alloc/total)", "GPUS(alloc/total)"]]
    for p in s.partitions:
        rows.append([p.name + ("*" if p.is_default else ""), p.kind, p.state, p.max_time,
                     f"{p.nodes_total} ({_counts(p.nodes_by_state)})", f"{p.cpus_allocated}/{p.cpus_total}",
                     f"{p.gpus_allocated}/{p.gpus_total} {','.join(p.gpu_types)}".strip()])
    return lines[0] + "\n" + _table(rows)


def partitions(parts: list[Partition], types: dict[str, list[str]]) -> str:
    rows = [["PARTITION", "STATE", "MAXTIME", "NODES", "CPUS", "GPUS", "NODELIST"]]
    for p in parts:
        rows.append([p.name + ("*" if p.is_default else ""), p.state, format_minutes(p.max_time_minutes),
                     str(p.total_nodes), str(p.total_cpus),
                     f"{p.total_gpus} {','.join(types.get(p.name, []))}".strip(), p.node_list])
    return _table(rows) + "\n(* = default partition)"


def nodes_page(page: Page[Node]) -> str:
    rows = [["NODE", "STATE", "CPUS(a/t)", "MEM_MB(a/t)", "GPUS(used/total)", "PARTITIONS", "REASON"]]
    for n in page.items:
        state = n.state + ("+" + "+".join(n.flags) if n.flags else "")
        gpus = ",".join(str(g) for g in n.gpus)
        rows.append([n.name, state, f"{n.cpus_alloc}/{n.cpus_total}", f"{n.memory_alloc_mb}/{n.memory_mb}",
                     f"{n.gpu_used}/{n.gpu_total} {gpus}".strip() if n.gpus else "-", ",".join(n.partitions),
                     n.reason or ""])
    return _page_head(page, "nodes") + "\n" + _table(rows)


def _pools(pools: list[GpuPool]) -> str:
    rows = [["PARTITION", "TYPE", "FREE", "ALLOC", "UNAVAIL", "TOTAL", "MAX/NODE", "BEST_NODE_FREE"]]
    for p in pools:
        rows.append([p.partition, p.gpu_type, str(p.free), str(p.allocated), str(p.unavailable), str(p.total),
                     str(p.max_per_node), str(p.largest_free_on_one_node)])
    return _table(rows)


def gpu_info(by_type: dict[str, int], pools: list[GpuPool], nodes: list[Node]) -> str:
    head = "GPUs: " + (", ".join(f"{n} x {t}" for t, n in by_type.items()) or "none")
    node_lines = [f"  {n.name}: {','.join(str(g) for g in n.gpus)} ({n.gpu_used} in use, {n.state})"
                  for n in nodes[:50]]
    more = [f"  ... {len(nodes) - 50} more nodes"] if len(nodes) > 50 else []
    return "\n".join([head, _pools(pools), "nodes:", *node_lines, *more])


def gpu_availability(pools: list[GpuPool], free: dict[str, int], min_gpus: int | None) -> str:
    head = "free now: " + (", ".join(f"{n} x {t}" for t, n in free.items()) or "no GPUs free")
    if min_gpus:
        head += f"; pools with >= {min_gpus} free: {len(pools)}"
    return head + "\n" + (_pools(pools) if pools else "(no matching GPU pools)")


def jobs_page(page: Page[JobSummaryRow], cluster: str, unreachable: dict[str, str] | None = None) -> str:
    """One cluster's page, or with cluster '*' every cluster's (a CLUSTER column; who did not answer)."""
    many = cluster == "*"
    rows = [[*(["CLUSTER"] if many else []), "JOBID", "STATE", "USER", "PARTITION", "NODES", "GPUS", "TIME/LIMIT",
             "NAME", "NODELIST/REASON"]]
    for j in page.items:
        rows.append([*([j.cluster] if many else []), j.job_id, j.state, j.user, j.partition, str(j.nodes),
                     j.gpus or "-", f"{j.time_used}/{j.time_limit}", j.name[:40], j.where_or_why[:60]])
    watched = [f"  {j.job_id}: " + " | ".join(x for x in (j.progress, j.trouble and f"TROUBLE {j.trouble}") if x)
               for j in page.items if j.progress or j.trouble]  # running jobs' output (progress_look)
    missing = [f"{name} did not answer: {why}" for name, why in (unreachable or {}).items()]
    return (f"[{cluster}] " + _page_head(page, "jobs") + ("\n" + "\n".join(missing) if missing else "")
            + ("\n" + _table(rows) if page.items else "") + ("\n" + "\n".join(watched) if watched else ""))


def job_details(d: JobDetails) -> str:
    j = d.job
    lines = [
        f"job {j.job_id} '{j.name}' user={j.user} state={j.state.value} ({j.native_state}) source={d.source}",
        (f"partition={j.partition} account={j.account} qos={j.qos} nodes={j.num_nodes} cpus={j.num_cpus} "
        f"gpus={','.join(str(g) for g in j.gpus) or '-'}{' idx=' + d.gpu_indices if d.gpu_indices else ''}"),
        (f"time used={j.time_used} limit={j.time_limit} submit={j.submit_time} start={j.start_time or '-'} "
        f"end={d.end_time or '-'}"),
    ]
    if j.node_list:
        lines.append(f"nodes: {j.node_list}")
    if j.reason:
        lines.append(f"reason: {j.reason}" + (f" -- {d.reason_explained}" if d.reason_explained else ""))
    if d.exit_code is not None and j.state.final:
        lines.append(f"exit code {d.exit_code}" + (f", killed by signal {d.signal}" if d.signal else ""))
    if d.dependency:
        lines.append(f"dependency: {d.dependency}")
    for label, value in (("workdir", d.work_dir), ("stdout", d.stdout_path), ("stderr", d.stderr_path),
                         ("tres", d.tres)):
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines)


def submitted(r: SubmitResult) -> str:
    taken = f"\nfrom the script's own directives: {', '.join(r.from_script)}" if r.from_script else ""
    taken += "".join(f"\nnote: {n}" for n in r.notes)
    if r.test_only:
        return (f"test only (nothing submitted) on {r.cluster}/{r.partition}: {r.scheduler_message}{taken}"
                f"\n--- effective script ---\n{r.script}")
    return f"submitted job {r.job_id} to {r.cluster}/{r.partition}{taken}\n--- script ---\n{r.script}"


def history_page(page: Page[JobRecord]) -> str:
    rows = [["JOBID", "STATE", "EXIT", "PARTITION", "ELAPSED", "START", "END", "NAME"]]
    for r in page.items:
        code = "-" if r.exit_code is None else f"{r.exit_code}" + (f"/sig{r.signal}" if r.signal else "")
        rows.append([r.job_id, r.state.value, code, r.partition, r.elapsed, r.start_time or "-",
                     r.end_time or "-", r.name[:40]])
    text = _page_head(page, "jobs in accounting") + "\n" + _table(rows)
    if len(page.items) == 1 and page.items[0].steps:
        text += "\nsteps: " + "; ".join(f"{s.step_id} {s.state.value} exit={s.exit_code}"
                                         + (f" sig={s.signal}" if s.signal else "") for s in page.items[0].steps)
    return text


def job_summary(s: JobSummary) -> str:
    lines = [f"[{s.cluster}] {s.total} jobs: {_counts(s.by_state)}", "by partition:"]
    lines += [f"  {p}: {_counts(c)}" for p, c in s.by_partition.items()]
    lines.append(f"by user (top {s.users_shown} of {s.users_total}):")
    lines += [f"  {u}: {_counts(c)}" for u, c in s.by_user.items()]
    return "\n".join(lines)


def file_content(f: FileContent) -> str:
    head = f"{f.path} ({f.note})"
    if f.truncated:
        head += " [TRUNCATED]"
    return head + "\n" + f.content


def shell_result(r: ShellResult) -> str:
    text = f"exit {r.exit_status}" + (" [output truncated to the last 32 KB]" if r.truncated else "")
    if r.stdout:
        text += "\n--- stdout ---\n" + r.stdout
    if r.stderr:
        text += "\n--- stderr ---\n" + r.stderr
    return text
