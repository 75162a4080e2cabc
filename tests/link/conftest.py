"""Fixtures for the link tests: a real Mosquitto (local helper until tests/broker.py is merged)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.link.harness import Keys
from tests.link.mosq import LocalBroker


@pytest.fixture
def mq(tmp_path: Path) -> Iterator[LocalBroker]:
    b = LocalBroker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    """A state directory on tmpfs: bulk tests queue 10^4-10^5 rows, one fsync each, without waiting on the disk."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="sharaka-link-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    yield d
    shutil.rmtree(d, ignore_errors=True)
