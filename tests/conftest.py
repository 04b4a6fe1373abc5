"""Shared test helpers: where the fixtures, the recorded outputs and the test cluster are."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Sessions, profiles and instance records of the tests live apart from the user's own.
os.environ.setdefault("HPCBRIDGE_STATE_DIR", tempfile.mkdtemp(prefix="hpcbridge-tests-"))
DATA = ROOT / "tests" / "data"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
TC_DIR = Path(os.environ.get("HPCB_TC_DIR", "/var/lib/hpcbridge-testcluster"))


def shared_fixtures(kind: str) -> Path:
    """../shared/fixtures/<kind>: public outputs kept outside the project; skip clearly when absent."""
    path = SHARED_FIXTURES / kind
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the shared scheduler fixtures live beside the repo (../shared/fixtures)")
    return path


def _written_by_the_cluster(name: str, what: str) -> dict[str, str]:
    """NAME=value lines the test cluster wrote into TC_DIR; skip (or fail in CI) when it is not up."""
    env_file = TC_DIR / name
    if not env_file.exists():
        message = f"{what} not running ({env_file} missing): run 'sudo testcluster/cluster.sh up'"
        if os.environ.get("HPCBRIDGE_REQUIRE_CLUSTER"):
            pytest.fail(message)
        pytest.skip(message)
    return dict(line.split("=", 1) for line in env_file.read_text().split())


def cluster_env() -> dict[str, str]:
    """Connection settings of the running test cluster."""
    return _written_by_the_cluster("connection.env", "test cluster")


def openpbs_env() -> dict[str, str]:
    """The test cluster's OpenPBS complex (testcluster/openpbs.sh): its login sshd, queues and users."""
    return _written_by_the_cluster("openpbs.env", "OpenPBS test cluster")


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL on the test PostgreSQL (scripts/test.sh sets HPCBRIDGE_TEST_DATABASE_URL) whose
    search_path is a fresh schema, dropped afterwards: the same database, no leftovers between tests. Skips
    without it, or fails when HPCBRIDGE_REQUIRE_CLUSTER says the full environment is expected."""
    from sqlalchemy import create_engine, text

    url = os.environ.get("HPCBRIDGE_TEST_DATABASE_URL", "")
    if not url:
        message = "HPCBRIDGE_TEST_DATABASE_URL is unset (scripts/test.sh starts PostgreSQL and sets it)"
        if os.environ.get("HPCBRIDGE_REQUIRE_CLUSTER"):
            pytest.fail(message)
        pytest.skip(message)
    schema = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield url + f"?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
