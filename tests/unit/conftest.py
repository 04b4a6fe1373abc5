"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcbridge.history.db import Database

from ..conftest import postgres_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The history database on both stores: a SQLite file, and a fresh schema on the test PostgreSQL (skipped
    without it, see tests/conftest.py postgres_schema)."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'h.sqlite3'}")
        yield database
        database.close()
        return
    with postgres_schema() as url:
        database = Database(url)
        yield database
        database.close()
