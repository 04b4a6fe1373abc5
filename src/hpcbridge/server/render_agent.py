"""Text renderings for diagnosis, recommendations and waiting."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..diagnosis import Diagnosis
    from ..services.recommend import Need, Option, Unreachable
    from ..services.waiting import WaitResult


def diagnosis(d: Diagnosis) -> str:
    lines = [f"[{d.cause}] {d.summary}"]
    lines += [f"  evidence: {e}" for e in d.evidence]
    lines.append(f"next: {d.next_step}")
    return "\n".join(lines)


def need(n: Need) -> str:
    parts = [f"{n.gpus} x {n.gpu_type or 'GPU'}" if n.gpus else "CPU only", f"{n.nodes} node(s)"]
    parts += [p for p in (f"time {n.time_limit}" if n.time_limit else "", f"memory {n.memory}" if n.memory else "") if p]
    return ", ".join(parts)


def recommendation(need_text: str, options: list[Option], unreachable: list[Unreachable]) -> str:
    lines = [f"where to run {need_text}:"]
    for o in options:
        mark = ("now" if o.starts_now else "later") if o.feasible else "no"
        lines.append(f"  {o.rank}. {o.cluster}/{o.partition} [{mark}] {o.why}")
    lines += [f"  unreachable: {u.cluster} ({u.why})" for u in unreachable]
    return "\n".join(lines)


def waited(w: WaitResult, d: Diagnosis | None) -> str:
    path = " -> ".join(t.state for t in w.transitions) or "no state seen"
    head = (f"job {w.job_id}: {w.state} after {w.waited_s:.0f}s ({path})" if not w.timed_out
            else f"job {w.job_id}: still {w.state} after {w.waited_s:.0f}s (timed out; {path})")
    return head + ("\n" + diagnosis(d) if d else "")
