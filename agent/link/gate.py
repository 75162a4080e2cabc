"""The gate's MQTT link: drains the durable outbox to the central node and takes its acks and commands.

Delivery (docs/protocol.md "Delivery", RELIABILITY 17-25): rows are read from the outbox in its order
(hits first), signed and published with QoS 1, and stay in the outbox until a signed ``ack`` from the
central node names them. At most ``window`` rows are awaiting an ack; after a reconnect every pending
row is resent in order with the same id. A broker PUBACK only moves the window; a refused PUBACK
(reason >= 0x80) keeps the row and raises the ``publish_refused`` alarm in status.

Threads: one supervisor (connect, jittered exponential backoff, one fresh paho client per connection,
paho's own network thread while connected) and one worker that owns every outbox call and runs commands.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey, VerifyKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent import __version__
from agent.durable import atomic_write, durable_replace, read_json, write_json
from agent.keys import message_key_id, trusted
from agent.link.sync import HitListSync
from agent.outbox import PRIORITY_HIT
from agent.protocol import topics
from agent.protocol.commands import Command, CommandGuard, CommandRejected
from agent.protocol.envelope import ProtocolError, open_signed, seal
from agent.protocol.trusted_time import TrustedClock

logger = logging.getLogger(__name__)


class OutboxRowLike(Protocol):
    seq: int
    kind: str
    msg_id: str
    body: bytes
    priority: int


class OutboxLike(Protocol):
    """What the link needs from ``agent.outbox.Outbox``."""

    def pending(self, limit: int) -> list[Any]: ...
    def ack(self, msg_ids: list[str]) -> Any: ...
    def depth(self) -> int: ...
    def oldest_age(self, now: float) -> float | None: ...


@dataclass
class LinkConfig:
    """Connection and delivery settings of one gate (docs/protocol.md "Gate settings")."""

    gate_id: str
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    protocol: int = 5  # 5, falling back to 4 (3.1.1) when the broker refuses MQTT 5
    keepalive: int = 30
    will_delay: int = 30
    heartbeat: float = 60.0
    window: int = 500  # rows awaiting the central node's ack
    paho_inflight: int = 100  # PERFORMANCE.md: keep paho's window <= 100
    ack_timeout: float = 30.0  # resend a row not acked for this long (same id; the centre dedupes)
    refused_retry: float = 30.0  # retry a row whose PUBACK was refused after this long
    backoff_min: float = 0.5
    backoff_max: float = 60.0
    stable_after: float = 10.0  # a connection that lived this long resets the backoff
    list_id: str | None = None  # hit-list to follow; None: any head under sharaka/v1/hitlists/


@dataclass
class LinkStats:
    """Counters reported in status."""

    connects: int = 0
    published: int = 0
    acked: int = 0
    resent: int = 0
    refused: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def _jitter(attempt: int, lo: float, hi: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff (AWS architecture blog): uniform in [lo, min(hi, lo * 2^n)]."""
    return rng.uniform(lo, min(hi, lo * (2**attempt)))


class GateLink:
    """Outbox -> MQTT -> central node, with status, commands and acks. ``start()``/``stop()``."""

    def __init__(
        self,
        config: LinkConfig,
        outbox: OutboxLike,
        device_key: SigningKey,
        *,
        node_keys: list[VerifyKey],
        command_keys: list[VerifyKey],
        state_dir: Path,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        status_source: Callable[[], dict[str, Any]] | None = None,
        command_handlers: Mapping[str, Callable[[dict[str, Any]], str]] | None = None,
        device_key_path: Path | None = None,
        high_impact_threshold: int = 2,
        rng: random.Random | None = None,
        hitlist: Any = None,
        hitlist_limits: Any = None,
    ) -> None:
        topics.check_id(config.gate_id)
        self.config = config
        self.gate_id = config.gate_id
        self.outbox = outbox
        self._key = device_key
        self._key_path = device_key_path
        self._node_keys = trusted(node_keys)
        self._clock = clock
        self._mono = monotonic
        self._rng = rng or random.Random()
        self._state_dir = Path(state_dir)
        self._state_dir.mkdir(parents=True, exist_ok=True)
        self._guard = CommandGuard(
            self._state_dir / "commands.json",
            self.gate_id,
            trusted(command_keys),
            high_impact_threshold=high_impact_threshold,
        )
        # RELIABILITY 15: commands are judged on trusted time, which never goes back across reboots
        self.trusted_time = TrustedClock(self._state_dir / "time.json", wall=clock, monotonic=monotonic)
        self._status_source = status_source
        self._handlers = dict(command_handlers or {})
        self.stats = LinkStats()
        self.alarms: set[str] = set()
        self.session = int(read_json(self._state_dir / "link.json", {"session": 0})["session"])

        self._lock = threading.Lock()  # guards the client, in-flight maps and inbound queues
        self._wake = threading.Condition(self._lock)
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._inflight: dict[str, float] = {}  # msg_id -> monotonic time sent
        self._mids: dict[int, str] = {}  # paho mid -> msg_id
        self._early: dict[int, Any] = {}  # paho mid -> PUBACK reason seen before publish() returned
        self._refused: dict[str, float] = {}  # msg_id -> monotonic time refused
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._acked: list[str] = []  # ids the centre acknowledged in the inbox batch being handled (worker only)
        self._dirty = True
        self._birth_due = False
        self._threads: list[threading.Thread] = []
        self._protocol = config.protocol
        self._pending_key: SigningKey | None = None
        self._queries: dict[str, dict[str, Any]] = {}
        self.hitlist = hitlist
        self.sync: HitListSync | None = None
        if hitlist is not None:
            self.sync = HitListSync(
                hitlist, self.gate_id, self._send_hitlist_req, clock, list_id=config.list_id,
                **({"limits": hitlist_limits} if hitlist_limits is not None else {}),
            )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the supervisor and worker threads; returns at once."""
        for name, target in (("supervisor", self._supervise), ("worker", self._work)):
            t = threading.Thread(target=target, name=f"link-{self.gate_id}-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Publish an orderly ``offline`` status, disconnect and join the threads."""
        client = self._client
        if client is not None and self._connected.is_set():
            try:
                info = client.publish(
                    topics.gate(self.gate_id, topics.STATUS),
                    self._status_wire("offline", "shutdown"),
                    qos=1,
                    retain=True,
                )
                info.wait_for_publish(timeout=min(timeout, 2.0))
            except (RuntimeError, ValueError, OSError):
                pass
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if client is not None:
            client.disconnect()
        self._lost.set()
        for t in self._threads:
            t.join(timeout)

    def notify(self) -> None:
        """Tell the link that the outbox has new rows (call after ``Outbox.append``)."""
        with self._wake:
            self._dirty = True
            self._wake.notify()

    def wait_for_connected(self, timeout: float) -> bool:
        """True once connected (CONNACK accepted) within ``timeout`` seconds."""
        return self._connected.wait(timeout)

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    # ------------------------------------------------------------------ supervisor
    def _new_client(self) -> mqtt.Client:
        cfg = self.config
        proto = mqtt.MQTTv5 if self._protocol == 5 else mqtt.MQTTv311
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.gate_id,
            protocol=proto,
            reconnect_on_failure=False,
            clean_session=None if proto == mqtt.MQTTv5 else False,
        )
        client.max_inflight_messages_set(cfg.paho_inflight)
        client.max_queued_messages_set(0)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.ca_file:
            client.tls_set(
                ca_certs=cfg.ca_file, certfile=cfg.cert_file, keyfile=cfg.key_file, tls_version=ssl.PROTOCOL_TLS_CLIENT
            )
        will_props = None
        if proto == mqtt.MQTTv5:
            will_props = Properties(PacketTypes.WILLMESSAGE)
            will_props.WillDelayInterval = cfg.will_delay
        client.will_set(
            topics.gate(self.gate_id, topics.STATUS),
            self._status_wire("offline", "will"),
            qos=1,
            retain=True,
            properties=will_props,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _next_session(self) -> None:
        self.session += 1
        write_json(self._state_dir / "link.json", {"session": self.session})

    def _supervise(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self._next_session()
            client = self._new_client()
            lost = threading.Event()  # per connection: a late callback of an old client cannot end this one
            client.user_data_set(lost)
            self._lost = lost
            started = self._mono()
            try:
                props = None
                kwargs: dict[str, Any] = {}
                if self._protocol == 5:
                    props = Properties(PacketTypes.CONNECT)
                    props.SessionExpiryInterval = max(self.config.will_delay * 2, 60)
                    kwargs = {"clean_start": False, "properties": props}
                client.connect(self.config.host, self.config.port, self.config.keepalive, **kwargs)
                with self._lock:
                    self._client = client
                client.loop_start()
                lost.wait()
                client.loop_stop()
            except (OSError, ssl.SSLError) as exc:
                logger.info("gate %s: connect to %s:%s failed: %s", self.gate_id, self.config.host, self.config.port, exc)
            with self._wake:
                self._client = None
                self._connected.clear()
                self._inflight.clear()
                self._mids.clear()
                self._early.clear()
                self._wake.notify()
            try:
                client.loop_stop()
                client.disconnect()
            except (OSError, RuntimeError):
                pass
            if self._stop.is_set():
                break
            attempt = 0 if self._mono() - started >= self.config.stable_after else attempt + 1
            self._stop.wait(_jitter(attempt, self.config.backoff_min, self.config.backoff_max, self._rng))

    # ------------------------------------------------------------------ paho callbacks (network thread)
    def _on_connect(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            logger.warning("gate %s: connection refused: %s", self.gate_id, reason)
            if self._protocol == 5 and getattr(reason, "value", 0) == 0x84:
                self._protocol = 4  # broker lacks MQTT 5: fall back to 3.1.1
            return
        self.stats.connects += 1
        subs = [(topics.gate(self.gate_id, leaf), 1) for leaf in topics.GATE_IN]
        if self.sync is not None:
            lid = self.config.list_id
            subs.append((topics.hitlist_head(lid) if lid else topics.all_hitlist_heads(), 1))
        client.subscribe(subs)
        with self._wake:
            self._inflight.clear()
            self._mids.clear()
            self._dirty = True
            self._birth_due = True
            self._wake.notify()
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, lost: threading.Event, _flags: Any, reason: Any, _props: Any) -> None:
        logger.info("gate %s: disconnected: %s", self.gate_id, reason)
        if lost is self._lost:
            self._connected.clear()
        lost.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _props: Any) -> None:
        with self._lock:
            msg_id = self._mids.pop(mid, None)
            if msg_id is None:
                if len(self._early) > 10_000:
                    self._early.clear()
                self._early[mid] = reason  # PUBACK before publish() returned, or a status message
            elif reason.is_failure:
                self._refuse(msg_id, reason)

    def _refuse(self, msg_id: str, reason: Any) -> None:
        """RELIABILITY 20: a refused PUBACK is not delivery; keep the row, raise an alarm (lock held)."""
        self.stats.refused += 1
        self._inflight.pop(msg_id, None)
        self._refused[msg_id] = self._mono()
        self.alarms.add("publish_refused")
        logger.warning("gate %s: broker refused %s: %s", self.gate_id, msg_id, reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/" + topics.QUERY_REPLY):
            self._on_query_reply(bytes(msg.payload))  # answered here: a traveller is waiting
            return
        with self._wake:
            self._inbox.append((msg.topic, bytes(msg.payload)))
            self._wake.notify()

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        last_beat = self._mono()
        while not self._stop.is_set():
            with self._wake:
                if not (self._inbox or self._birth_due or self._dirty):
                    self._wake.wait(0.5)
                inbox = list(self._inbox)
                self._inbox.clear()
                dirty, self._dirty = self._dirty, False
                birth, self._birth_due = self._birth_due, False
            try:
                for topic, payload in inbox:
                    self._handle_inbound(topic, payload)
                self._apply_acks()
                if self.sync is not None:
                    if birth:
                        self.sync.on_connected()
                    self.sync.tick()
                if birth:
                    self.publish_status("online", "birth")
                    last_beat = self._mono()
                elif self._connected.is_set() and self._mono() - last_beat >= self.config.heartbeat:
                    self.publish_status("online", "heartbeat")
                    last_beat = self._mono()
                self._drain(dirty)
            except Exception:  # the worker must survive anything a message or the outbox throws
                logger.exception("gate %s: link worker error", self.gate_id)
                self._stop.wait(0.5)

    def _drain(self, dirty: bool) -> None:
        """Publish pending rows not yet awaiting an ack, up to the window; resend timed-out ones."""
        if not self._connected.is_set():
            return
        now = self._mono()
        with self._lock:
            expired = [m for m, t in self._inflight.items() if now - t >= self.config.ack_timeout]
            for m in expired:
                del self._inflight[m]
            self.stats.resent += len(expired)
            retry = [m for m, t in self._refused.items() if now - t >= self.config.refused_retry]
            for m in retry:
                del self._refused[m]
            room = len(self._inflight) < self.config.window
        if not (dirty or expired or retry) or not room:
            return
        rows = self.outbox.pending(self.config.window)
        ts = self._clock()
        for row in rows:
            with self._lock:
                if row.msg_id in self._inflight or row.msg_id in self._refused:
                    continue
                client = self._client
                if len(self._inflight) >= self.config.window or client is None:
                    return
                self._inflight[row.msg_id] = now
            hit = row.priority >= PRIORITY_HIT or row.kind == "hit"  # hit alerts go to the `hit` topic
            wire = seal(
                "hit" if hit else "event",
                {
                    "id": row.msg_id,
                    "ts": ts,
                    "gate": self.gate_id,
                    "seq": int(row.seq),
                    "kind": row.kind,
                    "created": float(getattr(row, "created", 0.0) or 0.0),
                    "body": bytes(row.body),
                },
                [self._key],
            )
            # never hold our lock across paho calls: paho calls on_publish with its own locks held
            info = client.publish(topics.gate(self.gate_id, topics.HIT if hit else topics.EVENT), wire, qos=1)
            with self._lock:
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    self._inflight.pop(row.msg_id, None)
                    return
                self.stats.published += 1
                early = self._early.pop(info.mid, None)
                if early is None:
                    self._mids[info.mid] = row.msg_id
                elif early.is_failure:
                    self._refuse(row.msg_id, early)

    def _handle_inbound(self, topic: str, payload: bytes) -> None:
        if topic.startswith(topics.HITLISTS + "/"):
            if self.sync is not None and payload:
                self.sync.on_head(topic.split("/")[-2], payload)
            return
        leaf = topic.rsplit(f"/{self.gate_id}/", 1)[-1]
        if leaf == topics.HITLIST_CHUNK:
            body = self._open_from_node("hitlist_chunk", payload)
            if body is not None and self.sync is not None and body["gate"] == self.gate_id:
                self.sync.on_chunk(body)
            return
        if leaf == topics.ACK:
            body = self._open_from_node("ack", payload)
            if body is None:
                return
            if body["gate"] != self.gate_id:
                self.stats.reject("ack")
                return
            self._acked.extend(i for i in body["ids"] if isinstance(i, str))
        elif leaf == topics.CMD:
            self._handle_command(payload)
        else:
            self.stats.reject("topic")

    def _apply_acks(self) -> None:
        """Remove every row the centre acknowledged in this inbox batch in one outbox commit (one fsync for
        many acks); rows leave the in-flight set only after they left the outbox, so none is resent."""
        ids, self._acked = self._acked, []
        if not ids:
            return
        self.outbox.ack(ids)
        with self._lock:
            for i in ids:
                self._inflight.pop(i, None)
            # refill in batches: one pending() query per half window, not per ack
            self._dirty = self._dirty or len(self._inflight) <= self.config.window // 2
        self.stats.acked += len(ids)

    def _send_hitlist_req(self, body: dict[str, Any]) -> None:
        self._publish(topics.HITLIST_REQ, seal("hitlist_req", body, [self._key]), retain=False)

    # ------------------------------------------------------------------ online query
    def query_document(self, issuing_state: str, document_number: str, timeout: float) -> dict[str, Any] | None:
        """Ask the centre about a document (MQTT 5 request/response); None when offline or no answer within
        ``timeout`` seconds, so the caller falls back to the local list. The answer is {hit, reason, ref}."""
        with self._lock:
            client = self._client
        if client is None or not self._connected.is_set() or self._protocol != 5:
            return None
        qid = uuid.uuid4().hex
        waiter: dict[str, Any] = {"event": threading.Event()}
        with self._lock:
            self._queries[qid] = waiter
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topics.gate(self.gate_id, topics.QUERY_REPLY)
        props.CorrelationData = qid.encode()
        body = {"id": qid, "ts": self._clock(), "gate": self.gate_id, "issuing_state": issuing_state,
                "document_number": document_number}
        try:
            client.publish(topics.gate(self.gate_id, topics.QUERY), seal("query", body, [self._key]), qos=1,
                           properties=props)
            waiter["event"].wait(timeout)
        finally:
            with self._lock:
                self._queries.pop(qid, None)
        return waiter.get("answer")

    def _open_from_node(self, kind: str, payload: bytes) -> dict[str, Any] | None:
        """The verified body of a message the central node signed, or None (counted, logged) when it fails."""
        try:
            body, _ = open_signed(kind, payload, self._node_keys)
        except ProtocolError as exc:
            self.stats.reject(kind)
            logger.warning("gate %s: %s rejected: %s", self.gate_id, kind, exc)
            return None
        return body

    def _on_query_reply(self, payload: bytes) -> None:
        body = self._open_from_node("query_reply", payload)
        if body is None:
            return
        with self._lock:
            waiter = self._queries.get(body["req"])
        if waiter is None or body["gate"] != self.gate_id:
            return  # late (the caller already fell back) or not ours
        waiter["answer"] = {"hit": body["hit"], "reason": str(body.get("reason", "")), "ref": str(body.get("ref", "")),
                            "source": "central"}
        waiter["event"].set()

    # ------------------------------------------------------------------ commands
    def _handle_command(self, payload: bytes) -> None:
        try:
            cmd = self._guard.accept(payload, self.trusted_time.now())
        except CommandRejected as exc:
            self.stats.reject(f"cmd_{exc.reason}")
            logger.warning("gate %s: %s", self.gate_id, exc)
            self._publish_result(exc.cmd_id or "unknown", False, exc.reason, str(exc))
            return
        self.trusted_time.observe(cmd.issued)  # signed by the command keys: time has reached at least this
        try:
            detail = self._execute(cmd)
        except Exception as exc:  # a failing handler is reported, never fatal
            logger.exception("gate %s: command %s failed", self.gate_id, cmd.op)
            self._publish_result(cmd.id, False, "failed", f"{type(exc).__name__}: {exc}")
            return
        self._publish_result(cmd.id, True, "ok", detail)

    def _execute(self, cmd: Command) -> str:
        if cmd.op in ("request_status", "rebirth"):
            self.publish_status("online", "birth" if cmd.op == "rebirth" else "status")
            return "status published"
        if cmd.op == "rotate_device_key":
            return self._rotate_key()
        if cmd.op == "hitlist_resync" and self.sync is not None:
            self.sync.want_snapshot = bool(cmd.args.get("snapshot", False))
            self.sync.fetch(0)
            return "hit-list resync started"
        handler = self._handlers.get(cmd.op)
        if handler is None:
            raise ProtocolError(f"no handler for {cmd.op!r} on this gate")
        return handler(cmd.args)

    def _rotate_key(self) -> str:
        """Make a new device key; the result (signed by the old key) carries the new public key."""
        new = SigningKey.generate()
        if self._key_path is not None:
            atomic_write(Path(str(self._key_path) + ".new"), bytes(new))
        self._pending_key = new
        return f"new_key={bytes(new.verify_key).hex()}"

    def _publish_result(self, cmd_id: str, ok: bool, reason: str, detail: str) -> None:
        body = {"id": uuid.uuid4().hex, "ts": self._clock(), "gate": self.gate_id, "cmd_id": cmd_id[:64] or "unknown",
                "ok": ok, "reason": reason, "detail": detail[:1000]}
        self._publish(topics.CMD_RESULT, seal("cmd_result", body, [self._key]), retain=False)
        if self._pending_key is not None:
            # switch after the result is signed by the old key, so the centre can trust the new one
            self._key, self._pending_key = self._pending_key, None
            if self._key_path is not None:
                durable_replace(Path(str(self._key_path) + ".new"), self._key_path)

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        """The status body: versions, hit-list, hardware, outbox, link counters and alarms."""
        now = self._clock()
        out: dict[str, Any] = {
            "versions": {"agent": __version__, "protocol": 1},
            "device_key": message_key_id(self._key.verify_key).hex(),
            "link": {
                "connects": self.stats.connects,
                "published": self.stats.published,
                "acked": self.stats.acked,
                "resent": self.stats.resent,
                "refused": self.stats.refused,
                "rejected": dict(self.stats.rejected),
                "inflight": len(self._inflight),
            },
            "alarms": sorted(self.alarms),
        }
        try:
            out["outbox"] = {
                "depth": self.outbox.depth(),
                "oldest_age": self.outbox.oldest_age(now),
                "dropped": int(getattr(self.outbox, "dropped", 0)),
            }
            if out["outbox"]["dropped"]:
                self.alarms.add("outbox_dropped")  # RELIABILITY 22: routine events were dropped when full
                out["alarms"] = sorted(self.alarms)
        except Exception as exc:  # status must go out even when the outbox is sick
            out["outbox"] = {"error": str(exc)}
            self.alarms.add("outbox")
        if self.hitlist is not None:
            try:
                out["hitlist"] = self.hitlist.status(now)
            except Exception as exc:
                out["hitlist"] = {"error": str(exc)}
            if self.sync is not None:
                out["hitlist"]["sync"] = self.sync.status()
        if self._status_source is not None:
            try:
                out.update(self._status_source())
            except Exception as exc:
                out["status_source_error"] = str(exc)
        return out

    def _status_wire(self, state: str, kind: str, extra: dict[str, Any] | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "ts": self._clock(),
            "gate": self.gate_id,
            "session": self.session,
            "state": state,
            "kind": kind,
        }
        if extra:
            body.update(extra)
        return seal("status", body, [self._key])

    def publish_status(self, state: str = "online", kind: str = "heartbeat") -> None:
        """Publish a retained, signed status (birth, heartbeat, status on request)."""
        self._publish(topics.STATUS, self._status_wire(state, kind, self.status()), retain=True)

    def _publish(self, leaf: str, wire: bytes, *, retain: bool) -> None:
        with self._lock:
            client = self._client
        if client is None or not self._connected.is_set():
            return
        client.publish(topics.gate(self.gate_id, leaf), wire, qos=1, retain=retain)
