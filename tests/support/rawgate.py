"""A hostile (or simply hand-driven) enrolled gate for tests of the central node: its own MQTT identity,
publishing whatever it is given, including correctly signed bodies the schema refuses."""

from __future__ import annotations

import math
import threading
import time
import uuid

import msgpack
import paho.mqtt.client as mqtt
from nacl.signing import SigningKey
from paho.mqtt.enums import CallbackAPIVersion

from agent.keys import message_key_id
from agent.protocol import topics
from agent.protocol.envelope import FORMAT, MAGIC, domain


def forge(msg_type: str, body: dict, key: SigningKey) -> bytes:
    """A correctly signed message whose body skips the sender's schema check (what a hostile gate can send)."""
    packed = msgpack.packb({"v": 1, "t": msg_type, **body}, use_bin_type=True)
    sig = key.sign(domain(msg_type) + packed).signature
    return MAGIC + bytes([FORMAT, 1]) + message_key_id(key.verify_key) + sig + packed


class RawGate:
    """An enrolled gate's MQTT identity driven by hand: publishes whatever it is given, records what it receives."""

    def __init__(self, broker, gate_id: str, key: SigningKey | None = None) -> None:
        self.gate_id = gate_id
        self.key = key or SigningKey.generate()
        user, password = broker.add_gate(gate_id)
        self.received: dict[str, list[bytes]] = {}
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gate_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, password)
        self.client.on_message = lambda _c, _u, m: self.received.setdefault(m.topic.rsplit(f"/{gate_id}/", 1)[1],
                                                                             []).append(bytes(m.payload))
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe([(topics.gate(gate_id, leaf), 1) for leaf in topics.GATE_IN])
        assert self._subscribed.wait(5)

    def publish(self, leaf: str, wire: bytes, qos: int = 1) -> None:
        self.client.publish(topics.gate(self.gate_id, leaf), wire, qos=qos)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def event_body(gate: str, seq: int = 1, **over) -> dict:
    return {"id": uuid.uuid4().hex, "ts": time.time(), "gate": gate, "seq": seq, "kind": "decision",
            "created": time.time(), "body": b"x", **over}


def status_body(gate: str, **over) -> dict:
    return {"id": uuid.uuid4().hex, "ts": time.time(), "gate": gate, "session": 1, "state": "online",
            "kind": "birth", **over}


POISON = {
    "status-session-2**64-1": ("status", {"session": 2**64 - 1}),
    "status-session-2**63": ("status", {"session": 2**63}),
    "status-session-negative": ("status", {"session": -5}),
    "status-list-version-2**63": ("status", {"hitlist": {"version": 2**63}}),
    "status-ts-nan": ("status", {"ts": math.nan}),
    "event-seq-2**64-1": ("event", {"seq": 2**64 - 1}),
    "event-seq-negative": ("event", {"seq": -1}),
    "event-created-inf": ("event", {"created": math.inf}),
    "event-created-nan": ("event", {"created": math.nan}),
    "event-ts-1e308": ("event", {"ts": 1e308}),
    "hit-seq-2**63": ("hit", {"seq": 2**63}),
    "event-kind-not-a-string": ("event", {"kind": 7}),
}


LEAF = {"status": topics.STATUS, "event": topics.EVENT, "hit": topics.HIT}


def poisoned(msg_type: str, over: dict, key: SigningKey, gate: str = "gate-bad") -> tuple[str, bytes]:
    """(topic leaf, wire) of a signed ``msg_type`` whose fields ``over`` are out of range."""
    return LEAF[msg_type], forge(msg_type, (status_body if msg_type == "status" else event_body)(gate) | over, key)
