"""Several central workers (processes) share the gate traffic through MQTT 5 shared subscriptions on a real
Mosquitto, storing into a real PostgreSQL (docs/central.md "Several workers", RELIABILITY 50)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from agent import keys as keyfiles
from agent.keys import message_key_id
from agent.protocol import topics
from agent.protocol.envelope import open_signed, seal
from tests.support.broker import MqttTestClient
from tests.support.central_workers import CentralWorkers, central_keys
from tests.support.link import Keys, make_gate
from tests.support.wait import wait_until
from tools.central.store import open_store


def _keys(tmp_path) -> tuple[Keys, object]:
    keys_dir = central_keys(tmp_path / "keys")
    return Keys(node=keyfiles.load_signing_key(keys_dir / "node.key")), keys_dir


@pytest.mark.parametrize("hit_lane", [False, True], ids=["one-connection", "hit-lane"])
def test_worker_killed_mid_stream_loses_nothing_and_stores_each_event_once(broker, pg_url, tmp_path, hit_lane):
    """With ``hit_lane`` every fifth event is a hit, taken by the workers' hit lanes (connection, writer, acks of
    their own): the killed worker's lane loses nothing either."""
    keys, keys_dir = _keys(tmp_path)
    store = open_store(pg_url)
    gates = [make_gate(broker, tmp_path / f"g{i}", keys, f"gate-{i}", store=store, ack_timeout=2.0)
             for i in range(4)]
    workers = CentralWorkers(broker, pg_url, keys_dir, 3, tmp_path, hit_lane=hit_lane)
    workers.start()
    try:
        def stream() -> None:
            for _ in range(30):
                for g in gates:
                    g.emit(4)
                    g.emit(1, hit=hit_lane)
                time.sleep(0.1)

        feeder = threading.Thread(target=stream)
        feeder.start()
        assert wait_until(lambda: store.count_events() > 50, 30)
        mid_stream = feeder.is_alive()
        killed = workers.kill(1)  # mid-stream: events are arriving and being committed
        feeder.join()
        assert mid_stream, "the gates had stopped emitting before the worker was killed"
        emitted = {m for g in gates for m in g.emitted}
        assert wait_until(lambda: all(g.outbox.depth() == 0 for g in gates), 90), "gates still hold unacked events"
        stored = [(e["gate_id"], e["msg_id"]) for e in store.events()]
        assert len(stored) == len(set(stored)) == len(emitted) == 600
        assert {m for _, m in stored} == emitted
        assert workers.pids()[1] != killed  # the supervisor restarted it
        assert sum(e["is_hit"] for e in store.events()) == (120 if hit_lane else 0)
    finally:
        for g in gates:
            g.stop()
        workers.stop()


@pytest.mark.parametrize("leaf", [topics.EVENT, topics.HIT])
def test_redelivered_event_is_stored_once_and_acked_by_whichever_worker_gets_it(broker, pg_url, tmp_path, leaf):
    """A hit (``leaf`` hit) goes to the workers' hit lanes: deduplicated by (gate, message id) the same way."""
    keys, keys_dir = _keys(tmp_path)
    store = open_store(pg_url)
    gate_key = keyfiles.generate(tmp_path / "gate.key")
    store.enrol("gate-a", bytes(gate_key.verify_key), time.time())
    workers = CentralWorkers(broker, pg_url, keys_dir, 2, tmp_path, hit_lane=leaf == topics.HIT)
    workers.start()
    user, password = broker.add_gate("gate-a")
    gate = MqttTestClient(broker, user, password)
    try:
        assert gate.connect()
        gate.subscribe(topics.gate("gate-a", topics.ACK))
        now = time.time()
        ids = [uuid.uuid4().hex for _ in range(20)]
        wires = [seal(leaf, {"id": i, "ts": now, "gate": "gate-a", "seq": n + 1, "kind": "decision",
                                "created": now, "body": b"x"}, [gate_key]) for n, i in enumerate(ids)]
        # every event three times, as a gate resends after a lost ack: round robin spreads the copies
        gate.publish_all(topics.gate("gate-a", leaf), wires * 3)
        acked: list[str] = []
        node = {message_key_id(keys.node.verify_key): keys.node.verify_key}

        def more_acks() -> bool:
            while not gate.messages.empty():
                body, _ = open_signed("ack", gate.messages.get().payload, node)
                acked.extend(body["ids"])
            return len(acked) >= 60

        assert wait_until(more_acks, 30), f"{len(acked)} acks"
        assert sorted(acked) == sorted(ids * 3)  # each copy acked after a commit
        assert sorted(e["msg_id"] for e in store.events()) == sorted(ids)
        assert all(e["is_hit"] == (leaf == topics.HIT) for e in store.events())
    finally:
        gate.close()
        workers.stop()
