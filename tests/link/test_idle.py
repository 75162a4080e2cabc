"""An idle gate link wakes its threads rarely (a Pi gate's power and CPU; a simulated fleet's cores:
bench/link_idle.py) and still does everything on time: heartbeats, and rows in flight resent at their ack
timeout. A real Mosquitto and real links."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from agent.link.connection import loop_timeout
from agent.link.gate import BUSY_POLL_S, IDLE_POLL_S
from tests.support.link import make_central, make_gate
from tests.support.wait import wait_until


def _switches(name: str) -> int:
    """Voluntary context switches so far of this process's thread called ``name`` (each one a wake-up)."""
    thread = next(t for t in threading.enumerate() if t.name == name)
    text = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    return int(next(line for line in text.splitlines() if line.startswith("voluntary_ctxt_switches:")).split()[1])


def test_an_idle_link_wakes_its_worker_and_network_thread_rarely(mq, tmp_path, keys):
    """Connected, nothing to send: the worker waits ``IDLE_POLL_S`` (5 s) at a time, not ``BUSY_POLL_S`` (0.5 s),
    and paho's network thread waits ``loop_timeout(30)`` (2.5 s) in select(), not paho's 1 s. Over 9 s that is
    about 2 and 4 wake-ups; the link before waited 0.5 s and 1 s: at least 18 and 9. (``loop_timeout`` stays at
    most 2.5 s: a dead link is noticed within 2 x keepalive + 5 s, RELIABILITY 21.)"""
    assert (BUSY_POLL_S, IDLE_POLL_S, loop_timeout(30), loop_timeout(2), loop_timeout(120)) == (0.5, 5.0, 2.5, 1.0, 2.5)
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, keepalive=30, heartbeat=60.0)
    try:
        assert gate.link.wait_for_connected(10)
        time.sleep(1.0)  # the birth published and acknowledged by the broker
        names = ("link-gate-a-worker", "paho-mqtt-client-gate-a")
        before = [_switches(n) for n in names]
        time.sleep(9.0)
        worker, network = (_switches(n) - b for n, b in zip(names, before, strict=True))
        assert worker <= 5, f"the idle worker woke {worker} times in 9 s"
        assert network <= 6, f"the idle network thread woke {network} times in 9 s"
        assert gate.link.is_connected
    finally:
        gate.stop()
        central.stop()


def test_an_idle_link_still_beats_on_time_and_resends_an_unacknowledged_row(mq, tmp_path, keys):
    """The worker's longer wait ends at the next heartbeat (2.5 s here, not the 5 s idle cap), and a row in flight
    brings back the short wait, so a row whose ack never comes is resent at its ack timeout (1 s)."""
    central = make_central(mq, tmp_path / "central.db", keys)
    beats: list[float] = []
    central._on_update = lambda kind, data: beats.append(time.monotonic()) if (
        kind == "status" and data["kind"] == "heartbeat") else None
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, heartbeat=2.5, ack_timeout=1.0)
    try:
        assert gate.link.wait_for_connected(10)
        assert wait_until(lambda: len(beats) >= 4, 20), beats
        gaps = [b - a for a, b in zip(beats, beats[1:], strict=False)]
        assert all(2.0 < g < 3.5 for g in gaps), f"heartbeats {gaps} s apart, configured 2.5 s"
        central.stop()  # no more acks: the row stays in flight
        gate.emit()
        assert wait_until(lambda: gate.link.stats.resent >= 2, 10), gate.link.status()["link"]
    finally:
        gate.stop()
        central.stop()


def test_an_ack_does_not_make_the_link_query_an_outbox_whose_rows_are_all_out(mq, tmp_path, keys):
    """A gate at live traffic has one row in flight at a time; its ack frees the window, which asks for a refill.
    When every row the outbox holds is already in flight (``depth() <= len(window)``), there is nothing to read:
    one outbox query per event (when it is queued), not two. Every event is still delivered once."""
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store)
    queries = 0
    pending = gate.outbox.pending

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal queries
        queries += 1
        return pending(*args, **kwargs)

    gate.outbox.pending = counted
    try:
        assert gate.link.wait_for_connected(10)
        time.sleep(0.5)
        queries = 0
        for _ in range(20):
            gate.emit()
            assert wait_until(lambda: gate.outbox.depth() == 0, 10)
        assert queries <= 20 + 2, f"{queries} outbox queries for 20 events sent one at a time"
        assert central.store.count_events() == 20
    finally:
        gate.stop()
        central.stop()
