"""Structured results of tools that the text renderings also read (kept apart so server/ has no import cycle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NotRequired

from typing_extensions import TypedDict  # pydantic needs this TypedDict below Python 3.12

from ..models import Page
from ..services.resources import PartitionStatus


@dataclass(frozen=True)
class ClusterStatus:
    cluster: str
    scheduler_version: str
    partitions: list[PartitionStatus]
    nodes_by_state: dict[str, int]
    jobs_by_state: dict[str, int]
    gpus_total: int
    gpus_allocated: int


@dataclass(frozen=True)
class JobSummaryRow:
    """A job in a list: only what an agent needs to choose what to look at next."""

    job_id: str
    name: str
    user: str
    state: str
    partition: str
    nodes: int
    gpus: str
    time_used: str
    time_limit: str
    where_or_why: str  # node list when running, reason when pending
    progress: str = ""  # running jobs: from the output's tail (services/progress_look.py)
    trouble: str = ""
    cluster: str = ""


@dataclass(frozen=True)
class JobsPage(Page[JobSummaryRow]):
    """list_jobs: a page of rows; with cluster="*", every configured cluster's, and those that did not answer."""

    items: list[JobSummaryRow]  # redeclared: pydantic's schema of an inherited Page[T] field loses T
    unreachable: dict[str, str] = field(default_factory=dict)  # cluster: why (cluster="*" only)


@dataclass(frozen=True)
class JobSummary:
    cluster: str
    total: int
    by_state: dict[str, int]
    by_partition: dict[str, dict[str, int]]
    by_user: dict[str, dict[str, int]]
    users_shown: int
    users_total: int


@dataclass(frozen=True)
class DirectoryState:
    kind: str
    path: str
    mount: str | None
    exists: bool


@dataclass(frozen=True)
class ClusterDirectories:
    cluster: str
    user_root: str
    directories: list[DirectoryState]
    image_dirs: list[str]
    container_mounts: str


# Results of the tools that change one thing (their dicts' shapes), declared so clients get an output schema for them
# too (every tool with structured content has one; tests/e2e/test_safety_and_scale.py walks tools/list).
class JobSignalled(TypedDict):
    job_id: str
    signal: str | None
    force: bool
    ok: bool


class JobHeld(TypedDict):
    job_id: str
    held: bool


class JobModified(TypedDict):
    job_id: str
    changed: dict[str, Any]
    state: str
    ok: bool


class FileWritten(TypedDict):
    path: str
    bytes: int
    appended: NotRequired[bool]


class PathDeleted(TypedDict):
    path: str
    deleted: bool


class NameDeleted(TypedDict):
    deleted: str


class EntryDeleted(TypedDict):
    deleted: int


class BackedUp(TypedDict):
    path: str
