"""Fixtures for the link tests: the shared real Mosquitto (tests/support/broker.py) and key sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.link import Keys
from tests.support.lists import Site


@pytest.fixture
def mq(broker: Broker) -> Broker:
    """The shared broker fixture (per-gate credentials and the shipped ACL)."""
    return broker


@pytest.fixture
def keys() -> Keys:
    """The central node's key and three operators' command keys."""
    return Keys()


@pytest.fixture
def site(mq: Broker, tmp_path: Path, keys: Keys) -> Iterator[Site]:
    """A central node serving signed lists and keyrings (tests/support/lists.py); its gates stop with it."""
    s = Site(mq, tmp_path, keys)
    yield s
    s.close()


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    """A state directory on tmpfs: bulk tests queue 10^4-10^5 rows, one fsync each, without waiting on the disk."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="sharaka-link-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    yield d
    shutil.rmtree(d, ignore_errors=True)
