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
