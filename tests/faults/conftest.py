"""Fixtures of the fault-injection tests: the link tests' real Mosquitto and key sets, the reference central
node and the real gate process."""

import pytest

from tests.link.conftest import keys, mq  # noqa: F401 (fixtures)
from tests.support.link import make_central
from tests.support.screening_gate import ScreeningGate


@pytest.fixture
def centre(mq, keys, tmp_path):  # noqa: F811 (fixtures)
    """The reference central node on an SQLite store (``tmp_path/central.db``), on the link tests' Mosquitto."""
    central = make_central(mq, tmp_path / "central.db", keys)
    yield central
    central.stop()


@pytest.fixture
def gate(mq, keys, tmp_path, centre):  # noqa: F811 (fixtures)
    """The real gate process (not started yet), enrolled at ``centre``; killed and unplugged at the end."""
    gate = ScreeningGate(tmp_path / "gate", mq, keys, centre.store)
    yield gate
    gate.close()
