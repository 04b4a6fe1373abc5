"""Every configured cluster at once: list_jobs(cluster="*") and list_clusters.

Each cluster is asked concurrently and bounded in time, so one cluster that does not answer (its login node
down, a hung scheduler) costs the answer at most the bound, is named with its reason, and does not fail the
others. Projects follow the history's rule (history/runs.project_of: the job name's prefix before the
configured separator).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import HpcBridgeError
from ..history.runs import project_of
from ..models import Job
from .registry import Registry

ANSWER_SECONDS = 20.0  # list_jobs(cluster="*"): longest wait for one cluster's queue
REACH_SECONDS = 10.0  # list_clusters: longest wait for one cluster's quick command

T = TypeVar("T")


async def _bounded(what: Awaitable[T], seconds: float) -> T | str:
    """The answer, or why there is none (one line) once `seconds` have passed or the call failed."""
    try:
        return await asyncio.wait_for(what, seconds)
    except TimeoutError:
        return f"no answer within {seconds:.0f} s"
    except HpcBridgeError as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - one cluster's SSH library error must not fail the others
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


async def jobs_everywhere(registry: Registry, user: str | None, project: str | None = None
                          ) -> tuple[list[tuple[str, Job]], dict[str, str]]:
    """(cluster, job) for every configured cluster's queue, in configuration order; {cluster: why} for those
    that did not answer. `user` 'me' is each cluster's own login user."""

    async def one(name: str) -> list[Job]:
        c = registry.get(name)
        return await c.jobs(await c.resolve_user(user))

    names = registry.names
    answers = await asyncio.gather(*(_bounded(one(n), ANSWER_SECONDS) for n in names))
    rows: list[tuple[str, Job]] = []
    unreachable: dict[str, str] = {}
    for name, answer in zip(names, answers, strict=True):
        if isinstance(answer, str):
            unreachable[name] = answer
            continue
        rows.extend((name, j) for j in answer)
    if project:
        rows = [(n, j) for n, j in rows if in_project(registry, j, project)]
    return rows, unreachable


def in_project(registry: Registry, job: Job, project: str) -> bool:
    return project_of(job.name, registry.settings.history.project_separator) == project.lower()


@dataclass(frozen=True)
class ClusterLine:
    """One configured cluster, for an agent that does not know the configuration."""

    name: str
    scheduler: str
    transport: str
    host: str
    default: bool
    reachable: bool
    problem: str = ""  # why it is not reachable
    read_only: bool = False


async def clusters(registry: Registry) -> list[ClusterLine]:
    """Every configured cluster with one quick command each (`true` over its transport), concurrently and
    bounded: reachable means the login node answers a command, not that the scheduler is healthy."""

    async def reach(name: str) -> bool:
        result = await registry.get(name).run(["true"], timeout=REACH_SECONDS)
        if not result.ok:
            raise HpcBridgeError((result.stderr or f"exit status {result.exit_status}").strip())
        return True

    names = registry.names
    answers = await asyncio.gather(*(_bounded(reach(n), REACH_SECONDS) for n in names))
    lines = []
    for name, answer in zip(names, answers, strict=True):
        config = registry.settings.clusters[name]
        lines.append(ClusterLine(
            name=name, scheduler=config.scheduler, transport=config.transport,
            host="" if config.transport == "local" else
            f"{config.user + '@' if config.user else ''}{config.host or ''}{f':{config.port}' if config.port else ''}",
            default=name == registry.settings.default_cluster, reachable=answer is True,
            problem=answer if isinstance(answer, str) else "", read_only=config.read_only))
    return lines
