"""Malformed, unsigned, forged, relabelled and oversized messages in both directions: rejected, counted,
nothing crashes, nothing changes, and good traffic keeps flowing."""

from __future__ import annotations

import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from nacl.signing import SigningKey
from paho.mqtt.enums import CallbackAPIVersion

from agent.protocol import topics
from agent.protocol.envelope import seal
from tests.support.link import make_central, make_gate
from tests.support.rawgate import forge
from tests.support.wait import wait_until

STRANGER = SigningKey.generate()


def _event(key, gate="gate-a", **over):
    body = {"id": uuid.uuid4().hex, "ts": time.time(), "gate": gate, "seq": 1, "kind": "decision",
            "created": time.time(), "body": b"x", **over}
    return seal("event", body, [key])


BAD_FROM_GATE = {
    "garbage": lambda k: b"\xff" * 40,
    "empty": lambda k: b"",
    "unknown-key": lambda k: _event(STRANGER),
    "tampered": lambda k: (lambda w: w[:-3] + bytes([w[-3] ^ 0x40]) + w[-2:])(_event(k)),
    "status-relabelled-as-event": lambda k: seal(
        "status", {"id": "s", "ts": 1.0, "gate": "gate-a", "session": 1, "state": "online", "kind": "birth"}, [k]),
    "body-names-other-gate": lambda k: _event(k, gate="gate-b"),
    "oversized": lambda k: b"SG\x01\x01" + b"\x00" * 300_000,
}


@pytest.mark.parametrize("make_wire", list(BAD_FROM_GATE.values()), ids=list(BAD_FROM_GATE))
def test_central_rejects_and_counts_bad_gate_messages_and_keeps_running(mq, tmp_path, keys, make_wire):
    central = make_central(mq, tmp_path / "central.db", keys)
    key = SigningKey.generate()
    central.store.enrol("gate-a", bytes(key.verify_key), time.time())
    user, password = mq.add_gate("gate-a")
    raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gate-a", protocol=mqtt.MQTTv5)
    raw.username_pw_set(user, password)
    raw.connect(mq.host, mq.port)
    raw.loop_start()
    try:
        raw.publish(topics.gate("gate-a", topics.EVENT), make_wire(key), qos=1).wait_for_publish(5)
        assert wait_until(lambda: sum(central.store.rejects().values()) == 1, 5)
        assert central.store.count_events() == 0
        good = _event(key)
        raw.publish(topics.gate("gate-a", topics.EVENT), good, qos=1).wait_for_publish(5)
        assert wait_until(lambda: central.store.count_events() == 1, 5), "central stopped working"
    finally:
        raw.loop_stop()
        raw.disconnect()
        central.stop()


def _ack(key, ids, gate="gate-a"):
    return seal("ack", {"id": uuid.uuid4().hex, "ts": time.time(), "gate": gate, "ids": ids}, [key])


BAD_TO_GATE = {
    "ack-by-unknown-key": lambda node, cmd, ids: _ack(STRANGER, ids),
    "ack-by-command-key": lambda node, cmd, ids: _ack(cmd, ids),
    "ack-for-other-gate": lambda node, cmd, ids: _ack(node, ids, gate="gate-b"),
    "ack-tampered": lambda node, cmd, ids: (lambda w: w[:70] + bytes([w[70] ^ 1]) + w[71:])(_ack(node, ids)),
    "garbage": lambda node, cmd, ids: b"SG\x01\x09" + b"\x01" * 64,
    # signed by the node key, fields out of range (RELIABILITY 40): refused by the gate's schema
    "ack-ids-with-an-integer": lambda node, cmd, ids: forge(
        "ack", {"id": uuid.uuid4().hex, "ts": time.time(), "gate": "gate-a", "ids": [*ids, 2**64 - 1]}, node),
    "ack-ts-nan": lambda node, cmd, ids: forge(
        "ack", {"id": uuid.uuid4().hex, "ts": float("nan"), "gate": "gate-a", "ids": ids}, node),
    "ack-ts-negative": lambda node, cmd, ids: forge(
        "ack", {"id": uuid.uuid4().hex, "ts": -1.0, "gate": "gate-a", "ids": ids}, node),
}


def _central_client(mq) -> mqtt.Client:
    """A client of the broker's central account: what the test sends arrives as the centre's."""
    sender = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central", protocol=mqtt.MQTTv5)
    sender.username_pw_set(*mq.central)
    sender.connect(mq.host, mq.port)
    sender.loop_start()
    return sender


def _close(sender: mqtt.Client) -> None:
    sender.loop_stop()
    sender.disconnect()


@pytest.mark.parametrize("make_wire", list(BAD_TO_GATE.values()), ids=list(BAD_TO_GATE))
def test_gate_rejects_forged_acks_and_keeps_its_outbox(mq, tmp_path, keys, make_wire):
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a")  # no central node: nothing acks for real
    sender = _central_client(mq)
    try:
        assert gate.link.wait_for_connected(10)
        ids = gate.emit(5)
        wire = make_wire(keys.node, keys.commands[0], ids)
        sender.publish(topics.gate("gate-a", topics.ACK), wire, qos=1).wait_for_publish(5)
        assert wait_until(lambda: gate.link.stats.rejected.get("ack", 0) == 1, 5)
        assert gate.outbox.depth() == 5
        sender.publish(topics.gate("gate-a", topics.ACK), _ack(keys.node, ids[:2]), qos=1).wait_for_publish(5)
        assert wait_until(lambda: gate.outbox.depth() == 3, 5), "gate stopped taking good acks"
    finally:
        _close(sender)
        gate.stop()


def _deep(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def _signed(msg_type: str, key_of, **fields):
    """A correctly signed message (node key, or a command key for ``cmd``) whose fields skip the sender's schema:
    what a compromised or buggy centre could send."""
    def make(node, cmd):
        now = time.time()
        base = {
            "ack": {"ids": ["x"]},
            "hitlist_chunk": {"req": "r", "name": "n", "offset": 0, "total": 1, "data": b"x"},
            "query_reply": {"req": "r", "hit": False},
            "key_confirm": {"req": "r", "new_key": b"k" * 32},
            "cmd": {"seq": 10, "op": "request_status", "args": {}, "issued": now, "not_after": now + 60,
                    "nonce": b"n" * 16},
        }[msg_type]
        body = {"id": uuid.uuid4().hex, "ts": now, "gate": "gate-a", **base, **fields}
        return forge(msg_type, body, key_of(node, cmd))
    return make


_NODE = lambda node, cmd: node  # noqa: E731
_CMD = lambda node, cmd: cmd  # noqa: E731
HOSTILE_TO_GATE = {  # leaf, wire, counted as
    "ack-extra-deeply-nested": (topics.ACK, _signed("ack", _NODE, extra=_deep(400)), "ack"),
    "ack-extra-map-of-65-entries": (topics.ACK, _signed("ack", _NODE, extra={str(i): i for i in range(65)}), "ack"),
    "chunk-offset-2**64-1": (topics.HITLIST_CHUNK, _signed("hitlist_chunk", _NODE, offset=2**64 - 1), "hitlist_chunk"),
    "chunk-data-a-string": (topics.HITLIST_CHUNK, _signed("hitlist_chunk", _NODE, data="x"), "hitlist_chunk"),
    "chunk-name-bytes": (topics.HITLIST_CHUNK, _signed("hitlist_chunk", _NODE, name=b"n"), "hitlist_chunk"),
    "reply-hit-nan": (topics.QUERY_REPLY, _signed("query_reply", _NODE, hit=float("nan")), "query_reply"),
    "reply-lists-deep": (topics.QUERY_REPLY, _signed("query_reply", _NODE, lists=_deep(100)), "query_reply"),
    "confirm-key-31-bytes": (topics.KEY_CONFIRM, _signed("key_confirm", _NODE, new_key=b"k" * 31), "key_confirm"),
    "cmd-seq-2**64-1": (topics.CMD, _signed("cmd", _CMD, seq=2**64 - 1), "cmd_malformed"),
    "cmd-issued-nan": (topics.CMD, _signed("cmd", _CMD, issued=float("nan")), "cmd_malformed"),
    "cmd-nonce-a-string": (topics.CMD, _signed("cmd", _CMD, nonce="n" * 16), "cmd_malformed"),
    "cmd-args-map-of-65-entries": (topics.CMD, _signed("cmd", _CMD, args={str(i): i for i in range(65)}), "cmd_malformed"),
    "cmd-op-4-KiB": (topics.CMD, _signed("cmd", _CMD, op="x" * 4096), "cmd_malformed"),
}


@pytest.mark.parametrize(("leaf", "make_wire", "counted"), list(HOSTILE_TO_GATE.values()), ids=list(HOSTILE_TO_GATE))
def test_gate_refuses_hostile_signed_messages_on_every_inbound_topic_and_keeps_its_state(mq, tmp_path, keys, leaf,
                                                                                         make_wire, counted):
    """RELIABILITY 40 at the gate: NaN, huge integers, bytes for strings and strings for bytes, deep nesting, maps over
    64 entries, oversized strings, signed by the right key, on each topic the gate reads: refused and counted
    (``status.link.rejected``), nothing changes (outbox, command sequence, trusted time), and the link keeps
    taking good messages."""
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a")  # no central node: only what the test sends arrives
    sender = _central_client(mq)
    try:
        assert gate.link.wait_for_connected(10)
        ids = gate.emit(3)
        seq, trusted = gate.link.commands._guard.last_seq, gate.link.trusted_time.status()["last_signed"]
        sender.publish(topics.gate("gate-a", leaf), make_wire(keys.node, keys.commands[0]), qos=1).wait_for_publish(5)
        assert wait_until(lambda: gate.link.stats.rejected.get(counted, 0) == 1, 5), dict(gate.link.stats.rejected)
        assert sum(gate.link.stats.rejected.values()) == 1
        assert gate.outbox.depth() == 3 and gate.link.commands._guard.last_seq == seq
        assert gate.link.trusted_time.status()["last_signed"] == trusted
        sender.publish(topics.gate("gate-a", topics.ACK), _ack(keys.node, ids), qos=1).wait_for_publish(5)
        assert wait_until(lambda: gate.outbox.depth() == 0, 5), "the gate stopped taking good messages"
    finally:
        _close(sender)
        gate.stop()


class _FullDiskAlerts:
    """An early-warning store on a full disk: keeping an alert raises ENOSPC."""

    def receive(self, wire: bytes) -> None:
        raise OSError(28, "No space left on device")

    def retry(self) -> int:
        return 0

    def status(self) -> dict:
        return {}


def test_a_message_that_fails_unexpectedly_costs_only_itself_not_the_rest_of_its_batch(tmp_path):
    """An alert that cannot be kept (disk full) came in the same batch as a command: the command still runs."""
    from agent.link import GateLink, LinkConfig
    from agent.outbox import Outbox

    commander = SigningKey.generate()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    link = GateLink(LinkConfig(gate_id="gate-a", port=1), outbox, SigningKey.generate(), node_keys=[],
                    command_keys=[commander.verify_key], state_dir=tmp_path / "link", alerts=_FullDiskAlerts())
    now = time.time()
    cmd = seal("cmd", {"id": uuid.uuid4().hex, "ts": now, "gate": "gate-a", "seq": 1, "op": "rebirth", "args": {},
                       "issued": now, "not_after": now + 60, "nonce": b"n" * 16}, [commander])
    link.start()  # no broker (port 1): the worker runs, the connection keeps retrying
    try:
        with link._wake:  # both in one batch of the worker, as paho's network thread queues them
            link._inbox.extend([(topics.ALERTS + "/all", b"an alert"), (topics.gate("gate-a", topics.CMD), cmd)])
            link._wake.notify()
        assert wait_until(lambda: link.commands._guard.last_seq == 1, 5)  # the command after the alert ran
        assert link.stats.rejected["internal"] == 1
    finally:
        link.stop()
        outbox.close()
