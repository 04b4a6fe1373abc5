"""The history database: SQLite (WAL) in the state directory by default, PostgreSQL for a team server.

Everything dialect-specific is here: connecting, creating the schema, full-text search (SQLite FTS5 with
porter stemming, PostgreSQL tsvector with the english configuration) and online backups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Integer, column, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from .. import private
from ..errors import ConfigError, HpcBridgeError, Unsupported
from . import backups, schema

# The text a job is found by, and a logbook entry. SQLite indexes a copy in FTS5 tables; PostgreSQL indexes
# the same expression with a GIN index. Underscores separate words in both (train_llama -> train, llama).
JOB_DOC = ("coalesce(name, '') || ' ' || coalesce(cause, '') || ' ' || coalesce(diagnosis, '') || ' ' || "
           "coalesce(script, '')")
ENTRY_DOC = "coalesce(title, '') || ' ' || coalesce(body, '')"
FTS = {"jobs": JOB_DOC, "logbook": ENTRY_DOC}


class StoreError(HpcBridgeError):
    """The history database failed (locked, unreachable, full)."""


def default_url(state_dir: Path) -> str:
    return f"sqlite:///{state_dir / 'history.sqlite3'}"


def _sqlite_pragmas(dbapi: Any, _record: Any) -> None:
    cursor = dbapi.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("postgresql://"):  # SQLAlchemy's default driver for the bare scheme is psycopg2
                url = "postgresql+psycopg://" + url[len("postgresql://"):]
            self.engine: Engine = create_engine(url, pool_pre_ping=True)
        except ImportError as exc:  # psycopg is the postgres extra, not in a plain install
            raise ConfigError(f"database_url: PostgreSQL needs the postgres extra (pip install "
                              f"'hpcbridge[postgres]'): {exc}") from exc
        except (SQLAlchemyError, ValueError) as exc:
            raise ConfigError(f"database_url: cannot use {self.safe_url}: {exc}") from exc
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            path = self.engine.url.database or ""
            if path and path != ":memory:":
                private.make_dir(Path(path).parent)
                private.create_file(Path(path))  # 0600 first: SQLite would make it 0644, and -wal/-shm follow
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.dialect != "postgresql":
            raise ConfigError(f"database_url: {self.dialect} is not supported; use sqlite:///PATH or "
                              "postgresql://USER:PASSWORD@HOST/DB")
        self.create()

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        try:
            return self.engine.url.render_as_string(hide_password=True)
        except AttributeError:
            return self.url.split("@")[-1]

    def create(self) -> None:
        try:
            with self.engine.begin() as conn:
                schema.metadata.create_all(conn)
                _add_columns(conn)
                if self.dialect == "sqlite":
                    for table in FTS:
                        conn.execute(text(f"CREATE VIRTUAL TABLE IF NOT EXISTS {table}_fts USING "
                                          "fts5(doc, tokenize='porter unicode61')"))
                else:
                    for table, doc in FTS.items():
                        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {table}_fts ON {table} "
                                          f"USING gin ({_pg_vector(doc)})"))
                version = conn.execute(text("SELECT value FROM meta WHERE key = 'schema'")).scalar()
                if version is None:
                    conn.execute(schema.meta.insert().values(key="schema", value=str(schema.SCHEMA_VERSION)))
                elif int(version) > schema.SCHEMA_VERSION:
                    raise ConfigError(f"the history database {self.safe_url} has schema {version}, newer than this "
                                      f"hpcbridge's {schema.SCHEMA_VERSION}: upgrade hpcbridge")
        except OperationalError as exc:
            raise StoreError(f"history database {self.safe_url}: {exc.orig}") from exc

    def connect(self) -> Any:
        return self.engine.begin()

    # --- full-text search ----------------------------------------------------------------------------
    def refresh_text(self, conn: Connection, table: str, ids: Iterable[int]) -> None:
        """SQLite keeps a copy of each row's searchable text; PostgreSQL's index follows the row itself."""
        if self.dialect != "sqlite":
            return
        id_list = list(ids)
        for start in range(0, len(id_list), 500):
            chunk = id_list[start:start + 500]
            marks = ",".join(str(int(i)) for i in chunk)
            conn.execute(text(f"DELETE FROM {table}_fts WHERE rowid IN ({marks})"))
            conn.execute(text(f"INSERT INTO {table}_fts(rowid, doc) SELECT id, {FTS[table]} FROM {table} "
                              f"WHERE id IN ({marks})"))

    def forget_text(self, conn: Connection, table: str, row_id: int) -> None:
        if self.dialect == "sqlite":
            conn.execute(text(f"DELETE FROM {table}_fts WHERE rowid = :id"), {"id": row_id})

    def matches(self, table: str, id_column: ColumnElement[Any], words: str) -> ColumnElement[bool]:
        """A WHERE clause: the row's text has every word (stemmed). Words are data, never query syntax."""
        if self.dialect == "sqlite":
            quoted = " ".join('"' + w.replace('"', '""') + '"' for w in words.split())
            return id_column.in_(text(f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH :fts_q")
                                 .bindparams(fts_q=quoted).columns(column("rowid", Integer)))
        qualified = re.sub(r"coalesce\((\w+),", rf"coalesce({table}.\1,", FTS[table])  # searches join runs
        return text(f"{_pg_vector(qualified)} @@ plainto_tsquery('english', {_PG_WORDS.format(':fts_q')})"
                    ).bindparams(fts_q=words)  # type: ignore[return-value]

    def rank(self, table: str, id_column: ColumnElement[Any], words: str) -> ColumnElement[Any]:
        """An ORDER BY key, best match first: BM25 on SQLite FTS5 (lower is better, so it sorts ascending as
        is), ts_rank on PostgreSQL (higher is better: negated). Use with matches() on the same words."""
        if self.dialect == "sqlite":
            quoted = " ".join('"' + w.replace('"', '""') + '"' for w in words.split())
            # bm25() needs the MATCH in the same query: a correlated subquery per matching row
            return text(f"(SELECT bm25({table}_fts) FROM {table}_fts WHERE {table}_fts MATCH :rank_q "
                        f"AND {table}_fts.rowid = {table}.id)").bindparams(rank_q=quoted)  # type: ignore[return-value]
        qualified = re.sub(r"coalesce\((\w+),", rf"coalesce({table}.\1,", FTS[table])
        return text(f"-ts_rank({_pg_vector(qualified)}, plainto_tsquery('english', "
                    f"{_PG_WORDS.format(':rank_q')}))").bindparams(rank_q=words)  # type: ignore[return-value]

    # --- backups -------------------------------------------------------------------------------------
    def backup(self, directory: Path, keep: int, owner: str = "") -> Path:
        """An online copy into `directory`, keeping the owner's newest (history/backups.py)."""
        if self.dialect != "sqlite":
            raise Unsupported("backups of a PostgreSQL history are the database server's job: use pg_dump or "
                              "its continuous archiving; hpcbridge backs up only its SQLite store")
        return backups.make(self.engine.url.database or "", directory, keep, owner)

    def close(self) -> None:
        self.engine.dispose()


def _add_columns(conn: Connection) -> None:
    """A database made before a column existed gets it (create_all makes only missing tables)."""
    existing = inspect(conn)
    for table, columns in schema.ADDED_COLUMNS.items():
        have = {c["name"] for c in existing.get_columns(table)}
        for name, ddl in columns.items():
            if name not in have:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}"))


# PostgreSQL's parser keeps `evaluate.py` or `a/b` as one token where SQLite's unicode61 sees two words: both
# see words only once every run of non-alphanumerics is a space.
_PG_WORDS = "regexp_replace({}, '[^[:alnum:]]+', ' ', 'g')"


def _pg_vector(doc: str) -> str:
    return f"to_tsvector('english', {_PG_WORDS.format(doc)})"
