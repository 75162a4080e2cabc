"""Reference central node: verifies and stores gate events, acks after its commit, tracks gate status,
sends signed commands (docs/protocol.md).

One paho network thread queues raw messages; one writer thread verifies them against the registered
device keys, commits a batch to SQLite, and only then publishes one group ack per gate.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey, VerifyKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.protocol import topics
from agent.protocol.envelope import ProtocolError, key_id, open_signed, seal
from tools.central.hitlists import DocumentRecords, HitListServer
from tools.central.store import CentralStore

logger = logging.getLogger(__name__)

ACK_IDS_PER_MESSAGE = 1000
INBOUND = (topics.EVENT, topics.HIT, topics.STATUS, topics.CMD_RESULT, topics.HITLIST_REQ, topics.QUERY,
           topics.KEY_ROTATE)
_TYPES = {topics.EVENT: "event", topics.HIT: "hit", topics.STATUS: "status", topics.CMD_RESULT: "cmd_result",
          topics.HITLIST_REQ: "hitlist_req", topics.QUERY: "query", topics.KEY_ROTATE: "key_rotation"}


@dataclass
class CentralConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = "sharaka-central"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    batch: int = 2000  # most messages committed in one transaction
    linger: float = 0.005  # seconds a batch waits for more messages: fewer fsyncs under load, +5 ms to an ack


@dataclass
class CentralStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    acks_sent: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


class CentralNode:
    """The central node's MQTT side. ``start()``, ``stop()``, ``send_command()``.

    ``on_update(kind, data)`` is called from the writer thread for the console: kinds ``hit``,
    ``status``, ``cmd_result``, ``reject``.
    """

    def __init__(
        self,
        config: CentralConfig,
        store: CentralStore,
        node_key: SigningKey,
        command_keys: list[SigningKey],
        *,
        clock: Callable[[], float] = time.time,
        on_update: Callable[[str, dict[str, Any]], None] | None = None,
        hitlists: HitListServer | None = None,
        records: DocumentRecords | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self._node_key = node_key
        self._command_keys = list(command_keys)
        self._clock = clock
        self._on_update = on_update
        self.hitlists = hitlists
        self.records = records
        self.stats = CentralStats()
        self._queue: deque[tuple[str, bytes]] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._keys: dict[str, dict[bytes, VerifyKey]] = {}
        self.connected = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=config.client_id, protocol=mqtt.MQTTv5)
        self._client.max_inflight_messages_set(100)
        if config.username:
            self._client.username_pw_set(config.username, config.password)
        if config.ca_file:
            self._client.tls_set(ca_certs=config.ca_file, certfile=config.cert_file, keyfile=config.key_file)
        self._client.reconnect_delay_set(1, 5)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *_a: self.connected.clear()
        self._client.on_message = self._on_message
        self._writer = threading.Thread(target=self._write_loop, name="central-writer", daemon=True)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self._client.connect_async(self.config.host, self.config.port, 30, clean_start=False, properties=props)
        self._client.loop_start()
        self._writer.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._writer.join(5)
        self._client.disconnect()
        self._client.loop_stop()

    def wait_for_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    # ------------------------------------------------------------------ network thread
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            logger.warning("central: connection refused: %s", reason)
            return
        client.subscribe([(topics.all_gates(leaf), 1) for leaf in INBOUND])
        self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        if msg.topic.endswith("/" + topics.QUERY) and props is not None:
            self._answer_query(msg.topic, bytes(msg.payload), props)  # a traveller is waiting: no batching
            return
        with self._cond:
            self._queue.append((msg.topic, bytes(msg.payload)))
            self._cond.notify()

    # ------------------------------------------------------------------ writer thread
    def _write_loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                if not self._queue:
                    self._cond.wait(0.5)
                deadline = time.monotonic() + self.config.linger
                while 0 < len(self._queue) < self.config.batch and not self._stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.config.batch))]
            if batch:
                try:
                    self._process(batch)
                except Exception:  # keep the node up; the gates resend what was not acked
                    logger.exception("central: batch of %d failed", len(batch))

    def _trusted(self, gate_id: str) -> dict[bytes, VerifyKey] | None:
        """The gate's enrolled key and, while a rotation is pending, its new key (RELIABILITY 43). Cached for
        one batch: a re-enrolment by ``sharaka-central enrol --replace`` takes effect at the next batch."""
        keys = self._keys.get(gate_id)
        if keys is None:
            pubs = self.store.device_keys(gate_id)
            if not pubs:
                return None
            keys = self._keys[gate_id] = {key_id(p): VerifyKey(p) for p in pubs}
        return keys

    def _reject(self, reason: str, topic: str, detail: str) -> None:
        self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
        self.store.count_reject(reason)
        logger.warning("central: rejected message on %r (%s): %s", topic, reason, detail)
        if self._on_update:
            self._on_update("reject", {"topic": topic, "reason": reason, "detail": detail})

    def _process(self, batch: list[tuple[str, bytes]]) -> None:
        now = self._clock()
        self._keys = {}  # re-read per batch: key changes by another process (enrol --replace) apply now
        rows: list[tuple[str, str, int, bool, str, float, float, float, bytes]] = []
        acks: dict[str, list[str]] = {}
        hits: list[dict[str, Any]] = []
        for topic, payload in batch:
            self.stats.received += 1
            try:
                gate_id, leaf = topics.parse_gate_topic(topic)
            except ProtocolError as exc:
                self._reject("topic", topic, str(exc))
                continue
            except ValueError as exc:
                self._reject("topic", topic, str(exc))
                continue
            keys = self._trusted(gate_id)
            if keys is None:
                self._reject("unknown_gate", topic, f"gate {gate_id!r} is not enrolled")
                continue
            msg_type = _TYPES.get(leaf)
            if msg_type is None:
                self._reject("topic", topic, f"leaf {leaf!r} is not inbound at the centre")
                continue
            try:
                body, signers = open_signed(msg_type, payload, keys)
            except ProtocolError as exc:
                self._reject("signature" if "signature" in str(exc) else "malformed", topic, str(exc))
                continue
            if body["gate"] != gate_id:
                self._reject("wrong_gate", topic, f"body says gate {body['gate']!r}")
                continue
            if msg_type == "key_rotation":
                self._key_rotation(gate_id, topic, body, payload, now)
                continue
            self._note_signers(gate_id, keys, signers, now)
            if msg_type in ("event", "hit"):
                rows.append(
                    (body["id"], gate_id, body["seq"], msg_type == "hit", body["kind"], body["created"],
                     body["ts"], now, body["body"])
                )
                acks.setdefault(gate_id, []).append(body["id"])
                if msg_type == "hit":
                    hits.append({"gate": gate_id, "id": body["id"], "seq": body["seq"], "sent": body["ts"],
                                 "received": now})
            elif msg_type == "status":
                self._status(gate_id, body, payload, now)
            elif msg_type == "hitlist_req":
                self._hitlist_req(gate_id, body, now)
            elif msg_type == "cmd_result":
                self._result(gate_id, body)
            else:
                self._reject("query", topic, "an online query needs MQTT 5 (response topic, correlation data)")
        if rows:
            new = self.store.add_events(rows)  # committed: only now may the gates forget them
            self.stats.stored += new
            self.stats.duplicates += len(rows) - new
        for gate_id, ids in acks.items():
            for i in range(0, len(ids), ACK_IDS_PER_MESSAGE):
                wire = seal(
                    "ack",
                    {"id": uuid.uuid4().hex, "ts": now, "gate": gate_id, "ids": ids[i : i + ACK_IDS_PER_MESSAGE]},
                    [self._node_key],
                )
                self._client.publish(topics.gate(gate_id, topics.ACK), wire, qos=1)
                self.stats.acks_sent += 1
        if self._on_update:
            for h in hits:
                self._on_update("hit", h)

    def _status(self, gate_id: str, body: dict[str, Any], raw: bytes, now: float) -> None:
        hl = body.get("hitlist")
        version = hl.get("version") if isinstance(hl, dict) and isinstance(hl.get("version"), int) else None
        online = body["state"] == "online"
        applied = self.store.record_status(gate_id, body["session"], online, now, version, raw)
        if self._on_update:
            self._on_update(
                "status",
                {"gate": gate_id, "session": body["session"], "state": body["state"], "kind": body.get("kind"),
                 "applied": applied, "list_version": version},
            )

    def _result(self, gate_id: str, body: dict[str, Any]) -> None:
        detail = str(body.get("detail", ""))
        op = self.store.command_result(body["cmd_id"], gate_id, body["ok"], body["reason"], detail)
        if op == "rotate_device_key" and body["ok"] and detail.startswith("new_key="):
            # protocol 1 gates switch right after this result (signed by the old key): the new key is
            # pending, both verify, and the first message signed by it makes it the only one
            try:
                pub = bytes.fromhex(detail.removeprefix("new_key="))
            except ValueError:
                pub = b""
            if len(pub) == 32:
                self.store.propose_key(gate_id, pub, self._clock())
                self._keys.pop(gate_id, None)
        if self._on_update:
            self._on_update("cmd_result", {"gate": gate_id, "cmd_id": body["cmd_id"], "op": op, "ok": body["ok"],
                                           "reason": body["reason"], "detail": detail})

    # ------------------------------------------------------------------ device-key rotation
    def _key_rotation(self, gate_id: str, topic: str, body: dict[str, Any], payload: bytes, now: float) -> None:
        """A rotation request (docs/protocol.md "Device-key rotation"): it must be signed by the gate's
        enrolled key (a pending key cannot start another rotation) and by the new key it carries (proof of
        possession). The new key becomes pending (both verify until the gate uses the new one) and the
        confirmation is sent, again for every repeat: the gate retries until it has one."""
        new = body["new_key"]
        active = self.store.device_key(gate_id)
        try:
            if len(new) != 32 or active is None:
                raise ProtocolError(f"new_key of {len(new)} bytes, expected 32")
            open_signed("key_rotation", payload, {key_id(active): VerifyKey(active)})
            open_signed("key_rotation", payload, {key_id(new): VerifyKey(new)})
        except ProtocolError as exc:
            self._reject("key_rotation", topic, f"refused: {exc}")
            return
        if new != active:
            self.store.propose_key(gate_id, new, now)
            self._keys.pop(gate_id, None)
        wire = seal("key_confirm", {"id": uuid.uuid4().hex, "ts": now, "gate": gate_id, "req": body["id"],
                                    "new_key": new}, [self._node_key])
        self._client.publish(topics.gate(gate_id, topics.KEY_CONFIRM), wire, qos=1)
        if self._on_update:
            self._on_update("key", {"gate": gate_id, "kind": "rotation_requested", "new_key": key_id(new).hex()})

    def _note_signers(self, gate_id: str, keys: dict[bytes, VerifyKey], signers: frozenset[bytes], now: float) -> None:
        """A message signed by the gate's pending key: the gate has switched, so the old key is retired."""
        if len(keys) < 2:
            return
        pending = list(keys)[1]
        if pending in signers and self.store.promote_key(gate_id, bytes(keys[pending]), now):
            self._keys.pop(gate_id, None)
            if self._on_update:
                self._on_update("key", {"gate": gate_id, "kind": "rotated", "new_key": pending.hex()})

    # ------------------------------------------------------------------ online query
    def _answer_query(self, topic: str, payload: bytes, props: Any) -> None:
        response = getattr(props, "ResponseTopic", None)
        corr = getattr(props, "CorrelationData", None)
        try:
            gate_id, _ = topics.parse_gate_topic(topic)
            keys = self._trusted(gate_id)
            if keys is None:
                raise ProtocolError(f"gate {gate_id!r} is not enrolled")
            body, _ = open_signed("query", payload, keys)
            if body["gate"] != gate_id or response != topics.gate(gate_id, topics.QUERY_REPLY):
                raise ProtocolError(f"query from {gate_id!r} names gate {body['gate']!r} / response topic {response!r}")
        except (ProtocolError, ValueError) as exc:
            self._reject("query", topic, str(exc))
            return
        found = self.records.lookup(body["issuing_state"], body["document_number"]) if self.records else None
        reply = {"id": uuid.uuid4().hex, "ts": self._clock(), "gate": gate_id, "req": body["id"],
                 "hit": found is not None, "reason": found[0] if found else "", "ref": found[1] if found else ""}
        out = Properties(PacketTypes.PUBLISH)
        if corr is not None:
            out.CorrelationData = corr
        self._client.publish(response, seal("query_reply", reply, [self._node_key]), qos=1, properties=out)

    # ------------------------------------------------------------------ hit-lists
    def _hitlist_req(self, gate_id: str, body: dict[str, Any], now: float) -> None:
        if self.hitlists is None:
            return
        chunk = self.hitlists.answer(gate_id, body, now)
        self._client.publish(topics.gate(gate_id, topics.HITLIST_CHUNK), seal("hitlist_chunk", chunk, [self._node_key]),
                             qos=1)

    def publish_head(self, list_id: str, blob: bytes, lifetime: float) -> None:
        """Publish a hit-list head retained, with an MQTT 5 message expiry equal to its own lifetime."""
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = max(1, int(lifetime))
        self._client.publish(topics.hitlist_head(list_id), blob, qos=1, retain=True, properties=props)

    def poll_hitlists(self) -> int:
        """Re-index the list directory and publish every head that changed; returns how many."""
        if self.hitlists is None:
            return 0
        self.hitlists.scan()
        heads = self.hitlists.changed_heads(self._clock())
        for list_id, blob, lifetime in heads:
            self.publish_head(list_id, blob, lifetime)
        return len(heads)

    # ------------------------------------------------------------------ commands
    def send_command(
        self, gate_id: str, op: str, args: dict[str, Any] | None = None, *, ttl: float = 300.0
    ) -> str:
        """Sign (with every command key held) and publish a command; returns its id."""
        seq = self.store.next_cmd_seq(gate_id)
        now = self._clock()
        cmd_id = uuid.uuid4().hex
        wire = seal(
            "cmd",
            {"id": cmd_id, "ts": now, "gate": gate_id, "seq": seq, "op": op, "args": dict(args or {}),
             "issued": now, "not_after": now + ttl, "nonce": os.urandom(16)},
            self._command_keys,
        )
        self.store.add_command(cmd_id, gate_id, seq, op, now)
        self._client.publish(topics.gate(gate_id, topics.CMD), wire, qos=1)
        return cmd_id
