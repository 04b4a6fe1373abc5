"""Provenance rows (services/provenance.py gathers them at submission): written once per job, read with the
job (get_history_job, the job page)."""

from __future__ import annotations

import time

from sqlalchemy import delete, insert, select

from ..services.provenance import Provenance
from .db import Database
from .schema import provenance


def record(db: Database, cluster: str, job_id: str, p: Provenance) -> None:
    with db.connect() as conn:
        conn.execute(delete(provenance).where(provenance.c.cluster == cluster, provenance.c.job_id == job_id))
        conn.execute(insert(provenance).values(
            cluster=cluster, job_id=job_id, directory=p.directory, git_commit=p.git_commit, git_dirty=p.git_dirty,
            git_changes=p.git_changes, host=p.host[:255], tool=p.tool, principal=p.principal, at=time.time()))


def read(db: Database, cluster: str, job_id: str) -> Provenance | None:
    with db.connect() as conn:
        row = conn.execute(select(provenance).where(provenance.c.cluster == cluster,
                                                    provenance.c.job_id == job_id)).first()
    if row is None:
        return None
    return Provenance(row.directory, row.host, row.tool, row.principal, row.git_commit, row.git_dirty,
                      row.git_changes)
