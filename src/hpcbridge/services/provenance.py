"""Provenance of a submission: the git commit and dirty state of the job's working directory (asked on the
cluster: `git -C DIR rev-parse HEAD`, `git -C DIR status --porcelain`, each bounded in time and output), the
host hpcbridge runs on, and the tool call that submitted (tool name, principal). A directory that is not a
repository, or a cluster without git, gives no git facts: never an error, never a refused submission."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import principal
from ..errors import HpcBridgeError

if TYPE_CHECKING:  # the history reads Provenance without loading the cluster layer
    from .cluster import Cluster

GIT_TIMEOUT_S = 15.0
MAX_CHANGES = 20  # porcelain lines kept; the count covers up to MAX_COUNTED
MAX_COUNTED = 10_000
log = logging.getLogger("hpcbridge.provenance")


@dataclass(frozen=True)
class Provenance:
    directory: str
    host: str
    tool: str
    principal: str
    git_commit: str = ""  # "" when not a repository
    git_dirty: int | None = None  # changed paths (None without a repository)
    git_changes: str = ""  # the first porcelain lines

    @property
    def is_repo(self) -> bool:
        return bool(self.git_commit)


def git_argv(directory: str, *args: str) -> list[str]:
    # `--` is not needed: -C takes the next argument as the directory, whatever it starts with
    return ["git", "-C", directory, "--no-optional-locks", *args]


async def gather(c: Cluster, directory: str, tool: str) -> Provenance:
    base = Provenance(directory, socket.gethostname(), tool, principal.name())
    if not directory:
        return base
    try:
        head = await c.run(git_argv(directory, "rev-parse", "--verify", "HEAD"), timeout=GIT_TIMEOUT_S)
        commit = head.stdout.strip()
        if head.exit_status != 0 or not commit or len(commit) > 64:
            return base  # not a repository (or one without commits, or no git on the cluster)
        status = await c.run(git_argv(directory, "status", "--porcelain", "--untracked-files=normal"),
                             timeout=GIT_TIMEOUT_S)
    except HpcBridgeError as exc:  # provenance is a note on the submission, never a reason to fail it
        log.warning("provenance of %s on %s: %s", directory, c.name, exc)
        return base
    lines = [line for line in status.stdout.splitlines()[:MAX_COUNTED] if line.strip()]
    if status.exit_status != 0:
        return Provenance(directory, base.host, tool, base.principal, commit, None, "")
    return Provenance(directory, base.host, tool, base.principal, commit, len(lines),
                      "\n".join(lines[:MAX_CHANGES])[:4000])
