"""Fixtures of the central tests: a real PostgreSQL cluster (one per test process) and a fresh database per test."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresCluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A started PostgreSQL cluster (initdb in a directory under /tmp the ``postgres`` user can reach when
    we are root; pytest's own temporary directories are private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="sharaka-pg-"))
    cluster = PostgresCluster(directory, fsync=False)
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> str:
    """The URL of a new, empty database in ``pg_cluster``."""
    return pg_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")
