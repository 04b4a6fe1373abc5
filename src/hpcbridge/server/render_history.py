"""Compact text of the history tools (the structured content carries every field)."""

from __future__ import annotations

from typing import Any

from ..history.logbook import Entry, EntryLine
from ..history.queries import ClusterSummary, HistoryJob, JobFacts, Project, RunView, UsagePoint
from ..models import Page


def _more(page: Page[object]) -> str:
    return f" (more: offset={page.next_offset})" if page.next_offset is not None else ""


def _job(j: HistoryJob) -> str:
    end = f" exit={j.exit_code}" if j.exit_code is not None else ""
    sig = f" signal={j.signal}" if j.signal else ""
    gpus = f" gpus={j.gpus}{':' + j.gpu_type if j.gpu_type else ''}" if j.gpus else ""
    cause = f" cause={j.cause}" if j.cause else ""
    return (f"{j.cluster}:{j.job_id} {j.state}{end}{sig} {j.name!r} user={j.user} part={j.partition}{gpus} "
            f"submit={j.submit_time or '?'}{' end=' + j.end_time if j.end_time else ''}{cause}")


def jobs(page: Page[HistoryJob]) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(page.counts.items()))
    head = f"{page.total} job(s){': ' + counts if counts else ''}; showing {len(page.items)}{_more(page)}"  # type: ignore[arg-type]
    return "\n".join([head, *(_job(j) for j in page.items)])


def facts(f: JobFacts) -> str:
    lines = [_job(f.job), f"work_dir={f.work_dir} stdout={f.stdout_path} stderr={f.stderr_path}"]
    if f.job.dependency:
        lines.append(f"dependency={f.job.dependency}")
    if f.job.diagnosis:
        lines.append(f"diagnosis: {f.job.diagnosis}")
    lines.append("states: " + " -> ".join(s for _, s, _ in f.transitions))
    if f.provenance:
        p = f.provenance
        git = (f"git {p.git_commit[:12]}" + (f", {p.git_dirty} changed path(s)" if p.git_dirty else ", clean")
               if p.git_commit else "not a git repository")
        lines.append(f"submitted by {p.tool} ({p.principal}) from {p.host}; {p.directory or '-'}: {git}")
    if f.script:
        lines.append("script" + (" (cut)" if f.script_truncated else "") + ":\n" + f.script)
    return "\n".join(lines)


def run(view: RunView) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(view.counts.items()))
    head = f"run {view.name!r} on {view.cluster} (project {view.project or '-'}): {view.jobs.total} job(s): {counts}"
    return "\n".join([head + _more(view.jobs), *(_job(j) for j in view.jobs.items)])  # type: ignore[arg-type]


def projects(page: Page[Project]) -> str:
    lines = [f"{page.total} project(s){_more(page)}"]  # type: ignore[arg-type]
    lines += [f"{p.name}: {p.jobs} jobs in {p.runs} runs, last {p.last_submit}; "
              + ", ".join(f"{k} {v}" for k, v in sorted(p.counts.items())) for p in page.items]
    return "\n".join(lines)


def usage(points: list[UsagePoint]) -> str:
    if not points:
        return "no GPU samples recorded yet (they are taken while hpcbridge is in use)"
    return "\n".join(["at total allocated mine account",
                      *(f"{p.at} {p.total:g} {p.allocated:g} {p.mine:g} {p.account:g}" for p in points)])


def summary(rows: list[ClusterSummary]) -> str:
    out = []
    for s in rows:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(s.counts.items())) or "no jobs"
        state = f"UNREACHABLE: {s.unreachable}" if s.unreachable else f"last answered {s.last_seen or 'never'}"
        out.append(f"{s.cluster}: {counts}; {state}")
    return "\n".join(out)


def cancelled(result: Any) -> str:
    done, failed = result.cancelled, result.failed
    text = f"cancelled {len(done)}: {', '.join(done)}" if done else "cancelled none"
    return text + ("; failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items()) if failed else "")


def entry(e: Entry) -> str:
    refs = []
    if e.runs:
        refs.append("runs: " + ", ".join(e.runs))
    if e.missing_runs:
        refs.append("unknown runs: " + ", ".join(e.missing_runs))
    if e.entries:
        refs.append("entries: " + ", ".join(f"#{i} {t}" for i, t in e.entries.items()))
    by = f"by {e.author}" + (f", last changed by {e.updated_by}" if e.updated_by != e.author else "")
    return "\n".join([f"#{e.id} [{e.kind}] {e.title} (project {e.project}, {by}, updated {e.updated})", *refs, "",
                      e.body])


def entries(page: Page[EntryLine]) -> str:
    return "\n".join([f"{page.total} entr{'y' if page.total == 1 else 'ies'}{_more(page)}",  # type: ignore[arg-type]
                      *(f"#{e.id} [{e.kind}] {e.project}: {e.title} ({e.updated})" for e in page.items)])
