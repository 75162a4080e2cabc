"""The hit lane (``CentralConfig.hit_username``): a hit is stored and acknowledged on the node's own hits
connection, writer and store connection while its event connection holds a backlog (real Mosquitto, real node,
real gate; docs/central.md "The hit lane")."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.support.link import Keys, make_central, make_gate
from tests.support.wait import wait_until
from tools.central.admission import AdmissionConfig
from tools.central.node import ROUTINE_NICE


@pytest.fixture
def keys() -> Keys:
    return Keys()


def _stalled_ingest(broker, tmp_path, keys, **central):
    """A node whose event writer stops before its transaction (nothing stored, nothing acked) with a short inbound
    queue: once it is full the event connection's network thread waits and the broker holds the rest of the
    backlog for it, as at a saturated centre. Returns (node, release event)."""
    node = make_central(broker, tmp_path / "central.db", keys, admission=AdmissionConfig(queue_max=20), **central)
    stalled = threading.Event()
    process = node._process

    def stalled_process(batch):
        if batch:
            stalled.wait(120)
        process(batch)

    node._process = stalled_process
    return node, stalled


def test_hit_is_stored_and_acked_while_the_event_connection_holds_a_backlog(broker, tmp_path, keys):
    user, password = broker.add_central("central-hits")
    node, stalled = _stalled_ingest(broker, tmp_path, keys, hit_username=user, hit_password=password)
    gate = make_gate(broker, tmp_path / "gate-a", keys, "gate-a", store=node.store)
    try:
        routine = gate.emit(300)
        assert wait_until(lambda: node.queue.blocked > 0, 20), "the inbound queue never filled"
        (hit,) = gate.emit(1, hit=True)
        assert wait_until(lambda: gate.outbox.depth() == 300, 20), "the hit was not acknowledged"
        stored = node.store.events("gate-a")
        assert [e["msg_id"] for e in stored] == [hit], "routine events were stored: the ingest was not stalled"
        assert stored[0]["is_hit"]
        stalled.set()  # the backlog drains: every event stored once, the hit not again
        assert wait_until(lambda: gate.outbox.depth() == 0, 60)
        ids = [e["msg_id"] for e in node.store.events("gate-a")]
        assert sorted(ids) == sorted([*routine, hit]), "an event was lost or stored twice"
        assert node.totals.stored == 301
    finally:
        stalled.set()
        gate.stop()
        node.stop()


def test_without_the_hit_lane_a_hit_waits_behind_the_event_backlog(broker, tmp_path, keys):
    """What the lane is for: on the events' connection the same hit is neither stored nor acknowledged while
    the backlog waits (an MQTT session delivers in order)."""
    node, stalled = _stalled_ingest(broker, tmp_path, keys)
    gate = make_gate(broker, tmp_path / "gate-a", keys, "gate-a", store=node.store)
    try:
        gate.emit(300)
        assert wait_until(lambda: node.queue.blocked > 0, 20), "the inbound queue never filled"
        gate.emit(1, hit=True)
        assert not wait_until(lambda: gate.outbox.depth() == 300, 3)
        assert node.store.events("gate-a") == []
    finally:
        stalled.set()
        gate.stop()
        node.stop()


def test_a_hit_stored_late_by_the_hit_lane_is_no_gap_in_the_gates_sequence(broker, tmp_path, keys):
    """The event writer stores 1-5 and 7-11 while the lane holds the hit (6); once the lane stores it, the gap
    the event writer saw is closed in the store and never reported."""
    user, password = broker.add_central("central-hits")
    node = make_central(broker, tmp_path / "central.db", keys, hit_username=user, hit_password=password, gap_grace=0.2)
    reports: list[dict] = []
    node._on_update = lambda kind, data: reports.append(data) if kind == "gap" else None
    assert node.hits is not None
    held = threading.Event()
    process = node.hits._process
    node.hits._process = lambda batch: (held.wait(60) if batch else None, process(batch))
    gate = make_gate(broker, tmp_path / "gate-a", keys, "gate-a", store=node.store)
    try:
        gate.emit(5)
        gate.emit(1, hit=True)
        gate.emit(5)
        assert wait_until(lambda: gate.outbox.depth() == 1, 20)
        assert wait_until(lambda: node._gaps.get("gate-a") is not None and node._gaps["gate-a"].missing() == 1, 5)
        held.set()
        assert wait_until(lambda: gate.outbox.depth() == 0, 20)
        time.sleep(1.5)  # past the grace and a gap check
        gaps = node.store.seq_gaps("gate-a")
        assert gaps.high == 11 and gaps.missing() == 0
        assert [r for r in reports if r["missing"]] == [], "the hit's number was reported missing"
    finally:
        held.set()
        gate.stop()
        node.stop()


def _nice(tid: int) -> int:
    return int(Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_routine_writer_runs_nicer_than_the_hit_lane(broker, tmp_path, keys):
    """On a busy machine the hit lane's threads get the cores (and the GIL) before the routine batches: the routine
    writer lowers its own priority (no privilege needed), the lane's writer keeps the process's."""
    user, password = broker.add_central("central-hits")
    node = make_central(broker, tmp_path / "central.db", keys, hit_username=user, hit_password=password)
    try:
        assert node.hits is not None
        routine, lane = node._writer.native_id, node.hits._writer.native_id
        assert routine is not None and lane is not None
        assert wait_until(lambda: _nice(routine) == min(19, _nice(lane) + ROUTINE_NICE), 5), (_nice(routine), _nice(lane))
    finally:
        node.stop()
