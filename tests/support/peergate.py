"""A peer gate written from docs/protocol.md alone: another team's program speaking the central node's MQTT
contract with nothing of this project but the document (paho-mqtt, msgpack and PyNaCl only; no ``agent`` or
``tools`` import, checked by ``tests/central/test_peer_gate.py``).

    peer = PeerGate("peer-1", key, node_pub, host, port, password)   # client id = username = gate id
    peer.connect(will=peer.status_body("will", state="offline"))
    msg_id = peer.send("event", peer.event_body(seq=1))              # QoS 1, signed by the device key
    ack = peer.wait_for_ack(msg_id, 5)                                # verified under the node key

Everything here is the document's wording turned into code: the topics ("Topics"), the envelope
(``"SG" | 0x01 | n | n × (key_id(8) | sig(64)) | body``, each signature over
``b"sharaka/v1/msg/" + type + b"\\x00" + body``, key id = SHA-256(public key)[:8]), the common body fields
(``v`` 1, ``t``, ``id``, ``ts``), the ``event``/``status``/``query`` fields, the online query's MQTT 5
response topic and correlation data, and the sealed query (a libsodium sealed box to the node's Ed25519 key
converted to X25519).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgpack
import paho.mqtt.client as mqtt
from nacl.exceptions import BadSignatureError
from nacl.public import SealedBox
from nacl.signing import SigningKey, VerifyKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

ROOT = "sharaka/v1"
GATE_OUT = ("event", "hit", "status", "cmd/result", "hitlist/req", "query", "key/rotate")
GATE_IN = ("ack", "cmd", "hitlist/chunk", "query/reply", "key/confirm")
QOS = {"query": 0}  # every other outbound topic: QoS 1


def gate_topic(gate_id: str, leaf: str) -> str:
    """``sharaka/v1/gates/{gate_id}/{leaf}`` (docs/protocol.md "Topics")."""
    return f"{ROOT}/gates/{gate_id}/{leaf}"


def key_id(public: bytes) -> bytes:
    """The envelope's key id: the first 8 bytes of SHA-256 of the signer's public key."""
    return hashlib.sha256(public).digest()[:8]


def signed_part(msg_type: str, body: bytes) -> bytes:
    """What each signature covers: the domain prefix naming the message type, then the exact body bytes."""
    return b"sharaka/v1/msg/" + msg_type.encode() + b"\x00" + body


def envelope(msg_type: str, body: dict[str, Any], *signers: SigningKey) -> bytes:
    """The wire form of ``body`` (packed as it is: no field added or checked) signed by ``signers``."""
    packed = msgpack.packb(body, use_bin_type=True)
    slots = b"".join(key_id(bytes(k.verify_key)) + k.sign(signed_part(msg_type, packed)).signature for k in signers)
    return b"SG" + bytes([1, len(signers)]) + slots + packed


def open_envelope(msg_type: str, wire: bytes, signer: VerifyKey) -> dict[str, Any]:
    """The body of ``wire`` if ``signer`` signed it as ``msg_type``; raises ValueError otherwise."""
    if wire[:3] != b"SG\x01" or not 1 <= wire[3] <= 8:
        raise ValueError(f"not an envelope: {wire[:4]!r}")
    n = wire[3]
    body = wire[4 + 72 * n :]
    for i in range(n):
        slot = wire[4 + 72 * i : 4 + 72 * (i + 1)]
        if slot[:8] != key_id(bytes(signer)):
            continue
        try:
            signer.verify(signed_part(msg_type, body), slot[8:])
        except BadSignatureError:
            continue
        out = msgpack.unpackb(body, raw=False)
        if not isinstance(out, dict) or out.get("v") != 1 or out.get("t") != msg_type:
            raise ValueError(f"not a version-1 {msg_type}: {out!r}")
        return out
    raise ValueError(f"no valid {msg_type} signature by key {key_id(bytes(signer)).hex()}")


def wait_on(cond: threading.Condition, pred: Any, timeout: float) -> bool:
    """Wait under ``cond`` (notified by the network thread) until ``pred()`` holds; False after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    with cond:
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            cond.wait(left)
        return True


@dataclass
class Received:
    """One message the broker delivered to the peer."""

    leaf: str
    payload: bytes
    at: float  # time.monotonic() when the network thread had it
    correlation: bytes | None = None


@dataclass
class PeerGate:
    """An enrolled gate's MQTT identity driven by hand, from docs/protocol.md only."""

    gate_id: str
    key: SigningKey
    node_pub: bytes  # the central node's key, pinned at provisioning
    host: str
    port: int
    password: str
    session: int = 0
    received: list[Received] = field(default_factory=list)
    refused: dict[int, int] = field(default_factory=dict)  # message id -> PUBACK reason code (>= 0x80)
    puback: dict[int, int] = field(default_factory=dict)  # message id -> PUBACK reason code
    client: mqtt.Client | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)

    # ------------------------------------------------------------------ connection
    def connect(self, *, will: dict[str, Any] | None = None, will_delay: int = 0, timeout: float = 5.0) -> None:
        """Connect with MQTT 5 (client id = username = gate id), the session not clean, its last will (a
        signed, retained ``status``) if given; subscribe to the gate's inbound topics."""
        self.session += 1
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.gate_id, protocol=mqtt.MQTTv5)
        c.username_pw_set(self.gate_id, self.password)
        if will is not None:
            props = Properties(PacketTypes.WILLMESSAGE)
            props.WillDelayInterval = will_delay
            c.will_set(gate_topic(self.gate_id, "status"), envelope("status", will, self.key), qos=1, retain=True,
                       properties=props)
        connected, subscribed = threading.Event(), threading.Event()
        c.on_connect = lambda *_a: connected.set()
        c.on_subscribe = lambda *_a: subscribed.set()
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 60
        c.connect(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        c.loop_start()
        self.client = c
        if not connected.wait(timeout):
            raise TimeoutError(f"{self.gate_id}: no CONNACK")
        c.subscribe([(gate_topic(self.gate_id, leaf), 1) for leaf in GATE_IN])
        if not subscribed.wait(timeout):
            raise TimeoutError(f"{self.gate_id}: no SUBACK")

    def drop_with_will(self) -> None:
        """Leave as a gate that lost its link does: the broker publishes the last will (DISCONNECT 0x04)."""
        assert self.client is not None
        self.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
        self.client.loop_stop()
        self.client = None

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        corr = getattr(props, "CorrelationData", None)
        leaf = msg.topic.removeprefix(gate_topic(self.gate_id, ""))
        self.on_message(leaf, bytes(msg.payload))  # before a waiter sees it
        with self._cond:
            self.received.append(Received(leaf, bytes(msg.payload), time.monotonic(),
                                          bytes(corr) if corr is not None else None))
            self._cond.notify_all()

    def on_message(self, leaf: str, payload: bytes) -> None:
        """Hook for a test: called on the network thread for each inbound message."""

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        with self._cond:
            self.puback[mid] = reason.value
            if reason.value >= 0x80:
                self.refused[mid] = reason.value
            self._cond.notify_all()

    # ------------------------------------------------------------------ bodies
    def common(self, msg_type: str, **fields: Any) -> dict[str, Any]:
        """``v``, ``t``, a new ``id``, ``ts`` and ``gate``, then ``fields``."""
        return {"v": 1, "t": msg_type, "id": uuid.uuid4().hex, "ts": time.time(), "gate": self.gate_id, **fields}

    def event_body(self, seq: int, *, hit: bool = False, **over: Any) -> dict[str, Any]:
        """An ``event`` (or ``hit``): ``seq``, ``kind``, ``created``, ``body`` (opaque bytes)."""
        return self.common("hit" if hit else "event", seq=seq, kind="hit" if hit else "decision",
                           created=time.time(), body=msgpack.packb({"decision": "CLEAR", "peer": True}), **over)

    def status_body(self, kind: str, *, state: str = "online", **over: Any) -> dict[str, Any]:
        """A ``status`` of this connection's session."""
        return self.common("status", session=self.session, state=state, kind=kind, **over)

    # ------------------------------------------------------------------ publishing
    def publish(self, leaf: str, wire: bytes, *, qos: int | None = None, retain: bool = False,
                properties: Properties | None = None, gate_id: str | None = None) -> int:
        """Publish ``wire`` on this gate's ``leaf`` (or another gate's, which the broker must refuse);
        returns the MQTT message id."""
        assert self.client is not None
        info = self.client.publish(gate_topic(gate_id or self.gate_id, leaf), wire,
                                   qos=QOS.get(leaf, 1) if qos is None else qos, retain=retain, properties=properties)
        return info.mid

    def send(self, leaf: str, body: dict[str, Any], *, signer: SigningKey | None = None, retain: bool = False) -> str:
        """Sign ``body`` as the type its topic names and publish it; returns its id."""
        msg_type = {"cmd/result": "cmd_result", "hitlist/req": "hitlist_req", "key/rotate": "key_rotation"}.get(leaf, leaf)
        self.publish(leaf, envelope(msg_type, body, signer or self.key), retain=retain)
        return str(body.get("id"))

    def query(self, parts: dict[str, Any], *, response_topic: str | None = "",
              correlation: bytes | None = b"") -> tuple[str, bytes]:
        """An online query: ``sealed`` = a sealed box to the node key of ``{id, **parts}``, Response Topic =
        this gate's ``query/reply``, Correlation Data = the query id (either overridden, or left out with
        None). Returns (query id, wire)."""
        body = self.common("query")
        box = SealedBox(VerifyKey(self.node_pub).to_curve25519_public_key())
        body["sealed"] = box.encrypt(msgpack.packb({"id": body["id"], **parts}, use_bin_type=True))
        wire = envelope("query", body, self.key)
        props = Properties(PacketTypes.PUBLISH)
        topic = gate_topic(self.gate_id, "query/reply") if response_topic == "" else response_topic
        if topic is not None:
            props.ResponseTopic = topic
        corr = body["id"].encode() if correlation == b"" else correlation
        if corr is not None:
            props.CorrelationData = corr
        self.publish("query", wire, properties=props)
        return body["id"], wire

    # ------------------------------------------------------------------ what came back
    def bodies(self, leaf: str, msg_type: str) -> list[dict[str, Any]]:
        """Every message received on ``leaf``, verified under the node key (ValueError if one is not)."""
        with self._cond:
            got = [r.payload for r in self.received if r.leaf == leaf]
        return [open_envelope(msg_type, w, VerifyKey(self.node_pub)) for w in got]

    def acked(self) -> list[str]:
        """Every id the centre's verified acks named, in order, repeats kept."""
        return [i for body in self.bodies("ack", "ack") for i in body["ids"]]

    def wait_for(self, pred: Any, timeout: float) -> bool:
        return wait_on(self._cond, pred, timeout)

    def wait_for_ack(self, msg_id: str, timeout: float, times: int = 1) -> bool:
        """Wait until the centre acked ``msg_id`` ``times`` times."""
        return self.wait_for(lambda: self._count_unlocked(msg_id) >= times, timeout)

    def _count_unlocked(self, msg_id: str) -> int:
        n = 0
        for r in self.received:
            if r.leaf == "ack":
                n += open_envelope("ack", r.payload, VerifyKey(self.node_pub))["ids"].count(msg_id)
        return n

    def replies(self) -> list[Received]:
        with self._cond:
            return [r for r in self.received if r.leaf == "query/reply"]
