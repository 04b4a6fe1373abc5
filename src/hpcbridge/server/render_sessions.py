"""Text renderings for interactive commands, sessions and profiles."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..services.interactive import CommandOutput, SessionInfo
    from ..services.profiles import Profile


def output(o: CommandOutput) -> str:
    head = f"exit {o.exit_status} in {o.seconds:.1f}s" + (" [output truncated to the last 32 KB]" if o.truncated else "")
    parts = [head]
    if o.stdout:
        parts.append("--- stdout ---\n" + o.stdout.rstrip("\n"))
    if o.stderr:
        parts.append("--- stderr ---\n" + o.stderr.rstrip("\n"))
    return "\n".join(parts)


def session(s: SessionInfo) -> str:
    gpus = f", {s.gpus_per_node} GPU/node" if s.gpus_per_node else ""
    lines = [f"session {s.session_id} '{s.name}' [{s.status}] job {s.job_id or '-'} on {s.cluster}/{s.partition}: "
             f"{s.nodes} node(s){gpus}, limit {s.time_limit}" + (f", {s.time_left} left" if s.time_left else "")]
    if s.node_list:
        lines.append(f"nodes: {s.node_list}")
    if s.container_image:
        lines.append(f"container: {s.container_image}")
    if s.pending_reason:
        lines.append(f"pending: {s.pending_reason}")
    if s.note:
        lines.append(f"note: {s.note}")
    lines += [f"  $ {c['command'][:80]}  -> exit {c['exit_status']} ({c['seconds']}s)" for c in s.recent_commands[:5]]
    return "\n".join(lines)


def sessions(found: list[SessionInfo]) -> str:
    if not found:
        return "no interactive sessions"
    return "\n".join(session(s).splitlines()[0] for s in found)


def profile_line(p: Profile) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in p.settings.items() if v not in (None, ""))
    return f"{p.name}{' (built-in)' if p.built_in else ''}: {settings}"
