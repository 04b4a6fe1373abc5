"""toyq's argv and script builders. Pure."""

from __future__ import annotations

from hpcbridge.backends.directives import split_script
from hpcbridge.models import JobRequest
from hpcbridge.quoting import directive

PREFIX = "#TOYQ"


def version_argv() -> list[str]:
    return ["toyq", "--version"]


def queues_argv() -> list[str]:
    return ["toyq", "queues"]


def nodes_argv() -> list[str]:
    return ["toyq", "nodes"]


def stat_argv(user: str | None = None) -> list[str]:
    return ["toyq", "stat", *(["--user", user] if user else [])]


def history_argv() -> list[str]:
    return ["toyq", "hist"]


def submit_argv() -> list[str]:
    return ["toyq", "sub", "-"]  # the script on stdin


def job_argv(action: str, job_id: str) -> list[str]:
    return ["toyq", action, job_id]  # del, hold, release


def render_script(req: JobRequest) -> str:
    shebang, head, body = split_script(req.script_content)
    lines = [shebang]
    for key, value in (("queue", req.partition), ("name", req.job_name), ("time", req.time_limit),
                       ("gpus", str(req.gpus) if req.gpus else None), ("hold", "yes" if req.hold else None)):
        if value:
            lines.append(directive(key, value, PREFIX, "="))
    return "\n".join([*lines, *head, *body]) + "\n"
