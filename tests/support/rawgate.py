"""A hostile (or simply hand-driven) enrolled gate for tests of the central node: its own MQTT identity,
publishing whatever it is given, including correctly signed bodies the schema refuses."""

from __future__ import annotations

import threading

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
