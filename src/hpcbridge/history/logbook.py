"""The logbook: markdown entries (notes and plans) per project, found by their words; `@run-name` links a
run, `#id` another entry."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from .. import principal
from ..errors import InvalidParameter, NotFound
from ..models import Page
from .db import Database
from .queries import iso
from .schema import logbook
from .schema import runs as runs_table

KINDS = ("note", "plan")
MAX_BODY = 200_000
MAX_BULK = 20  # entries per bulk read: 20 long entries are already a lot of context
RUN_REF = re.compile(r"(?<![\w@])@([A-Za-z0-9][\w.\-]*)")
ENTRY_REF = re.compile(r"(?<![\w&#])#(\d+)\b")
audit = logging.getLogger("hpcbridge.audit")


@dataclass(frozen=True)
class Entry:
    id: int
    project: str
    kind: str
    title: str
    body: str
    created: str
    updated: str
    runs: list[str] = field(default_factory=list)  # @references that name a recorded run
    missing_runs: list[str] = field(default_factory=list)  # @references that name no recorded run
    entries: dict[int, str] = field(default_factory=dict)  # #references: id -> title
    author: str = "local"  # the principal that wrote it
    updated_by: str = "local"  # the principal that changed it last


@dataclass(frozen=True)
class EntryLine:
    id: int
    project: str
    kind: str
    title: str
    updated: str
    author: str = "local"


@dataclass(frozen=True)
class EntryBatch:
    entries: list[Entry]
    missing: list[int]  # ids asked for that name no entry


def references(body: str) -> tuple[list[str], list[int]]:
    runs = list(dict.fromkeys(m.rstrip(".") for m in RUN_REF.findall(body)))
    return runs, list(dict.fromkeys(int(m) for m in ENTRY_REF.findall(body)))


def _checked(kind: str, title: str, body: str, project: str) -> None:
    if kind not in KINDS:
        raise InvalidParameter("kind", f"{kind!r} is not an entry kind", "note or plan")
    if not title.strip() or len(title) > 300:
        raise InvalidParameter("title", "a title is 1 to 300 characters", "a short line")
    if len(body) > MAX_BODY:
        raise InvalidParameter("body", f"{len(body)} characters is over the {MAX_BODY} limit", "shorter markdown")
    if not re.fullmatch(r"[A-Za-z0-9][\w.\-]{0,99}", project):
        raise InvalidParameter("project", f"{project!r} is not a project name", "letters, digits, . _ -")


class Logbook:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, project: str, kind: str, title: str, body: str) -> Entry:
        """A new entry whose author is the calling principal."""
        _checked(kind, title, body, project)
        now, who = time.time(), principal.name()
        with self.db.connect() as conn:
            new_id = conn.execute(insert(logbook).values(project=project, kind=kind, title=title.strip(),
                                                         body=body, created=now, updated=now, author=who,
                                                         updated_by=who)
                                  ).inserted_primary_key[0]  # type: ignore[index]
            self.db.refresh_text(conn, "logbook", [new_id])
        audit.info("principal=%s logbook create #%s in %s", who, new_id, project)
        return self.read(int(new_id))

    def read(self, entry_id: int) -> Entry:
        with self.db.connect() as conn:
            row = conn.execute(select(logbook).where(logbook.c.id == entry_id)).first()
            if row is None:
                raise NotFound(f"logbook entry #{entry_id} does not exist; search_logbook lists entries")
            run_names, entry_ids = references(row.body)
            known = set(conn.execute(select(runs_table.c.name).where(runs_table.c.name.in_(run_names))).scalars())
            titles = dict(conn.execute(select(logbook.c.id, logbook.c.title).where(logbook.c.id.in_(entry_ids))).all())
        return Entry(row.id, row.project, row.kind, row.title, row.body, iso(row.created), iso(row.updated),
                     [r for r in run_names if r in known], [r for r in run_names if r not in known],
                     {i: titles[i] for i in entry_ids if i in titles}, row.author, row.updated_by)

    def read_many(self, entry_ids: list[int]) -> EntryBatch:
        """Several entries in one call, in the order asked; ids that do not exist are listed, not fatal."""
        if not entry_ids or len(entry_ids) > MAX_BULK:
            raise InvalidParameter("entry_ids", f"{len(entry_ids)} ids", f"1 to {MAX_BULK} entry ids per call")
        found: list[Entry] = []
        missing: list[int] = []
        for entry_id in dict.fromkeys(entry_ids):
            try:
                found.append(self.read(entry_id))
            except NotFound:
                missing.append(entry_id)
        return EntryBatch(found, missing)

    def update(self, entry_id: int, title: str | None = None, body: str | None = None,
               kind: str | None = None) -> Entry:
        current = self.read(entry_id)
        title, body, kind = title or current.title, current.body if body is None else body, kind or current.kind
        _checked(kind, title, body, current.project)
        who = principal.name()
        with self.db.connect() as conn:
            conn.execute(update(logbook).where(logbook.c.id == entry_id).values(
                title=title.strip(), body=body, kind=kind, updated=time.time(), updated_by=who))
            self.db.refresh_text(conn, "logbook", [entry_id])
        _audit("update", who, current)
        return self.read(entry_id)

    def delete(self, entry_id: int) -> None:
        current = self.read(entry_id)
        with self.db.connect() as conn:
            conn.execute(delete(logbook).where(logbook.c.id == entry_id))
            self.db.forget_text(conn, "logbook", entry_id)
        _audit("delete", principal.name(), current)

    def search(self, text: str = "", project: str = "", kind: str = "", offset: int = 0,
               limit: int = 20) -> Page[EntryLine]:
        """Entries with every word, the most relevant first (newest first without words)."""
        where: list[Any] = []
        order: list[Any] = [logbook.c.updated.desc()]
        if text.strip():
            where.append(self.db.matches("logbook", logbook.c.id, text))
            order.insert(0, self.db.rank("logbook", logbook.c.id, text))  # the better match first
        if project:
            where.append(logbook.c.project == project)
        if kind:
            _checked(kind, "x", "", "x")
            where.append(logbook.c.kind == kind)
        with self.db.connect() as conn:
            total = conn.execute(select(func.count()).select_from(logbook).where(*where)).scalar() or 0
            rows = conn.execute(select(logbook.c.id, logbook.c.project, logbook.c.kind, logbook.c.title,
                                       logbook.c.updated, logbook.c.author).where(*where).order_by(*order)
                                .offset(offset).limit(limit)).all()
        end = offset + len(rows)
        return Page([EntryLine(r.id, r.project, r.kind, r.title, iso(r.updated), r.author) for r in rows], total, offset,
                    limit, {}, end if end < total else None)


def _audit(action: str, who: str, entry: Entry) -> None:
    """Principals share the logbook (one cluster account, one team); a change to another's entry is allowed
    and said in the audit log as such."""
    if who != entry.author:
        audit.warning("principal=%s logbook %s #%d written by %s (project %s, title %r)", who, action, entry.id,
                      entry.author, entry.project, entry.title[:80])
    else:
        audit.info("principal=%s logbook %s #%d", who, action, entry.id)
