"""Pure rules of the history: which project a job belongs to, what its dependency names, the order of a run."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Slurm (sbatch --dependency): "afterok:123:124,afterany:125_7(unfulfilled)" or "?"-separated alternatives;
# PBS (qsub -W depend=): "afterok:123.server:124.server". The type words come first, ids after colons.
_DEP_TYPES = {"after", "afterany", "afterburstbuffer", "aftercorr", "afternotok", "afterok", "singleton",
              "before", "beforeany", "beforeok", "beforenotok", "on", "syncwith", "expand"}
_ID = re.compile(r"^\d+(?:_\d+|_\*|\[\d*\])?(?:\.[\w.-]+)?$")


def dependency_ids(text: str) -> list[str]:
    """The job ids a dependency expression names, in order, without the `(unfulfilled)` notes or `+time`."""
    ids: list[str] = []
    for clause in re.split(r"[,?]", re.sub(r"\([^)]*\)", "", text or "")):
        parts = clause.strip().split(":")
        if not parts or parts[0].lower() not in _DEP_TYPES:
            continue
        for token in parts[1:]:
            token = token.split("+", 1)[0].strip()
            if _ID.match(token) and token not in ids:
                ids.append(token)
    return ids


def short_id(job_id: str) -> str:
    """The numeric head: '123' of '123.server', '123_4' and '123[]'."""
    match = re.match(r"^\d+", job_id)
    return match.group(0) if match else job_id


def project_of(name: str, separator: str) -> str:
    """clausius' rule: a project is the job name's prefix before the first separator (`proj_campaign_run`).
    A name without the separator has no project."""
    head, sep, _ = (name or "").partition(separator)
    return head.lower() if sep and head else ""


def topological(ids: Sequence[str], parents: dict[str, list[str]]) -> list[str]:
    """Jobs in dependency order (a job after the jobs it waits for), otherwise in the given order; a cycle
    (which no scheduler accepts, but records can be partial) keeps the given order for what is left."""
    order: list[str] = []
    placed: set[str] = set()
    known = set(ids)
    pending = list(ids)
    while pending:
        ready = [j for j in pending if all(p in placed or p not in known for p in parents.get(j, []))]
        if not ready:
            ready = pending[:1]
        for job in ready:
            order.append(job)
            placed.add(job)
        pending = [j for j in pending if j not in placed]
    return order
