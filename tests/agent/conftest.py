"""Fixtures of the agent tests: a gate on simulated hardware (tests/support/gatesim.py)."""

from __future__ import annotations

import pytest

import hal
from agent.config import ScreeningConfig
from agent.hitlist.memory import MemoryHitList
from agent.outbox import Outbox
from agent.screening import Screener
from tests.support.gatesim import RECORDS, SEALER, Clock, SimGate


@pytest.fixture
def make_gate(tmp_path):
    opened: list[SimGate] = []

    def _make(rules: ScreeningConfig | None = None, hitlist=None, **screener_kwargs) -> SimGate:
        clock = Clock()
        reader = hal.open_reader("sim://reader?framing=lines")
        indicators = hal.open_indicators("sim://pca9685", background=False)
        path = tmp_path / f"outbox{len(opened)}.sqlite3"
        outbox = Outbox(path, clock=clock.wall)
        screener = Screener(
            gate_id="gate-t", site="site-t", reader_id="desk", rules=rules or ScreeningConfig(),
            hitlist=hitlist if hitlist is not None else MemoryHitList(RECORDS, version=4),
            outbox=outbox, indicators=indicators, clock=clock.wall, monotonic=clock.mono,
            fingerprint_key=b"k" * 32, **{"sealer": SEALER, **screener_kwargs})
        gate = SimGate(reader, indicators, outbox, screener, clock, path)
        indicators.bus.on_write = lambda addr, reg, value: gate.writes.append((addr, reg, value))
        opened.append(gate)
        return gate

    yield _make
    for gate in opened:
        gate.reader.close()
        gate.indicators.close()
        gate.outbox.close()
