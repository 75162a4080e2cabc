"""Connection policy: jittered exponential backoff, MQTT 3.1.1 operation."""

from __future__ import annotations

import random

from agent.link.connection import backoff as _jitter
from tests.support.link import make_central, make_gate
from tests.support.wait import wait_until


def test_backoff_is_jittered_exponential_and_capped():
    rng = random.Random(1)
    for attempt, cap in [(0, 0.5), (1, 1.0), (3, 4.0), (10, 60.0), (40, 60.0)]:
        waits = [_jitter(attempt, 0.5, 60.0, rng) for _ in range(200)]
        assert all(0.5 <= w <= cap for w in waits)
        if cap > 0.5:
            assert len({round(w, 3) for w in waits}) > 150, "no jitter: gates would reconnect in lockstep"
            assert max(waits) > 0.8 * cap


def test_gate_works_over_mqtt_311(mq, tmp_path, keys):
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, protocol=4)
    try:
        ids = gate.emit(20)
        assert wait_until(lambda: gate.outbox.depth() == 0, 10), gate.link.stats
        assert [e["msg_id"] for e in central.store.events("gate-a")] == ids
        assert wait_until(lambda: central.store.gates()[0]["online"] == 1, 5)
    finally:
        gate.stop()
        central.stop()
