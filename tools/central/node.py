"""Reference central node: verifies and stores gate events, acks after its commit, tracks gate status,
sends signed commands (docs/protocol.md "Central node").

paho's network thread admits each message against its gate's budget (``tools.central.admission``) and
puts it on a bounded queue; one writer thread takes a batch and handles it in one transaction: the keys of
all its gates read by one statement, every message verified on its own (a hostile or malformed one is
rejected alone and counted against its gate; the events' signatures and sealed parts, and the acks' signatures,
on ``crypto_threads`` threads: libsodium runs without the GIL), the events inserted together (``_store_events``: one
statement for all, the database's uniqueness telling which are new; a statement the database refuses is
undone and its events inserted one by one, a savepoint each, so the refused one is rejected alone), other
messages applied in order, a savepoint each; one commit, and only then one group ack per gate.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey, VerifyKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.errors import BadDataError
from agent.keys import message_key_id
from agent.link.connection import no_delay
from agent.protocol import topics
from agent.protocol.commands import MAX_LIFETIME
from agent.protocol.envelope import ProtocolError, SignatureError, open_signed, seal
from agent.screening.events import EventOpener
from tools.central.admission import Admission, AdmissionConfig, InboundQueue
from tools.central.enrolment import EnrolmentDesk
from tools.central.gaps import SeqGaps
from tools.central.hitlists import HitListServer
from tools.central.mqttsocket import BufferedClient
from tools.central.online import OnlineHit, OnlineLists
from tools.central.store import CentralStore, EventRow, is_past_retention

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
_R = TypeVar("_R")

ACK_IDS_PER_MESSAGE = 1000
INBOUND = (topics.EVENT, topics.HIT, topics.STATUS, topics.CMD_RESULT, topics.HITLIST_REQ, topics.QUERY,
           topics.KEY_ROTATE)
_TYPES = {topics.EVENT: "event", topics.HIT: "hit", topics.STATUS: "status", topics.CMD_RESULT: "cmd_result",
          topics.HITLIST_REQ: "hitlist_req", topics.QUERY: "query", topics.KEY_ROTATE: "key_rotation"}
NODE_CLIENT_ID = "central"  # the node's broker identity; `sharaka-central cmd` uses its own (docs/broker.md)
KEYS_MAX_AGE_S = 5.0  # an online query trusts a gate's cached keys this long, then re-reads them (a retired gate)
LOG_EVERY = 10.0  # seconds between log lines (and console lines) for the same gate and reject reason
MAINTAIN_EVERY = 3600.0  # seconds between the store's upkeep (partitions ahead, retention)
BATCH_ATTEMPTS = 3  # a batch that hit a deadlock or a lost database connection is tried this often, then left
# to the gates' resend
# items per crypto thread before a batch's cryptography is spread over them: handing a chunk to a thread and
# back costs more than verifying a few events in place (bench/central_ingest.py, batches of 5: 290-384 µs of
# worker CPU per event in place, 364-474 spread; of 64: spread is 15 % faster for 16 % more CPU)
PARALLEL_MIN = 16
ROUTINE_NICE = 10  # with a hit lane, the routine writer and its crypto threads run this much nicer than the rest
# of the process: on a busy machine the hit lane's threads get the cores (and the GIL) first


def lower_priority(increment: int) -> None:
    """Make the calling thread ``increment`` nicer (Linux: each thread has its own nice value; raising it needs no
    privilege). Where that cannot be done the thread keeps its priority."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except (AttributeError, OSError) as exc:
        logger.debug("central: thread priority unchanged: %s", exc)


class Rejected(BadDataError):
    """A message the centre refuses; ``reason`` is the code counted per gate."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class CentralConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = NODE_CLIENT_ID
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    batch: int = 2000  # most messages committed in one transaction
    # seconds a batch waits for more messages once one came (not when a hit is waiting: InboundQueue.take): at
    # live traffic a worker's batch holds one or two events and its fixed costs (the keys' read, the commit, the
    # gaps' merge, an ack each) are most of its CPU per event; 50 ms groups them, +50 ms to a routine event's ack
    linger: float = 0.05
    gap_grace: float = 60.0  # a sequence number missing this long is reported (2 x the gate's ack_timeout)
    share_group: str | None = None  # several workers: MQTT 5 shared subscriptions $share/GROUP/... (docs/central.md)
    keep_days: int = 0  # retention: events older than this many days go (0: kept)
    # threads verifying and opening a batch's events and signing its acks: libsodium runs without the GIL, so
    # one worker's cryptography (most of its CPU) spreads over this many cores; 1: in the writer thread itself
    crypto_threads: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    # hit-list requests on a broker connection of their own, as this user (a ``central-*`` one; it is the client
    # id too), answered on its network thread: a list transfer never waits behind a backlog of event batches in
    # the broker's queue or the inbound queue. None: they come with the events, answered by the writer
    list_username: str | None = None
    list_password: str | None = None
    # hits on a broker connection of their own, as this user (a ``central-*`` one), with their own inbound queue,
    # writer thread, store connection and acks (``CentralNode.hits``): a hit never waits behind routine events,
    # neither in the broker's queue for the node nor in the writer's batch. None: they come with the events
    hit_username: str | None = None
    hit_password: str | None = None
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)

    def client(self, client_id: str | None = None) -> mqtt.Client:
        """A paho MQTT 5 client for this broker: its credentials and TLS set, ``client_id`` (default this
        config's; a broker with ``use_username_as_clientid`` replaces it by the username), reading its socket in large
        gulps (``tools.central.mqttsocket``). Not connected."""
        client = BufferedClient(CallbackAPIVersion.VERSION2, client_id=client_id or self.client_id,
                                protocol=mqtt.MQTTv5)
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.ca_file:
            client.tls_set(ca_certs=self.ca_file, certfile=self.cert_file, keyfile=self.key_file)
        return client


@dataclass
class CentralStats:
    """Counters of the node's inbound traffic (``sharaka-central run`` prints them)."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    acks_sent: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # messages rejected, by reason

    def __add__(self, other: CentralStats) -> CentralStats:
        return CentralStats(self.received + other.received, self.stored + other.stored,
                            self.duplicates + other.duplicates, self.acks_sent + other.acks_sent,
                            self.rejected + other.rejected)


class CentralNode:
    """The central node's MQTT side. ``start()``, ``stop()``, ``send_command()``.

    ``on_update(kind, data)`` is called from the writer thread for the console: kinds ``hit``,
    ``status``, ``cmd_result``, ``reject`` (at most one per gate and reason every ``LOG_EVERY`` s, with
    the count since), ``gap``; with ``hit_username`` also from the hit lane's writer thread.

    ``hit_lane``: this node is another node's ``hits`` (made by it): it subscribes to the gates' ``hit``
    topic only and leaves the store's upkeep and the gap reports to the node that made it.
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
        online: OnlineLists | None = None,
        hit_lane: bool = False,
    ) -> None:
        self.config = config
        self.store = store
        self._node_key = node_key
        self._opener = EventOpener(node_key)  # the personal part of events is sealed to this key
        self._command_keys = list(command_keys)
        self._clock = clock
        self._on_update = on_update
        self.hitlists = hitlists
        self.online = online  # the centre's current lists, answering online queries
        self.enrolment: EnrolmentDesk | None = None  # answers new gates' enrolment requests when set
        self.hit_lane = hit_lane
        self.stats = CentralStats()
        self.admission = Admission(config.admission)
        self.queue = InboundQueue(config.admission.queue_max)
        self._stop = threading.Event()
        self._keys: dict[str, dict[bytes, VerifyKey]] = {}
        self._keys_at: dict[str, float] = {}  # monotonic time each gate's keys were read from the store
        self.keys_max_age_s = KEYS_MAX_AGE_S  # how long an online query trusts a gate's cached keys
        self._gaps: dict[str, SeqGaps] = {}
        self._gaps_shown: dict[str, int] = {}
        self._gaps_checked = 0.0
        self._dropped: dict[tuple[str, str], int] = {}  # (gate, reason) -> count, from the network thread
        self._dropped_lock = threading.Lock()
        self._logged: dict[tuple[str, str], tuple[float, int]] = {}
        self._queries: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._batch_rejects: dict[tuple[str, str], int] = {}  # written once per batch, in its transaction
        self._batch_seqs: dict[str, list[int]] = {}  # sequence numbers stored in this batch, per gate
        self._batch_confirms: list[tuple[str, bytes]] = []  # key confirmations, sent once the batch committed
        self._maintained = -MAINTAIN_EVERY
        # ack ids: 64 random bits for this node and a counter, unique like a uuid4 without a getrandom per ack
        self._ack_prefix, self._ack_count = os.urandom(8).hex(), itertools.count()
        self.connected = threading.Event()
        self._client = config.client()
        self._client.max_inflight_messages_set(100)
        self._client.reconnect_delay_set(1, 5)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *_a: self.connected.clear()
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._writer = threading.Thread(target=self._write_loop, name="central-writer", daemon=True)
        self._lists_client: mqtt.Client | None = None  # the hit-list requests' own connection (list_username)
        self.lists_connected = threading.Event()
        if config.list_username is not None:
            lc = dataclasses.replace(config, username=config.list_username, password=config.list_password,
                                     client_id=config.list_username).client()
            lc.on_connect = self._on_lists_connect
            lc.on_disconnect = lambda *_a: self.lists_connected.clear()
            lc.on_subscribe = lambda _c, _u, _m, reasons, _p: (
                self.lists_connected.set() if not any(r.is_failure for r in reasons) else None)
            lc.on_message = self._on_list_request
            self._lists_client = lc
        routine = config.hit_username is not None and not hit_lane  # yields the cores to its hit lane
        self._crypto = (ThreadPoolExecutor(config.crypto_threads, thread_name_prefix="central-crypto",
                                           initializer=(lambda: lower_priority(ROUTINE_NICE)) if routine else None)
                        if config.crypto_threads > 1 else None)
        # the hit lane (hit_username): a node of its own for the gates' `hit` topic, on its own broker connection
        # (its own session, queue and in-flight window at the broker), inbound queue, writer thread, store
        # connection and acks. An MQTT session delivers in order, so on the events' connection a hit waits behind
        # every routine event the broker queued for this node before it (docs/central.md "The hit lane")
        self.hits: CentralNode | None = None
        if config.hit_username is not None and not hit_lane:
            lane = dataclasses.replace(config, username=config.hit_username, password=config.hit_password,
                                       client_id=config.hit_username, hit_username=None, list_username=None)
            self.hits = CentralNode(lane, store.reopen(), node_key, [], clock=clock, on_update=on_update,
                                    hit_lane=True)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        # one worker keeps its session (the broker queues for it across a restart); a worker of a shared group
        # does not: a dead worker's share must go to the live ones at once, not wait in its queue
        shared = self.config.share_group is not None
        props.SessionExpiryInterval = 0 if shared else 3600
        for client in (self._client, self._lists_client):
            if client is not None:
                client.connect_async(self.config.host, self.config.port, 30, clean_start=shared, properties=props)
                client.loop_start()
        self._writer.start()
        if self.hits is not None:
            self.hits.start()

    def stop(self) -> None:
        if self.hits is not None:
            self.hits.stop()
            self.hits.store.close()
        self._stop.set()
        self.queue.wake()
        self._writer.join(5)
        if self._crypto is not None:
            self._crypto.shutdown(wait=False, cancel_futures=True)
        for client in (self._client, self._lists_client):
            if client is not None:
                client.disconnect()
                client.loop_stop()

    def wait_for_connected(self, timeout: float) -> bool:
        """True once connected and subscribed (the list requests' and the hit lane's connections too, when it
        has them)."""
        deadline = time.monotonic() + timeout
        if not self.connected.wait(timeout):
            return False
        if self.hits is not None and not self.hits.wait_for_connected(max(0.0, deadline - time.monotonic())):
            return False
        return self._lists_client is None or self.lists_connected.wait(max(0.0, deadline - time.monotonic()))

    @property
    def totals(self) -> CentralStats:
        """This node's counters with its hit lane's."""
        return self.stats if self.hits is None else self.stats + self.hits.stats

    # ------------------------------------------------------------------ network thread
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        no_delay(client)  # query replies and acks leave at once
        if reason.is_failure:
            logger.warning("central: connection refused: %s", reason)
            return
        if self.hit_lane:
            self._subscribe(client, [topics.all_gates(topics.HIT)])
            return
        leaves = [leaf for leaf in INBOUND if (leaf != topics.HITLIST_REQ or self._lists_client is None)
                  and (leaf != topics.HIT or self.hits is None)]
        self._subscribe(client, [topics.all_gates(leaf) for leaf in leaves] + [topics.all_enrol_requests()])

    def _subscribe(self, client: mqtt.Client, filters: list[str]) -> None:
        group = self.config.share_group
        client.subscribe([(f"$share/{group}/{f}" if group else f, 1) for f in filters])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            logger.warning("central: subscription refused: %s", reasons)
            return
        self.connected.set()  # connected and subscribed: ready to receive

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.startswith(topics.ENROL + "/"):
            self._enrol(msg.topic, bytes(msg.payload))
            return
        try:
            gate_id, leaf = topics.parse_gate_topic(msg.topic)
        except ValueError:
            gate_id, leaf = "", ""
        if gate_id and not self.admission.admit(gate_id, leaf):
            self._drop(gate_id, "rate_limited")  # unread; an event stays at the gate and is sent again
            return
        props = getattr(msg, "properties", None)
        if leaf == topics.QUERY and props is not None:
            self._answer_query(msg.topic, bytes(msg.payload), props)  # a traveller is waiting: no batching
            return
        # QoS 1: wait for room (paho stops reading, the broker holds the rest); QoS 0: drop when full. A hit
        # goes ahead of the events queued before it
        if not self.queue.put((msg.topic, bytes(msg.payload)), block=msg.qos > 0, stop=self._stop,
                              urgent=leaf == topics.HIT):
            self._drop(gate_id, "queue_full")

    def _enrol(self, topic: str, payload: bytes) -> None:
        """Answer one enrolment request (rare, a person is waiting: on the network thread, rate-limited per
        enrolment client like a gate's topic)."""
        try:
            client_id = topics.parse_enrol_topic(topic)
        except ValueError:
            return
        if self.enrolment is None or not self.admission.admit(client_id, topics.ENROL_REQ):
            return
        reply = self.enrolment.answer(client_id, payload)
        if reply is not None:
            self._client.publish(topics.enrol(client_id, topics.ENROL_REPLY), reply, qos=1)

    def _drop(self, gate_id: str, reason: str) -> None:
        with self._dropped_lock:
            self._dropped[(gate_id, reason)] = self._dropped.get((gate_id, reason), 0) + 1

    # ------------------------------------------------------------------ writer thread
    def _write_loop(self) -> None:
        if self.hits is not None:
            lower_priority(ROUTINE_NICE)
        while not self._stop.is_set():
            batch = self.queue.take(self.config.batch, self.config.linger, self._stop)
            for attempt in range(1, BATCH_ATTEMPTS + 1):
                try:
                    if batch or self._dropped:
                        self._process(batch)
                    self._check_gaps()
                    self._maintain()
                    break
                except Exception as exc:  # keep the node up; the gates resend what was not acked
                    if self.store.is_transient(exc) and attempt < BATCH_ATTEMPTS and not self._stop.is_set():
                        logger.warning("central: batch of %d failed (%s), trying again", len(batch), exc)
                        self._stop.wait(0.2 * attempt)
                        continue
                    logger.exception("central: batch of %d failed; the gates will resend it", len(batch))
                    break

    def _maintain(self) -> None:
        """The store's upkeep (partitions, retention) at start and every MAINTAIN_EVERY seconds (not by a hit
        lane: its node does it)."""
        mono = time.monotonic()
        if not self.hit_lane and mono - self._maintained >= MAINTAIN_EVERY:
            self._maintained = mono
            self.store.maintain(self._clock(), self.config.keep_days)

    def _trusted(self, gate_id: str, max_age: float | None = None) -> dict[bytes, VerifyKey] | None:
        """The gate's enrolled key and, while a rotation is pending, its new key (RELIABILITY 43). Cached, and
        re-read for the gates of each batch: a re-enrolment by ``sharaka-central enrol --replace`` takes effect
        at the gate's next batch. ``max_age``: re-read keys cached longer than that many seconds (online queries,
        which come outside batches: a gate retired by another process is refused within ``KEYS_MAX_AGE_S``)."""
        keys = self._keys.get(gate_id)
        if keys is not None and max_age is not None and time.monotonic() - self._keys_at.get(gate_id, 0.0) > max_age:
            keys = None
        if keys is None:
            pubs = self.store.device_keys(gate_id)
            if not pubs:
                self._keys.pop(gate_id, None)
                return None
            keys = self._keys[gate_id] = {message_key_id(p): VerifyKey(p) for p in pubs}
            self._keys_at[gate_id] = time.monotonic()
        return keys

    def _reject(self, gate_id: str, leaf: str, reason: str, topic: str, detail: str, n: int = 1) -> None:
        """Count a reject against its gate (inside the batch's transaction), charge the gate's budget, and
        log / show it at most once per gate and reason every LOG_EVERY seconds."""
        self.stats.rejected[reason] += n
        self._batch_rejects[(gate_id, reason)] = self._batch_rejects.get((gate_id, reason), 0) + n
        if gate_id and reason not in ("rate_limited", "past_retention"):  # an honest gate's old backlog costs nothing
            self.admission.charge_reject(gate_id, leaf)
        now = time.monotonic()
        last, pending = self._logged.get((gate_id, reason), (-LOG_EVERY, 0))
        if now - last < LOG_EVERY:
            self._logged[(gate_id, reason)] = (last, pending + n)
            return
        self._logged[(gate_id, reason)] = (now, 0)
        count = pending + n
        logger.warning("central: rejected %d message(s) from %r (%s): %s", count, gate_id, reason, detail)
        if self._on_update:
            self._on_update("reject", {"gate": gate_id, "topic": topic, "reason": reason, "detail": detail,
                                       "count": count})

    def _process(self, batch: list[tuple[str, bytes]]) -> None:
        now = self._clock()
        acks: dict[str, list[str]] = {}
        shown: list[tuple[str, dict[str, Any]]] = []
        with self._dropped_lock:
            dropped, self._dropped = self._dropped, {}
        self._batch_rejects, self._batch_seqs, self._batch_confirms = {}, {}, []
        shared = self.config.share_group is not None
        for (gate_id, reason), n in dropped.items():  # counted in the transaction below
            self._reject(gate_id, "", reason, "", "over the gate's budget or the queue bound", n)
        inbound: list[tuple[str, str, str, bytes]] = []
        for topic, payload in batch:
            self.stats.received += 1
            try:
                gate_id, leaf = topics.parse_gate_topic(topic)
            except ValueError as exc:
                self._reject("", "", "topic", topic, str(exc))
                continue
            inbound.append((topic, gate_id, leaf, payload))
        # every gate's keys by one statement, re-read per batch: a key change by another process (enrol
        # --replace) applies from the gate's next batch. Merged, never replaced: the other gates' keys stay
        # cached for their online queries, answered on the network thread, which must not wait for this
        # transaction's lock and commit to read a key (docs/online-query.md "At the centre").
        keys, read_at = dict(self._keys), time.monotonic()
        for gate_id, pubs in self.store.device_keys_of([m[1] for m in inbound]).items():
            if pubs:
                keys[gate_id] = {message_key_id(p): VerifyKey(p) for p in pubs}
                self._keys_at[gate_id] = read_at
            else:
                keys.pop(gate_id, None)
        self._keys = keys
        # gate by gate (a stable sort: each gate's own order kept); events are verified and opened before the
        # transaction (the CPU of the batch: the store's write lock, which a hit lane also takes, is not held
        # for it) and inserted together in it (_store_events), everything else is applied in order, alone
        ordered = sorted(inbound, key=lambda m: m[0])
        opened = self._open_events(ordered, now)
        with self.store.transaction():  # one commit (one fsync) for the whole batch, rejects included
            events: list[tuple[str, str, str, dict[str, Any], EventRow]] = []
            for i, (topic, gate_id, leaf, payload) in enumerate(ordered):
                try:
                    if i in opened:  # an event of a gate with one key: verified and opened (_open_events)
                        result = opened[i]
                        if isinstance(result, Exception):
                            raise result
                        msg_type, body, row = result
                        if self._past_retention(gate_id, body, now):
                            acks.setdefault(gate_id, []).append(body["id"])
                        elif row is not None:
                            events.append((topic, gate_id, msg_type, body, row))
                        continue
                    msg_type, body, signers = self._verify(gate_id, leaf, payload)
                    with self.store.each():  # a savepoint: an error undoes this message's writes only
                        if msg_type != "key_rotation":  # signed by both keys: not yet a switch
                            self._note_signers(gate_id, signers, now, shown)
                        ack = self._apply(gate_id, msg_type, body, payload, now, shown)
                except Rejected as exc:
                    self._reject(gate_id, leaf, exc.reason, topic, str(exc))
                    continue
                except Exception as exc:  # a bug must cost this message only, never the batch
                    if self.store.is_transient(exc):  # a deadlock, a lost connection: the batch is tried again
                        raise
                    logger.exception("central: message on %r failed", topic)
                    self._reject(gate_id, leaf, "internal", topic, f"{type(exc).__name__}: {exc}")
                    continue
                if ack is not None:
                    acks.setdefault(gate_id, []).append(ack)
            self._store_events(events, now, acks, shown)
            if not shared:
                self._merge_gaps(now)
            for (gate_id, reason), n in sorted(self._batch_rejects.items()):
                self.store.count_reject(gate_id, reason, n)
        # committed: only now may a gate switch to the key it asked for (it stops asking once confirmed)
        for gate_id, wire in self._batch_confirms:
            self._client.publish(topics.gate(gate_id, topics.KEY_CONFIRM), wire, qos=1)
        # committed: only now may the gates forget their events
        parts = [(gate_id, ids[i : i + ACK_IDS_PER_MESSAGE]) for gate_id, ids in acks.items()
                 for i in range(0, len(ids), ACK_IDS_PER_MESSAGE)]
        bodies = [{"id": f"{self._ack_prefix}{next(self._ack_count):016x}", "ts": now, "gate": gate_id, "ids": ids}
                  for gate_id, ids in parts]
        for (gate_id, _), wire in zip(parts, self._parallel(self._sign_ack, bodies), strict=True):
            self._client.publish(topics.gate(gate_id, topics.ACK), wire, qos=1)
            self.stats.acks_sent += 1
        if shared and self._batch_seqs:
            # several workers: the gaps (monitoring, not delivery) are merged after the acks in a short
            # transaction of their own, so no worker holds gate rows for a whole batch
            try:
                with self.store.transaction():
                    self._merge_gaps(now)
            except Exception as exc:
                logger.warning("central: sequence gaps not merged this batch: %s", exc)
        if self._on_update:
            for kind, data in shown:
                self._on_update(kind, data)

    def _open_events(self, ordered: list[tuple[str, str, str, bytes]], now: float
                     ) -> dict[int, tuple[str, dict[str, Any], EventRow | None] | Exception]:
        """The events among ``ordered`` whose gate has one enrolled key and no rotation pending, verified and
        opened (``_verify``, ``_event_row``: pure once the keys are read) by the ``crypto_threads`` (``_parallel``):
        index in ``ordered`` -> (type, body, row), or the exception (``Rejected``, a bug) for that message
        alone; the row is None for an event past the retention (not opened: ``_past_retention`` acks it, also when it
        is sealed to a node key this centre no longer has). Everything else is left to the writer thread, in order:
        other messages, the events of unknown
        gates, of a gate whose key rotation is pending, and of a gate with another message in this batch (a
        status or a result before its events may retire the gate or change its keys)."""
        events = (topics.EVENT, topics.HIT)
        busy = {gate_id for _, gate_id, leaf, _ in ordered if leaf not in events}
        todo = [i for i, (_, gate_id, leaf, _) in enumerate(ordered)
                if leaf in events and gate_id not in busy and len(self._keys.get(gate_id, ())) == 1]

        def work(i: int) -> tuple[str, dict[str, Any], EventRow | None] | Exception:
            _, gate_id, leaf, payload = ordered[i]
            try:
                msg_type, body, _ = self._verify(gate_id, leaf, payload)
                if is_past_retention(body["created"], self.config.keep_days, now):
                    return msg_type, body, None
                return msg_type, body, self._event_row(gate_id, msg_type, body, now)
            except Exception as exc:  # Rejected, or a bug: this message only
                return exc

        return dict(zip(todo, self._parallel(work, todo), strict=True))

    def _sign_ack(self, body: dict[str, Any]) -> bytes:
        return seal("ack", body, [self._node_key])

    def _parallel(self, fn: Callable[[_T], _R], items: list[_T]) -> list[_R]:
        """``[fn(x) for x in items]``, on the ``crypto_threads`` in as many chunks when there are ``PARALLEL_MIN``
        items for each (libsodium runs without the GIL: verifying, opening and signing spread over the cores),
        else in this thread."""
        n = self.config.crypto_threads
        if self._crypto is None or len(items) < PARALLEL_MIN * n:
            return [fn(x) for x in items]
        chunks = list(self._crypto.map(lambda part: [fn(x) for x in part], [items[k::n] for k in range(n)]))
        out: list[_R] = [None] * len(items)  # type: ignore[list-item]
        for k, part in enumerate(chunks):
            out[k::n] = part
        return out

    def _store_events(self, events: list[tuple[str, str, str, dict[str, Any], EventRow]], now: float,
                      acks: dict[str, list[str]], shown: list[tuple[str, dict[str, Any]]]) -> None:
        """Insert a batch's verified events (topic, gate, type, body, row) by a few many-row statements in one
        savepoint (``CentralStore.insert_events``: the database tells which are new). When the database
        refuses the statement, the savepoint is undone and the events go in one by one, a savepoint each, so
        the one it refuses is rejected alone and the others are stored."""
        if not events:
            return
        rows = [e[4] for e in events]
        news: list[bool | None]
        try:
            with self.store.each():
                news = list(self.store.insert_events(rows))
        except Exception as exc:
            if self.store.is_transient(exc):
                raise
            news = []
            for topic, gate_id, _, _, row in events:
                try:
                    with self.store.each():
                        news.append(self.store.add_event(row))
                except Exception as one:
                    if self.store.is_transient(one):
                        raise
                    logger.exception("central: message on %r failed", topic)
                    self._reject(gate_id, topics.parse_gate_topic(topic)[1], "internal", topic,
                                 f"{type(one).__name__}: {one}")
                    news.append(None)
        for (_, gate_id, msg_type, body, _), new in zip(events, news, strict=True):
            if new is not None:
                self._stored(gate_id, msg_type, body, new, now, shown)
                acks.setdefault(gate_id, []).append(body["id"])

    def _merge_gaps(self, now: float) -> None:
        """Merge the sequence numbers stored since the last call with what other workers stored: the gates'
        rows read locked inside the transaction (``CentralStore.seq_gaps_of``), updated, written back."""
        if not self._batch_seqs:
            return
        merged = self.store.seq_gaps_of(list(self._batch_seqs))
        for gate_id, seqs in self._batch_seqs.items():
            for seq in seqs:
                merged[gate_id].add(seq, now)
        self.store.save_seq_gaps(merged)
        self._gaps.update(merged)
        self._batch_seqs = {}

    def _verify(self, gate_id: str, leaf: str, payload: bytes) -> tuple[str, dict[str, Any], frozenset[bytes]]:
        """(message type, verified body, ids of the keys that signed) of one message; raises Rejected. Pure
        apart from the key lookup. A ``key_rotation`` must be signed by the enrolled key and by the new key
        it carries (``_rotation_signers``)."""
        keys = self._trusted(gate_id)
        if keys is None:
            raise Rejected("unknown_gate", f"gate {gate_id!r} is not enrolled")
        msg_type = _TYPES.get(leaf)
        if msg_type is None:
            raise Rejected("topic", f"leaf {leaf!r} is not inbound at the centre")
        if msg_type == "query":
            raise Rejected("query", "an online query needs MQTT 5 (response topic, correlation data)")
        try:
            body, signers = open_signed(msg_type, payload, keys)
            if msg_type == "key_rotation":
                self._rotation_signers(gate_id, body, payload)
        except SignatureError as exc:
            raise Rejected("signature", str(exc))
        except ProtocolError as exc:
            raise Rejected("malformed", str(exc))
        if body["gate"] != gate_id:
            raise Rejected("wrong_gate", f"body says gate {body['gate']!r}")
        return msg_type, body, signers

    def _apply(
        self, gate_id: str, msg_type: str, body: dict[str, Any], payload: bytes, now: float,
        shown: list[tuple[str, dict[str, Any]]],
    ) -> str | None:
        """Apply one verified message to the store; returns the event id to ack for events."""
        if msg_type in ("event", "hit"):
            if not self._past_retention(gate_id, body, now):
                new = self.store.add_event(self._event_row(gate_id, msg_type, body, now))
                self._stored(gate_id, msg_type, body, new, now, shown)
            return str(body["id"])
        if msg_type == "status":
            shown.append(("status", self._status(gate_id, body, payload, now)))
        elif msg_type == "key_rotation":
            shown.append(("key", self._key_rotation(gate_id, body, now)))
        elif msg_type == "hitlist_req":
            if not self.store.first_request(gate_id, body["id"], now):
                raise Rejected("replay", f"hit-list request {body['id']!r} was already answered")
            self._hitlist_req(gate_id, body, now)
        else:
            shown.append(("cmd_result", self._result(gate_id, body)))
        return None

    def _past_retention(self, gate_id: str, body: dict[str, Any], now: float) -> bool:
        """True for a verified event created on a day retention deletes (docs/protocol.md "Retention and resends"):
        acknowledged without being stored (a copy of a pruned event is not stored again, nor shown again as new;
        a backlog older than the retention is not stored only to be deleted at the next upkeep), its sequence
        number counted as received, and counted against its gate as ``past_retention``."""
        if not is_past_retention(body["created"], self.config.keep_days, now):
            return False
        self._batch_seqs.setdefault(gate_id, []).append(body["seq"])
        leaf = topics.HIT if body["t"] == "hit" else topics.EVENT
        self._reject(gate_id, leaf, "past_retention", topics.gate(gate_id, leaf),
                     f"event {body['id']!r} was created before the {self.config.keep_days}-day retention: acknowledged, "
                     f"not stored")
        return True

    def _event_row(self, gate_id: str, msg_type: str, body: dict[str, Any], now: float) -> EventRow:
        """The store row of a verified event, its sealed part opened; raises Rejected when that does not open
        (not acked: it stays at the gate)."""
        try:  # opened only after the signature verified (_verify)
            event = self._opener.open_body(body["body"])
        except ValueError as exc:
            raise Rejected("sealed", str(exc)) from exc
        return (body["id"], gate_id, body["seq"], msg_type == "hit", body["kind"], body["created"], body["ts"], now,
                event)

    def _stored(self, gate_id: str, msg_type: str, body: dict[str, Any], new: bool, now: float,
                shown: list[tuple[str, dict[str, Any]]]) -> None:
        """Account for an event the store took (``new``) or refused as a copy."""
        if not new:
            self.stats.duplicates += 1
            return
        self.stats.stored += 1
        self._batch_seqs.setdefault(gate_id, []).append(body["seq"])
        if msg_type == "hit":
            shown.append(("hit", {"gate": gate_id, "id": body["id"], "seq": body["seq"], "sent": body["ts"],
                                  "received": now}))

    def _check_gaps(self) -> None:
        """Report (on_update ``gap``) each gate whose count of overdue missing sequence numbers changed."""
        mono = time.monotonic()
        if self.hit_lane or mono - self._gaps_checked < 1.0:  # a hit lane's node reports the gaps
            return
        self._gaps_checked = mono
        now = self._clock()
        for gate_id, gaps in list(self._gaps.items()):
            overdue = gaps.overdue(now, self.config.gap_grace)
            if overdue != self._gaps_shown.get(gate_id, 0) and (self.config.share_group is not None
                                                                or self.hits is not None):
                # other workers, or this node's hit lane, may have stored the missing numbers since this copy was read
                gaps = self._gaps[gate_id] = self.store.seq_gaps(gate_id)
                overdue = gaps.overdue(now, self.config.gap_grace)
            if overdue != self._gaps_shown.get(gate_id, 0):
                self._gaps_shown[gate_id] = overdue
                logger.warning("central: gate %r is missing %d event sequence number(s) below %d", gate_id,
                               overdue, gaps.high)
                if self._on_update:
                    self._on_update("gap", {"gate": gate_id, "missing": overdue, "high": gaps.high,
                                            "since": gaps.oldest()})

    def _status(self, gate_id: str, body: dict[str, Any], raw: bytes, now: float) -> dict[str, Any]:
        version = body.get("hitlist", {}).get("version")  # schema: an int in range, or absent
        online = body["state"] == "online"
        if body.get("kind") == "decommissioned":  # signed by the gate's key just before it destroyed it
            self.store.retire(gate_id, now, "the gate decommissioned itself (sharaka-gate provision --wipe)")
            self._keys.pop(gate_id, None)
        # a last will says only "offline": the gate's last full status (lists, faults, backlog) is kept
        kept = None if body.get("kind") == "will" else raw
        applied = self.store.record_status(gate_id, body["session"], online, now, version, kept)
        return {"gate": gate_id, "session": body["session"], "state": body["state"], "kind": body.get("kind"),
                "applied": applied, "list_version": version}

    def _result(self, gate_id: str, body: dict[str, Any]) -> dict[str, Any]:
        detail = str(body.get("detail", ""))
        op = self.store.command_result(body["cmd_id"], gate_id, body["ok"], body["reason"], detail)
        if op == "wipe" and body["ok"]:  # the gate's last signed word before it destroys its key
            self.store.retire(gate_id, self._clock(), "remote wipe command")
            self._keys.pop(gate_id, None)
        if op == "rotate_device_key" and body["ok"] and detail.startswith("new_key="):
            try:
                pub = bytes.fromhex(detail.removeprefix("new_key="))
            except ValueError:
                pub = b""
            if len(pub) == 32:
                # a protocol-1 gate switches right after this result (signed by the old key): the new key
                # is pending, both verify, and the first message signed by it makes it the only one
                self.store.propose_key(gate_id, pub, self._clock(), body["ts"])
                self._keys.pop(gate_id, None)
        return {"gate": gate_id, "cmd_id": body["cmd_id"], "op": op, "ok": body["ok"], "reason": body["reason"],
                "detail": detail}

    # ------------------------------------------------------------------ device-key rotation
    def _rotation_signers(self, gate_id: str, body: dict[str, Any], payload: bytes) -> None:
        """Raise SignatureError unless a rotation request is signed by the gate's enrolled key (a pending key
        cannot start another rotation) and by the new key it carries (proof of possession)."""
        active = self.store.device_key(gate_id)
        new = body["new_key"]
        if active is None:
            raise SignatureError(f"gate {gate_id!r} is not enrolled")
        open_signed("key_rotation", payload, {message_key_id(active): VerifyKey(active)})
        open_signed("key_rotation", payload, {message_key_id(new): VerifyKey(new)})

    def _key_rotation(self, gate_id: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        """A verified rotation request (docs/protocol.md "Device-key rotation"): the new key becomes pending
        (both verify until the gate uses the new one) and the signed confirmation is sent, again for every
        repeat: the gate repeats its request until it has one. It is sent after the batch's transaction
        committed (``_process``): a confirmation for a pending key the store then lost (the batch failed, the
        node died) would switch the gate to a key the centre refuses, and the gate would not ask again. A request
        signed before the pending key's (``propose_key``: stale, out of order) changes nothing and is not confirmed."""
        new = body["new_key"]
        self.store.propose_key(gate_id, new, now, body["ts"])
        self._keys.pop(gate_id, None)
        if bytes(new) not in self.store.device_keys(gate_id):
            return {"gate": gate_id, "kind": "rotation_stale", "new_key": message_key_id(new).hex()}
        wire = seal("key_confirm", {"id": uuid.uuid4().hex, "ts": now, "gate": gate_id, "req": body["id"],
                                    "new_key": new}, [self._node_key])
        self._batch_confirms.append((gate_id, wire))
        return {"gate": gate_id, "kind": "rotation_requested", "new_key": message_key_id(new).hex()}

    def _note_signers(self, gate_id: str, signers: frozenset[bytes], now: float,
                      shown: list[tuple[str, dict[str, Any]]]) -> None:
        """A message signed by the gate's pending key: the gate has switched, so the old key is retired."""
        keys = self._keys.get(gate_id) or {}
        if len(keys) < 2:
            return
        pending = list(keys)[1]
        if pending in signers and self.store.promote_key(gate_id, bytes(keys[pending]), now):
            self._keys.pop(gate_id, None)
            shown.append(("key", {"gate": gate_id, "kind": "rotated", "new_key": pending.hex()}))

    # ------------------------------------------------------------------ online query
    def _answer_query(self, topic: str, payload: bytes, props: Any) -> None:
        response = getattr(props, "ResponseTopic", None)
        corr = getattr(props, "CorrelationData", None)
        gate_id = ""
        try:
            gate_id, _ = topics.parse_gate_topic(topic)
            keys = self._trusted(gate_id, self.keys_max_age_s)
            if keys is None:
                raise ProtocolError(f"gate {gate_id!r} is not enrolled")
            body, _ = open_signed("query", payload, keys)
            if body["gate"] != gate_id or response != topics.gate(gate_id, topics.QUERY_REPLY):
                raise ProtocolError(f"query from {gate_id!r} names gate {body['gate']!r} / response topic {response!r}")
            # docs/protocol.md "query": Correlation Data = the query id. A reply echoing anything else is one
            # the asking gate cannot match (MQTT 5 request/response): refused and counted, not answered unseen
            if corr is None or bytes(corr) != body["id"].encode():
                raise ProtocolError(f"query {body['id']!r} from {gate_id!r} has correlation data {corr!r}")
        except (ProtocolError, ValueError) as exc:
            logger.debug("central: query on %r rejected: %s", topic, exc)
            self._drop(gate_id, "query")  # counted by the writer, in its next transaction
            return
        if (gate_id, body["id"]) in self._queries:
            self._drop(gate_id, "replay")
            return
        self._queries[(gate_id, body["id"])] = None
        if len(self._queries) > 10_000:
            self._queries.popitem(last=False)
        if "sealed" in body:
            try:
                fields = self._opener.unseal(body["sealed"], body["id"])
            except ValueError as exc:
                logger.debug("central: query from %r does not open: %s", gate_id, exc)
                self._drop(gate_id, "query")
                return
        else:  # a gate from before sealed queries: a document in clear
            fields = {"document": [body.get("issuing_state", ""), body.get("document_number", "")]}
        found = self.online.lookup(fields) if self.online is not None else OnlineHit(None, "", ())
        hit = found.hit
        reply = {"id": uuid.uuid4().hex, "ts": self._clock(), "gate": gate_id, "req": body["id"],
                 "hit": hit is not None, "reason": hit.reason if hit else "", "ref": hit.ref if hit else "",
                 "kind": hit.kind if hit else "", "strength": hit.strength if hit else "exact",
                 **({"basis": hit.basis} if hit and hit.basis else {}),
                 "list_id": found.list_id, "lists": [{"list_id": lid, "version": v} for lid, v in found.lists]}
        out = Properties(PacketTypes.PUBLISH)
        out.CorrelationData = corr
        # QoS 0 like the query (docs/protocol.md "query"): worth nothing after the gate's deadline
        self._client.publish(response, seal("query_reply", reply, [self._node_key]), qos=0, properties=out)

    # ------------------------------------------------------------------ hit-lists
    def _on_lists_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        no_delay(client)
        if reason.is_failure:
            logger.warning("central: list connection refused: %s", reason)
            return
        self._subscribe(client, [topics.all_gates(topics.HITLIST_REQ)])

    def _on_list_request(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        """A hit-list request on the list connection, answered at once on its network thread (``list_username``):
        checked as the writer checks one (budget, keys re-read after ``KEYS_MAX_AGE_S``, signature, replay); a
        refused one is counted by the writer in its next transaction."""
        try:
            gate_id, leaf = topics.parse_gate_topic(msg.topic)
        except ValueError:
            return
        if not self.admission.admit(gate_id, leaf):
            self._drop(gate_id, "rate_limited")
            return
        now = self._clock()
        try:
            self._trusted(gate_id, self.keys_max_age_s)
            _, body, _ = self._verify(gate_id, leaf, bytes(msg.payload))
            if not self.store.first_request(gate_id, body["id"], now):  # waits for a batch's commit at most
                raise Rejected("replay", f"hit-list request {body['id']!r} was already answered")
            self._hitlist_req(gate_id, body, now, client)
        except Rejected as exc:
            self._drop(gate_id, exc.reason)
        except Exception:  # the store gone, a bug: this request only; the gate asks again
            logger.exception("central: hit-list request of %r failed", gate_id)
            self._drop(gate_id, "internal")

    def _hitlist_req(self, gate_id: str, body: dict[str, Any], now: float, client: mqtt.Client | None = None) -> None:
        if self.hitlists is None:
            return
        chunk = self.hitlists.answer(gate_id, body, now)
        (client or self._client).publish(topics.gate(gate_id, topics.HITLIST_CHUNK),
                                         seal("hitlist_chunk", chunk, [self._node_key]), qos=1)

    def publish_head(self, list_id: str, blob: bytes, lifetime: float) -> None:
        """Publish a hit-list head retained, with an MQTT 5 message expiry equal to its own lifetime (on the list
        connection when there is one: the event connection's network thread may be waiting for the writer)."""
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = max(1, int(lifetime))
        (self._lists_client or self._client).publish(topics.hitlist_head(list_id), blob, qos=1, retain=True, properties=props)

    def poll_hitlists(self) -> int:
        """Re-index the list directory and publish every head that changed; returns how many. Reloads the
        online lists' changed records files too (an entry added is answered online within one poll)."""
        if self.online is not None:
            self.online.scan()
        if self.hitlists is None:
            return 0
        self.hitlists.scan()
        heads = self.hitlists.changed_heads(self._clock())
        for list_id, blob, lifetime in heads:
            self.publish_head(list_id, blob, lifetime)
        return len(heads)

    # ------------------------------------------------------------------ commands
    def send_command(
        self, gate_id: str, op: str, args: dict[str, Any] | None = None, *, ttl: float = 300.0,
        signers: list[SigningKey] | None = None,
    ) -> str:
        """Sign with ``signers`` (default: the command keys this node was given, as a test rig holds them;
        the operators' tool is ``sharaka-central cmd``/``cosign``, one holder's key each) and publish a
        command; returns its id."""
        keys = self._command_keys if signers is None else signers
        cmd_id, wire = sign_command(self.store, keys, gate_id, op, args, ttl, self._clock())
        self._client.publish(topics.gate(gate_id, topics.CMD), wire, qos=1)
        return cmd_id


def sign_command(
    store: CentralStore, command_keys: list[SigningKey], gate_id: str, op: str, args: dict[str, Any] | None,
    ttl: float, now: float,
) -> tuple[str, bytes]:
    """Reserve the gate's next command sequence, sign the command with every key in ``command_keys`` and
    record it as sent; returns (command id, wire bytes) for publishing. Raises BadDataError, before a
    sequence is reserved, for a ``ttl`` the gate would refuse (agent.protocol.commands.MAX_LIFETIME)."""
    if not 0 < ttl <= MAX_LIFETIME:
        raise BadDataError(f"command lifetime {ttl:g} s: expected more than 0 s, at most {MAX_LIFETIME:g} s")
    seq = store.next_cmd_seq(gate_id)
    cmd_id = uuid.uuid4().hex
    wire = seal(
        "cmd",
        {"id": cmd_id, "ts": now, "gate": gate_id, "seq": seq, "op": op, "args": dict(args or {}),
         "issued": now, "not_after": now + ttl, "nonce": os.urandom(16)},
        command_keys,
    )
    store.add_command(cmd_id, gate_id, seq, op, now, now + ttl)
    return cmd_id, wire
