"""The central node stores a batch's events together (``CentralNode._store_events``, ``CentralStore.insert_events``:
one statement run for every event, no savepoint per event) and still keeps the per-message contract on both
engines (docs/central.md "Batched ingest"): a copy is stored once and acked, the event the database refuses is
rejected alone, an event is acked only after its own commit; a hit is taken before the events queued ahead of it."""

from __future__ import annotations

import time

import msgpack
import pytest
from nacl.signing import SigningKey

from agent.protocol import topics
from agent.protocol.envelope import seal
from agent.screening.events import EventOpener, EventSealer, encode_event, seal_private
from tests.support.link import Keys
from tests.support.rawgate import RawGate, event_body, status_body
from tests.support.wait import wait_until
from tools.central.node import CentralConfig, CentralNode
from tools.central.store import open_store


def _central(broker, db: str, **kw) -> CentralNode:
    user, password = broker.central
    node = CentralNode(CentralConfig(host=broker.host, port=broker.port, username=user, password=password,
                                     **{"linger": 0.3, **kw}),  # what a test publishes at once lands in one batch
                       open_store(db), Keys().node, [])
    node.start()
    assert node.wait_for_connected(10)
    return node


def _acked(gate: RawGate) -> list[str]:
    return [i for w in gate.received.get(topics.ACK, []) for i in msgpack.unpackb(w[76:])["ids"]]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> str:
    return str(tmp_path / "central.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_copies_in_one_batch_and_from_an_earlier_one_are_stored_once_and_all_acked(broker, db):
    central = _central(broker, db)
    gate = RawGate(broker, "gate-a")
    central.store.enrol("gate-a", bytes(gate.key.verify_key), time.time())
    try:
        first = [event_body("gate-a", seq=i) for i in range(1, 4)]
        for body in first:
            gate.publish(topics.EVENT, seal("event", body, [gate.key]))
        assert wait_until(lambda: len(_acked(gate)) == 3, 5)
        # the next batch: the first events again (an ack the gate did not get), new ones, and one twice in it
        again = [event_body("gate-a", seq=i) for i in range(4, 7)]
        for body in [*first, *again, again[0]]:
            gate.publish(topics.EVENT, seal("event", body, [gate.key]))
        assert wait_until(lambda: len(_acked(gate)) == 3 + 7, 5), _acked(gate)
        assert sorted(e["msg_id"] for e in central.store.events()) == sorted(b["id"] for b in first + again)
        assert sorted(set(_acked(gate))) == sorted(b["id"] for b in first + again)
        assert (central.stats.stored, central.stats.duplicates) == (6, 4)
        assert central.store.gates()[0]["seq_high"] == 6 and central.store.gates()[0]["seq_missing"] == 0
    finally:
        gate.close()
        central.stop()


def test_event_the_database_refuses_is_rejected_alone_and_the_rest_of_its_batch_is_stored(broker, pg_url):
    """A NUL character passes the protocol's string rule but PostgreSQL's text refuses it: the batch's insert
    fails, is undone, and its events go in one by one; only the refused one is left out (and not acked)."""
    central = _central(broker, pg_url)
    good, bad = RawGate(broker, "gate-ok"), RawGate(broker, "gate-bad")
    for g in (good, bad):
        central.store.enrol(g.gate_id, bytes(g.key.verify_key), time.time())
    try:
        good_ids = []
        for i in range(1, 4):
            body = event_body("gate-ok", seq=i)
            good_ids.append(body["id"])
            good.publish(topics.EVENT, seal("event", body, [good.key]))
        poison = event_body("gate-bad", kind="deci\x00sion")
        bad.publish(topics.EVENT, seal("event", poison, [bad.key]))
        honest = event_body("gate-bad", seq=2)
        bad.publish(topics.EVENT, seal("event", honest, [bad.key]))
        assert wait_until(lambda: sorted(_acked(good)) == sorted(good_ids) and _acked(bad) == [honest["id"]], 5)
        assert sorted(e["msg_id"] for e in central.store.events()) == sorted([*good_ids, honest["id"]])
        assert central.store.rejects_by_gate() == {"gate-bad": {"internal": 1}}
    finally:
        good.close()
        bad.close()
        central.stop()


def test_hit_is_taken_before_the_events_queued_ahead_of_it(broker, tmp_path):
    """A gate draining a backlog fills the centre's inbound queue; a hit that arrives behind it goes into the
    next batch instead of waiting for the whole backlog (``InboundQueue``, urgent items first)."""
    central = _central(broker, str(tmp_path / "central.db"), batch=100, linger=0.05)
    gate = RawGate(broker, "gate-a")
    central.store.enrol("gate-a", bytes(gate.key.verify_key), time.time())
    try:
        backlog = [event_body("gate-a", seq=i) for i in range(1, 301)]
        hit = event_body("gate-a", seq=301)
        with central.store._lock:  # the writer waits for the store: what arrives meanwhile queues up
            for body in backlog:
                gate.publish(topics.EVENT, seal("event", body, [gate.key]))
            gate.publish(topics.HIT, seal("hit", hit, [gate.key]))
            assert wait_until(lambda: central.queue.urgent == 1 and len(central.queue) >= 201, 10)
        assert wait_until(lambda: central.store.count_events() == 301, 10)
        order = [e["msg_id"] for e in central.store.events()]
        assert order.index(hit["id"]) < 200, order.index(hit["id"])  # in the second batch, not the last
    finally:
        gate.close()
        central.stop()


def test_events_verified_and_opened_on_several_threads_keep_each_messages_verdict(broker, tmp_path):
    """With ``crypto_threads`` a batch's events are verified and opened in parallel (``_open_events``); each
    message still gets its own verdict: a forged event, one sealed to another centre and one from an unknown
    gate are rejected alone, a gate with a status in the batch is handled in order, the rest stored, opened
    and acked."""
    central = _central(broker, str(tmp_path / "central.db"), crypto_threads=4)
    gates = {g: RawGate(broker, g) for g in ("gate-a", "gate-b", "gate-c", "gate-d")}
    for g in ("gate-a", "gate-b", "gate-d"):
        central.store.enrol(g, bytes(gates[g].key.verify_key), time.time())
    to_us, to_other = EventSealer(central._node_key.verify_key), EventSealer(SigningKey.generate().verify_key)

    def sealed(gate_id: str, seq: int, sealer: EventSealer) -> dict:
        body = event_body(gate_id, seq=seq)
        body["body"] = encode_event(seal_private({"v": 2, "type": "decision", "id": body["id"], "gate": gate_id,
                                                  "seq": seq, "mrz": {"surname": "TRAVELLER"}}, sealer))
        return body

    try:
        # 40 events from each: more than PARALLEL_MIN for each of the 4 threads, so the batch is spread
        good = {g: [sealed(g, i, to_us) for i in range(1, 41)] for g in ("gate-a", "gate-b")}
        forged, elsewhere = event_body("gate-b", seq=41), sealed("gate-b", 42, to_other)
        stranger, d_events = event_body("gate-c"), [event_body("gate-d", seq=i) for i in range(1, 4)]
        with central.store._lock:  # everything below lands in one batch
            for g, bodies in good.items():
                for body in bodies:
                    gates[g].publish(topics.EVENT, seal("event", body, [gates[g].key]))
            gates["gate-b"].publish(topics.EVENT, seal("event", forged, [SigningKey.generate()]))
            gates["gate-b"].publish(topics.EVENT, seal("event", elsewhere, [gates["gate-b"].key]))
            gates["gate-c"].publish(topics.EVENT, seal("event", stranger, [gates["gate-c"].key]))
            gates["gate-d"].publish(topics.STATUS, seal("status", status_body("gate-d"), [gates["gate-d"].key]))
            for body in d_events:
                gates["gate-d"].publish(topics.EVENT, seal("event", body, [gates["gate-d"].key]))
            assert wait_until(lambda: len(central.queue) == 80 + 3 + 4, 10)
        expected = {g: sorted(b["id"] for b in bodies) for g, bodies in good.items()}
        expected["gate-d"] = sorted(b["id"] for b in d_events)
        assert wait_until(lambda: {g: sorted(_acked(gates[g])) for g in expected} == expected, 10)
        stored = central.store.events(kind="decision")
        assert sorted(e["msg_id"] for e in stored) == sorted(i for ids in expected.values() for i in ids)
        opener = EventOpener(central._node_key)
        assert all(opener.open(bytes(e["body"]))["mrz"] == {"surname": "TRAVELLER"} for e in stored
                   if e["gate_id"] != "gate-d")
        assert central.store.rejects_by_gate() == {"gate-b": {"signature": 1, "sealed": 1},
                                                   "gate-c": {"unknown_gate": 1}}
        assert not _acked(gates["gate-c"])
    finally:
        for g in gates.values():
            g.close()
        central.stop()


def test_a_small_batchs_cryptography_stays_in_the_writer_thread_and_a_large_ones_is_spread(broker, tmp_path):
    """``_parallel``: with 4 crypto threads, fewer than ``PARALLEL_MIN`` items for each (a live centre's batch of
    a few events) run in the calling thread, which costs less CPU than handing them over; more are spread."""
    import threading

    from tools.central.node import PARALLEL_MIN

    central = _central(broker, str(tmp_path / "central.db"), crypto_threads=4)
    try:
        where = lambda _x: threading.current_thread().name  # noqa: E731
        me = threading.current_thread().name
        assert set(central._parallel(where, list(range(PARALLEL_MIN * 4 - 1)))) == {me}
        spread = set(central._parallel(where, list(range(PARALLEL_MIN * 4))))
        assert spread and all(n.startswith("central-crypto") for n in spread)  # the pool's, never the caller
    finally:
        central.stop()


def test_a_batch_lingers_for_more_routine_messages_but_not_when_a_hit_is_waiting():
    """``CentralConfig.linger`` (50 ms) groups a live centre's routine messages into fewer commits and acks; a hit
    ends the wait at once, taking what came before it (a node without a hit lane, the embedded default)."""
    import threading

    from tools.central.admission import InboundQueue

    queue, stop = InboundQueue(100), threading.Event()
    routine, more, hit = ("g/event", b"1"), ("g/event", b"2"), ("g/hit", b"3")
    queue.put(routine, block=True, stop=stop)
    threading.Timer(0.2, lambda: queue.put(more, block=True, stop=stop)).start()
    assert queue.take(100, 2.0, stop) == [routine, more]  # the linger waited for the second
    queue.put(routine, block=True, stop=stop)
    queue.put(hit, block=True, stop=stop, urgent=True)
    started = time.monotonic()
    assert queue.take(100, 60.0, stop) == [hit, routine]
    assert time.monotonic() - started < 30, "a waiting hit did not end the linger"


def test_run_takes_a_linger_of_0_to_1_seconds_and_refuses_another(capsys):
    from tools.central.cli import build_parser

    assert CentralConfig().linger == 0.05
    assert build_parser().parse_args(["run", "--db", "x", "--keys", "k"]).linger == 0.05
    assert build_parser().parse_args(["run", "--db", "x", "--keys", "k", "--linger", "0.005"]).linger == 0.005
    for bad in ("2", "-0.1", "soon"):
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args(["run", "--db", "x", "--keys", "k", "--linger", bad])
        assert exit_.value.code == 2 and "expected 0 to 1 seconds" in capsys.readouterr().err
