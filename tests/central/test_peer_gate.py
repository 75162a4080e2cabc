"""The central node's MQTT contract proven from outside: a peer gate written from docs/protocol.md alone
(tests/support/peergate.py: paho-mqtt, msgpack and PyNaCl, nothing of ``agent``), against a real Mosquitto
(the shipped ACL) and the real central node on SQLite.

Enrolment as an operator does it: the device key by ``sharaka-central enrol --db DB --gate ID --pub HEX``
(docs/protocol.md "Central node"); the broker password by the test broker's ``add_gate`` (what
``tools/broker_setup.py`` writes for a real site). The peer pins the node's public key, as provisioning does.
"""

from __future__ import annotations

import ast
import sqlite3
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgpack
import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from tests.support import peergate
from tests.support.link import Keys, make_central
from tests.support.peergate import PeerGate, envelope, gate_topic, key_id, signed_part
from tests.support.wait import wait_until
from tools.central.cli import main as central_main
from tools.central.node import CentralNode

QUERY_DEADLINE_S = 0.300  # docs/online-query.md: query_deadline_ms = 300 by default


@dataclass
class Site:
    broker: object
    db: Path
    central: CentralNode
    node: SigningKey
    peers: dict[str, PeerGate]

    def stored(self, gate_id: str) -> list[str]:
        """The message ids committed for ``gate_id``, read by a connection of its own (only what is committed)."""
        with sqlite3.connect(self.db) as db:
            return [r[0] for r in db.execute("SELECT msg_id FROM events WHERE gate_id=? ORDER BY rowid", (gate_id,))]

    def rejects(self, gate_id: str) -> dict[str, int]:
        return self.central.store.rejects_by_gate().get(gate_id, {})

    def gate(self, gate_id: str) -> dict:
        return next(g for g in self.central.store.gates() if g["gate_id"] == gate_id)


@pytest.fixture
def site(broker, tmp_path) -> Iterator[Site]:
    """A real Mosquitto, the central node on SQLite, and two enrolled, connected peer gates: ``peer-1`` (honest)
    and ``mallory`` (an enrolled gate that turns hostile)."""
    keys = Keys()
    db = tmp_path / "central.db"
    peers = {}
    for gate_id in ("peer-1", "mallory"):
        key = SigningKey.generate()
        assert central_main(["enrol", "--db", str(db), "--gate", gate_id, "--pub", bytes(key.verify_key).hex()]) == 0
        _, password = broker.add_gate(gate_id)
        peers[gate_id] = PeerGate(gate_id, key, bytes(keys.node.verify_key), broker.host, broker.port, password)
    central = make_central(broker, db, keys)
    try:
        for p in peers.values():
            p.connect()
        yield Site(broker, db, central, keys.node, peers)
    finally:
        for p in peers.values():
            p.close()
        central.stop()


def test_the_peer_gate_uses_nothing_of_the_project():
    tree = ast.parse(Path(peergate.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "hashlib", "threading", "time", "uuid", "dataclasses", "typing",
                        "msgpack", "paho", "nacl"}, imported


def test_peer_event_is_acked_after_the_centres_commit_by_an_ack_signed_under_the_ack_domain(site):
    peer = site.peers["peer-1"]
    committed_when_acked: list[list[str]] = []
    peer.on_message = lambda leaf, _w: committed_when_acked.append(site.stored("peer-1")) if leaf == "ack" else None
    sent_at = time.time()
    msg_id = peer.send("event", peer.event_body(seq=1))
    assert peer.wait_for_ack(msg_id, 5)
    assert committed_when_acked[0] == [msg_id]  # the centre had committed the event when its ack left

    wire = next(r.payload for r in peer.received if r.leaf == "ack")
    assert wire[:4] == b"SG\x01\x01"  # one signature: the node's
    kid, sig, body = wire[4:12], wire[12:76], wire[76:]
    node = VerifyKey(bytes(site.node.verify_key))
    assert kid == key_id(bytes(node))
    node.verify(b"sharaka/v1/msg/ack\x00" + body, sig)  # the documented domain prefix
    for other in ("cmd", "query_reply", "hitlist_chunk"):  # and under no other type's
        with pytest.raises(BadSignatureError):
            node.verify(signed_part(other, body), sig)
    ack = msgpack.unpackb(body, raw=False)
    assert set(ack) == {"v", "t", "id", "ts", "gate", "ids"}
    assert (ack["v"], ack["t"], ack["gate"], ack["ids"]) == (1, "ack", "peer-1", [msg_id])
    assert 1 <= len(ack["id"]) <= 64 and sent_at - 5 <= ack["ts"] <= time.time() + 5


def test_event_resent_after_reconnect_is_stored_once_and_acked_both_times(site):
    peer = site.peers["peer-1"]
    body = peer.event_body(seq=1)
    wire = envelope("event", body, peer.key)
    peer.publish("event", wire)
    assert peer.wait_for_ack(body["id"], 5)
    peer.close()  # the link drops; the row is still in the gate's outbox (say the ack was lost)
    peer.connect()
    peer.publish("event", wire)  # the same signed bytes, same id
    assert peer.wait_for_ack(body["id"], 5, times=2)
    assert site.stored("peer-1") == [body["id"]]
    assert site.central.stats.duplicates == 1 and site.rejects("peer-1") == {}


def test_birth_heartbeat_and_last_will_move_the_gate_as_documented(site):
    peer = site.peers["peer-1"]
    peer.close()
    peer.connect(will=peer.status_body("will", state="offline") | {"session": peer.session + 1})
    peer.send("status", peer.status_body("birth", versions={"agent": "peer", "protocol": 1}), retain=True)
    assert wait_until(lambda: site.gate("peer-1")["online"] == 1, 5)
    assert site.gate("peer-1")["session"] == peer.session
    seen = site.gate("peer-1")["last_seen"]
    peer.send("status", peer.status_body("heartbeat"), retain=True)
    assert wait_until(lambda: site.gate("peer-1")["last_seen"] > seen, 5)

    peer.drop_with_will()  # the broker publishes the will (delay 0 here; 30 s for the real gate)
    assert wait_until(lambda: site.gate("peer-1")["online"] == 0, 5)
    assert site.gate("peer-1")["session"] == 2

    peer.connect()  # session 3: a birth, then a late will of the old session 2, which the centre ignores
    peer.send("status", peer.status_body("birth"), retain=True)
    assert wait_until(lambda: site.gate("peer-1")["session"] == 3 and site.gate("peer-1")["online"] == 1, 5)
    peer.send("status", peer.status_body("will", state="offline") | {"session": 2}, retain=True)
    honest = peer.send("event", peer.event_body(seq=1))  # after the late will, in the same order
    assert peer.wait_for_ack(honest, 5)
    assert site.gate("peer-1")["online"] == 1 and site.gate("peer-1")["session"] == 3
    assert site.rejects("peer-1") == {}


def test_online_query_answered_within_the_deadline_with_the_documented_reply(site):
    peer = site.peers["peer-1"]
    waits = []
    for _ in range(5):
        qid, _ = peer.query({"document": ["UTO", "L898902C3"]})
        t0 = time.monotonic()
        assert peer.wait_for(lambda qid=qid: any(r.correlation == qid.encode() for r in peer.replies()), 2)
        reply = next(r for r in peer.replies() if r.correlation == qid.encode())
        waits.append(reply.at - t0)
        body = peergate.open_envelope("query_reply", reply.payload, VerifyKey(peer.node_pub))
        assert (body["gate"], body["req"], body["hit"]) == ("peer-1", qid, False)
        assert {"v", "t", "id", "ts", "gate", "req", "hit"} <= set(body)
        assert isinstance(body["lists"], list)
    assert statistics.median(waits) < QUERY_DEADLINE_S, waits


QUERY_REFUSALS = {
    # name: (response topic ("" = the gate's own query/reply, None = none), correlation ("" = the id, None = none))
    "no-response-topic": (None, b""),
    "response-topic-of-another-gate": (gate_topic("mallory", "query/reply"), b""),
    "response-topic-its-own-ack": (gate_topic("peer-1", "ack"), b""),
    "no-correlation-data": ("", None),
    "correlation-data-not-the-query-id": ("", b"some-other-query"),
}


@pytest.mark.parametrize(("response", "correlation"), list(QUERY_REFUSALS.values()), ids=list(QUERY_REFUSALS))
def test_online_query_with_a_foreign_response_topic_or_wrong_correlation_is_refused(site, response, correlation):
    peer, other = site.peers["peer-1"], site.peers["mallory"]
    peer.query({"document": ["UTO", "L898902C3"]}, response_topic=response, correlation=correlation)
    honest = peer.send("event", peer.event_body(seq=1))  # the next batch counts the refusal
    assert peer.wait_for_ack(honest, 5)
    assert wait_until(lambda: site.rejects("peer-1") == {"query": 1}, 5), site.rejects("peer-1")
    assert peer.replies() == [] and other.replies() == []
    assert not any(r.leaf == "ack" and len(peergate.open_envelope("ack", r.payload, VerifyKey(peer.node_pub))["ids"]) != 1
                   for r in peer.received)
    qid, _ = peer.query({"document": ["UTO", "L898902C3"]})  # the honest query still answered
    assert peer.wait_for(lambda: any(r.correlation == qid.encode() for r in peer.replies()), 2)


def test_replayed_online_query_is_answered_once(site):
    peer = site.peers["peer-1"]
    qid, wire = peer.query({"document": ["UTO", "L898902C3"]})
    assert peer.wait_for(lambda: len(peer.replies()) == 1, 2)
    props = peergate.Properties(peergate.PacketTypes.PUBLISH)
    props.ResponseTopic, props.CorrelationData = gate_topic("peer-1", "query/reply"), qid.encode()
    peer.publish("query", wire, properties=props)
    honest = peer.send("event", peer.event_body(seq=1))
    assert peer.wait_for_ack(honest, 5)
    assert wait_until(lambda: site.rejects("peer-1") == {"replay": 1}, 5), site.rejects("peer-1")
    assert len(peer.replies()) == 1


def _hostile(mallory: PeerGate, honest: PeerGate) -> dict[str, tuple[str, bytes, str | None]]:
    """name -> (leaf, wire, the reject reason the centre counts; None: accepted as documented)."""
    ev = mallory.event_body
    missing = ev(seq=5)
    del missing["seq"]
    oversize = ev(seq=6)
    oversize["body"] = b"\0" * (200 * 1024)  # within the body's bound, but the message passes 256 KiB with...
    oversize["pad"] = [b"\0" * 4096] * 20  # ...a newer sender's extra field
    return {
        "signed-by-another-gates-key": ("event", envelope("event", ev(seq=1), honest.key), "signature"),
        "signed-as-status-sent-as-event": ("event", envelope("status", ev(seq=2), mallory.key), "signature"),
        "version-2": ("event", envelope("event", ev(seq=3, v=2), mallory.key), "malformed"),
        "type-field-not-the-topics": ("event", envelope("event", ev(seq=4, t="hit"), mallory.key), "malformed"),
        "missing-seq": ("event", envelope("event", missing, mallory.key), "malformed"),
        "over-256-KiB": ("event", envelope("event", oversize, mallory.key), "malformed"),
        "names-another-gate": ("event", envelope("event", ev(seq=7, gate="peer-1"), mallory.key), "wrong_gate"),
        "not-msgpack": ("event", b"SG\x01\x01" + key_id(bytes(mallory.key.verify_key))
                        + mallory.key.sign(signed_part("event", b"\xc1junk")).signature + b"\xc1junk", "malformed"),
        "extra-fields-of-a-newer-sender": ("event", envelope("event", ev(seq=8, lane=3, note={"a": [1, 2]}),
                                                            mallory.key), None),
    }


def test_hostile_peer_refused_as_documented_while_the_honest_peer_is_served(site):
    mallory, honest = site.peers["mallory"], site.peers["peer-1"]
    cases = _hostile(mallory, honest)
    assert len(cases["over-256-KiB"][1]) > 256 * 1024
    honest_ids = []
    for i, (leaf, wire, _) in enumerate(cases.values()):
        mallory.publish(leaf, wire)
        honest_ids.append(honest.send("event", honest.event_body(seq=i + 1)))
    # a topic of another gate: the broker's ACL refuses it (PUBACK 0x87), nothing reaches the centre
    stray = mallory.event_body(seq=9, gate="peer-1")
    mid = mallory.publish("event", envelope("event", stray, mallory.key), gate_id="peer-1")
    assert mallory.wait_for(lambda: mid in mallory.puback, 5)
    assert mallory.refused == {mid: 0x87}
    # a replay of an event the centre already has: stored once, acked again
    first = mallory.event_body(seq=10)
    first_wire = envelope("event", first, mallory.key)
    mallory.publish("event", first_wire)
    assert mallory.wait_for_ack(first["id"], 5)
    mallory.publish("event", first_wire)
    assert mallory.wait_for_ack(first["id"], 5, times=2)

    assert all(honest.wait_for_ack(i, 5) for i in honest_ids)
    assert site.stored("peer-1") == honest_ids  # nothing of mallory's under peer-1, the stray included
    accepted = {msgpack.unpackb(w[76:], raw=False)["id"] for _, w, r in cases.values() if r is None}
    assert set(site.stored("mallory")) == accepted | {first["id"]} and len(site.stored("mallory")) == 2
    assert set(mallory.acked()) == accepted | {first["id"]}
    expected: dict[str, int] = {}
    for _, _, reason in cases.values():
        if reason is not None:
            expected[reason] = expected.get(reason, 0) + 1
    assert wait_until(lambda: site.rejects("mallory") == expected, 5), (site.rejects("mallory"), expected)
    assert site.rejects("peer-1") == {}


def test_status_map_over_64_entries_is_refused_whole_by_the_centre(site):
    """docs/protocol.md "Schemas": a free-form part's maps hold at most 64 entries (the envelope's bound), not the
    256 a list may hold: the centre's unpacker refuses a bigger map before the schema, so the whole status is
    refused as malformed, and one of 64 is applied."""
    peer = site.peers["peer-1"]
    peer.send("status", peer.status_body("birth", hardware={f"sensor{i}": i for i in range(65)}))
    honest = peer.send("event", peer.event_body(seq=1))
    assert peer.wait_for_ack(honest, 5)
    assert wait_until(lambda: site.rejects("peer-1") == {"malformed": 1}, 5), site.rejects("peer-1")
    assert site.gate("peer-1")["session"] == 0
    peer.send("status", peer.status_body("birth", hardware={f"sensor{i}": i for i in range(64)}))
    assert wait_until(lambda: site.gate("peer-1")["session"] == 1 and site.gate("peer-1")["online"] == 1, 5)
    assert site.rejects("peer-1") == {"malformed": 1}


def test_status_without_kind_is_refused_as_malformed(site):
    """docs/protocol.md "status": ``kind`` is a required field (a will, a shutdown, a decommissioning are told by
    it alone): a status without it is refused whole and changes nothing; the same status with it is applied."""
    peer = site.peers["peer-1"]
    body = peer.status_body("birth")
    del body["kind"]
    peer.send("status", body)
    honest = peer.send("event", peer.event_body(seq=1))
    assert peer.wait_for_ack(honest, 5)
    assert wait_until(lambda: site.rejects("peer-1") == {"malformed": 1}, 5), site.rejects("peer-1")
    assert site.gate("peer-1")["session"] == 0 and site.gate("peer-1")["online"] == 0
    peer.send("status", peer.status_body("birth"))
    assert wait_until(lambda: site.gate("peer-1")["session"] == 1 and site.gate("peer-1")["online"] == 1, 5)


def test_event_older_than_the_retention_is_acked_not_stored_also_when_resent_after_its_row_was_pruned(broker, tmp_path):
    """docs/protocol.md "Retention and resends", keep-days 1: a backlog event created three days ago is acked and
    not stored (the upkeep would delete it); an event stored today, pruned when the days pass, then resent by a
    gate whose ack was lost, is acked again and not stored again (nor shown as new). Both counted as
    ``past_retention``; their sequence numbers are no gap."""
    keys = Keys()
    db = tmp_path / "central.db"
    key = SigningKey.generate()
    assert central_main(["enrol", "--db", str(db), "--gate", "peer-1", "--pub", bytes(key.verify_key).hex()]) == 0
    _, password = broker.add_gate("peer-1")
    peer = PeerGate("peer-1", key, bytes(keys.node.verify_key), broker.host, broker.port, password)
    day = 86400.0
    now = [time.time()]
    central = make_central(broker, db, keys, clock=lambda: now[0], keep_days=1)
    try:
        peer.connect()
        old = peer.event_body(seq=1) | {"created": now[0] - 3 * day}
        # and one sealed to a node key this centre no longer has: not opened, acked like any event past the retention
        lost_key = peer.event_body(seq=3) | {"created": now[0] - 3 * day, "body": msgpack.packb(
            {"id": "x", "sealed_to": "00" * 8, "sealed": b"x" * 48})}
        today = peer.event_body(seq=2, hit=True)
        today_wire = envelope("hit", today, key)
        peer.send("event", old)
        peer.send("event", lost_key)
        peer.publish("hit", today_wire)
        assert all(peer.wait_for_ack(e["id"], 5) for e in (old, lost_key, today))
        stored = lambda: [e["msg_id"] for e in central.store.events("peer-1")]  # noqa: E731
        assert stored() == [today["id"]]
        assert wait_until(lambda: central.store.rejects_by_gate().get("peer-1") == {"past_retention": 2}, 5)

        now[0] += 3 * day  # the days pass; the upkeep prunes today's hit
        central.store.maintain(now[0], 1)
        assert stored() == []
        peer.publish("hit", today_wire)  # its ack was lost: the gate sends it again
        assert peer.wait_for_ack(today["id"], 5, times=2)
        assert stored() == [] and central.stats.stored == 1
        assert wait_until(lambda: central.store.rejects_by_gate().get("peer-1") == {"past_retention": 3}, 5)
        assert central.store.seq_gaps("peer-1").overdue(now[0], 0) == 0
    finally:
        peer.close()
        central.stop()
