"""The history's tables (SQLAlchemy Core): one schema for SQLite and PostgreSQL.

Times the scheduler reports (submit, start, end) are kept as it prints them (ISO, the cluster's local time);
times hpcbridge observes (first/last seen, transitions, GPU samples) are epoch seconds of this machine.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1
# Columns added to a table after schema 1, with their DDL: `Database.create` adds those a database lacks.
# Each has a server default, so an older hpcbridge writing rows without them still works.
ADDED_COLUMNS: dict[str, dict[str, str]] = {
    "logbook": {"author": "VARCHAR(64) NOT NULL DEFAULT 'local'",
                "updated_by": "VARCHAR(64) NOT NULL DEFAULT 'local'"},
}

metadata = MetaData()

meta = Table("meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text, nullable=False))

clusters = Table(
    "history_clusters", metadata,
    Column("cluster", String(128), primary_key=True),
    Column("last_seen", Float),  # the last poll that answered
    Column("unreachable_since", Float),
    Column("last_error", Text, nullable=False, default=""),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cluster", String(128), nullable=False),
    Column("name", Text, nullable=False),
    Column("project", Text, nullable=False, default=""),
    Column("created", Float, nullable=False),
    Index("runs_by_name", "cluster", "name"),
    Index("runs_by_project", "project"),
)

jobs = Table(
    "jobs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cluster", String(128), nullable=False),
    Column("job_id", String(128), nullable=False),
    Column("array_job_id", String(128)),
    Column("array_task_id", String(64)),
    Column("name", Text, nullable=False, default=""),
    Column("user", String(128), nullable=False, default=""),
    Column("account", String(128), nullable=False, default=""),
    Column("partition", String(128), nullable=False, default=""),
    Column("qos", String(128), nullable=False, default=""),
    Column("state", String(32), nullable=False),
    Column("native_state", String(64), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("exit_code", Integer),
    Column("signal", Integer),
    Column("submit_time", String(32), nullable=False, default=""),
    Column("start_time", String(32), nullable=False, default=""),
    Column("end_time", String(32), nullable=False, default=""),
    Column("time_limit", String(32), nullable=False, default=""),
    Column("elapsed", String(32), nullable=False, default=""),
    Column("nodes", Integer, nullable=False, default=0),
    Column("cpus", Integer, nullable=False, default=0),
    Column("memory", String(32), nullable=False, default=""),
    Column("gpus", Integer, nullable=False, default=0),
    Column("gpu_type", String(64), nullable=False, default=""),
    Column("node_list", Text, nullable=False, default=""),
    Column("work_dir", Text, nullable=False, default=""),
    Column("stdout_path", Text, nullable=False, default=""),
    Column("stderr_path", Text, nullable=False, default=""),
    Column("dependency", Text, nullable=False, default=""),
    Column("script", Text, nullable=False, default=""),
    Column("cause", String(64), nullable=False, default=""),
    Column("diagnosis", Text, nullable=False, default=""),
    Column("run_id", Integer, ForeignKey("runs.id")),
    Column("project", Text, nullable=False, default=""),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("details_done", Integer, nullable=False, default=0),  # work dir, paths, dependency fetched
    Column("final_done", Integer, nullable=False, default=0),  # accounting's exit code and end time read
    UniqueConstraint("cluster", "job_id", name="jobs_cluster_job"),
    Index("jobs_by_submit", "submit_time"),
    Index("jobs_by_state", "cluster", "state"),
    Index("jobs_by_run", "run_id"),
    Index("jobs_by_project", "project"),
    Index("jobs_by_array", "cluster", "array_job_id"),
)

transitions = Table(
    "transitions", metadata,
    Column("cluster", String(128), nullable=False),
    Column("job_id", String(128), nullable=False),
    Column("at", Float, nullable=False),
    Column("state", String(32), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Index("transitions_by_job", "cluster", "job_id"),
)

gpu_samples = Table(
    "gpu_samples", metadata,
    Column("at", Float, nullable=False),
    Column("cluster", String(128), nullable=False),
    Column("partition", String(128), nullable=False),  # "*" for the whole cluster
    Column("gpu_type", String(64), nullable=False),  # "*" for every type
    Column("total", Integer, nullable=False),
    Column("allocated", Integer, nullable=False),
    Column("mine", Integer, nullable=False),  # the recorded user's running jobs
    Column("account", Integer, nullable=False),  # their accounts' running jobs, theirs included
    Column("resolution", String(8), nullable=False, default="raw"),  # raw | hour
    Index("gpu_by_time", "cluster", "at"),
)

logbook = Table(
    "logbook", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", Text, nullable=False),
    Column("kind", String(8), nullable=False),  # note | plan
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    # the principal that wrote it and the last that changed it (a guardrail on a shared server, not a lock)
    Column("author", String(64), nullable=False, server_default="local"),
    Column("updated_by", String(64), nullable=False, server_default="local"),
    Index("logbook_by_project", "project"),
)

# The board's tidying (issue 30): a finished job pinned stays on the board until dismissed; a dismissed one is
# no longer shown there (the history keeps it). A table of its own: create_all adds it to an older database.
board_marks = Table(
    "board_marks", metadata,
    Column("cluster", String(128), primary_key=True),
    Column("job_id", String(128), primary_key=True),
    Column("mark", String(16), nullable=False),  # pinned | dismissed
    Column("at", Float, nullable=False),
    Column("by", String(64), nullable=False, server_default="local"),
)

# Where a submitted job came from (services/provenance.py): the git state of its working directory on the
# cluster, the host hpcbridge ran on, and the tool call that submitted it. One row per submission.
provenance = Table(
    "provenance", metadata,
    Column("cluster", String(128), primary_key=True),
    Column("job_id", String(128), primary_key=True),
    Column("directory", Text, nullable=False, default=""),
    Column("git_commit", String(64), nullable=False, default=""),  # "" when the directory is not a repository
    Column("git_dirty", Integer),  # changed paths per `git status --porcelain` (capped); NULL without a repository
    Column("git_changes", Text, nullable=False, default=""),  # the first porcelain lines
    Column("host", String(255), nullable=False, default=""),
    Column("tool", String(64), nullable=False, default=""),
    Column("principal", String(64), nullable=False, default=""),
    Column("at", Float, nullable=False),
)
