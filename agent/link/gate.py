"""The gate's MQTT link: drains the durable outbox to the central node and takes its acks and commands.

Delivery (docs/protocol.md "Delivery", RELIABILITY 17-25): rows are read from the outbox in its order
(hits first), signed and published with QoS 1, and stay in the outbox until a signed ``ack`` from the
central node names them. The in-flight bookkeeping is ``agent.link.window.DeliveryWindow``.

Parts: ``connection.Connection`` (supervisor thread, one paho client per connection), ``commands``
(remote commands, device key), ``query`` (online document queries), ``sync`` (hit-list sync).
Threads: the supervisor, paho's network thread while connected, and one worker that owns every outbox
call and runs commands. The screener wakes the worker with ``notify()`` after each committed event.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey, VerifyKey

from agent import __version__
from agent.durable import make_dirs
from agent.hitlist.limits import DEFAULT_LIMITS, Limits
from agent.keys import trusted
from agent.link.commands import CommandRunner, Handler, trusted_command_keys
from agent.link.config import LinkConfig, LinkStats
from agent.link.connection import Connection
from agent.link.query import OnlineQueries
from agent.link.rotation import DeviceKey
from agent.link.sync import HitListSync, SyncedStore
from agent.link.window import DeliveryWindow, Refusal
from agent.outbox import PRIORITY_HIT, OutboxRow
from agent.protocol import topics
from agent.protocol.commands import CommandGuard, is_high_impact
from agent.protocol.envelope import ProtocolError, open_signed, seal
from agent.protocol.trusted_time import TrustedClock
from agent.screening.events import EventSealer

logger = logging.getLogger(__name__)

BUSY_POLL_S = 0.5  # the worker's wake-up while something is timed: rows in flight or held back, a transfer, a rotation
IDLE_POLL_S = 5.0  # ... and at most this while nothing is (an idle gate: its heartbeat and deferred fetches are
                   # waited for exactly); everything else that needs the worker (a row, an ack, a connection) wakes it


class OutboxLike(Protocol):
    """What the link needs from ``agent.outbox.Outbox``."""

    def pending(self, limit: int, skip: Collection[str] = (), start: tuple[int, int] = (0, 0),
                again: tuple[Collection[int], Collection[int]] = ((), ())) -> list[OutboxRow]:
        """Up to ``limit`` undelivered rows, hits first, each class its ``again`` seqs then from its ``start`` seq,
        none of the ids in ``skip`` (not read)."""

    def surfaced(self) -> int | None:
        """The lowest seq readable again below rows already read since the last call, or None."""

    def gone(self, keep: bool = True) -> list[str]:
        """The ids of rows dropped unacknowledged since the last call; ``keep=False``: record no more."""

    def ack(self, msg_ids: list[str]) -> int:
        """Forget the rows the centre acknowledged; returns how many were known."""

    def depth(self) -> int:
        """Rows not yet acknowledged."""

    def oldest_age(self, now: float) -> float:
        """Age in seconds of the oldest unacknowledged row at ``now``."""

    @property
    def dropped(self) -> int:
        """Routine rows dropped because the outbox was full (RELIABILITY 22)."""


class AlertReceiver(Protocol):
    """What the link needs from ``agent.alerts.EarlyWarnings``."""

    def receive(self, wire: bytes) -> Any:
        """Verify and keep one alert; raises ValueError (AlertRejected) when refused."""

    def status(self) -> dict[str, Any]:
        """Alerts in force and refusals, for the status message."""

    def retry(self) -> int:
        """Try again alerts a newer keyring may now verify."""


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
        command_handlers: Mapping[str, Handler] | None = None,
        device_key_path: Path | None = None,
        high_impact_threshold: int = 2,
        high_impact: Callable[[str, Mapping[str, Any]], bool] = is_high_impact,
        rng: random.Random | None = None,
        hitlist: SyncedStore | None = None,
        lists: Mapping[str, SyncedStore] | None = None,
        policies: Mapping[str | None, Mapping[str, Any]] | None = None,
        hitlist_limits: Limits = DEFAULT_LIMITS,
        trusted_time: TrustedClock | None = None,
        alerts: AlertReceiver | None = None,
    ) -> None:
        topics.check_id(config.gate_id)
        self.config = config
        self.gate_id = config.gate_id
        self.outbox = outbox
        self._node_keys = trusted(node_keys)
        self._clock = clock
        self._mono = monotonic
        state_dir = Path(state_dir)
        make_dirs(state_dir)
        # RELIABILITY 43: two-phase rotation, resumed from state_dir after a restart
        self.device_key = DeviceKey(device_key, gate_id=self.gate_id, state_dir=state_dir, key_path=device_key_path)
        # RELIABILITY 15, 42: the gate's one trusted time (the composition root passes it in); raised by
        # verified heads, acks and commands; commands are judged on it
        self.trusted_time = trusted_time or TrustedClock(state_dir / "time.json", wall=clock, monotonic=monotonic)
        self._status_source = status_source
        self.stats = LinkStats()
        self.alarms: set[str] = set()

        self._lock = threading.Lock()  # guards the window and the inbound queue
        self._wake = threading.Condition(self._lock)
        self.window = DeliveryWindow(config.window, ack_timeout=config.ack_timeout,
                                      ack_timeout_max=config.ack_timeout_max,
                                      refused_retry=config.refused_retry)
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._acked: list[str] = []  # ids the centre acknowledged in the inbox batch being handled (worker only)
        self._dirty = True
        self._birth_due = False
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._busy_since: float | None = None  # when the worker took up its current step; None while it waits
        self.connection = Connection(config, self, state_dir, monotonic=monotonic, rng=rng)
        # what a query asks is sealed to the centre, like an event's personal fields (RELIABILITY 31)
        sealer = EventSealer(node_keys[0]) if node_keys else None
        self.queries = OnlineQueries(self.gate_id, self.connection, lambda: self.device_key.current, clock,
                                     sealer=sealer, monotonic=monotonic)
        self.hitlist = hitlist
        self.alerts = alerts  # early warnings (agent/alerts.py), retained under sharaka/v1/alerts/
        self.sync: HitListSync | None = None
        builtins: dict[str, Handler] = {
            "request_status": lambda _args: self._status_command("status"),
            "rebirth": lambda _args: self._status_command("birth"),
            "rotate_device_key": lambda _args: self._begin_rotation(),
        }
        # One sync per list, each with its own store, version chain and freshness (RELIABILITY 49); ``sync`` is
        # the first list's ([hitlist]; list id None: it follows any head no other list claims).
        self.syncs: dict[str | None, HitListSync] = {}
        for list_id, store in ((config.list_id, hitlist), *(lists or {}).items()):
            if store is None:
                continue
            # judged like screening (trusted time, or a later wall clock): a gate whose trusted time lags
            # (new, or switched off for a while) installs what its synchronised clock finds current
            self.syncs[list_id] = HitListSync(store, self.gate_id, self._send_hitlist_req,
                                              self.trusted_time.screening_now, list_id=list_id,
                                              limits=hitlist_limits, observe=self.trusted_time.observe,
                                              pacing=config.list_fetch, rng=rng)
        self.sync = next(iter(self.syncs.values()), None)
        # each synced list's kind and policy, keyed as ``syncs`` (``HitListConfig.policy``): the centre shows them
        self._policies = dict(policies or {})
        if self.syncs:
            builtins["hitlist_resync"] = self._resync
        first = self.sync.store if self.sync is not None else None
        keyring = (lambda: first.keyring) if first is not None else (lambda: None)
        guard = CommandGuard(state_dir / "commands.json", self.gate_id, trusted_command_keys(command_keys, keyring),
                             high_impact_threshold=high_impact_threshold, high_impact=high_impact)
        self.commands = CommandRunner(
            self.gate_id, guard, self.trusted_time, self.device_key, {**(command_handlers or {}), **builtins},
            publish=lambda wire: self._publish(topics.CMD_RESULT, wire, retain=False), clock=clock, stats=self.stats)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the supervisor and worker threads; returns at once."""
        self.connection.start()
        self._worker = threading.Thread(target=self._work, name=f"link-{self.gate_id}-worker", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish an orderly ``offline`` status, disconnect and join the threads."""
        last_words = self._status_wire("offline", "shutdown") if self.connection.is_connected else None
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        self.connection.stop(last_words, timeout)
        if self._worker is not None:
            self._worker.join(timeout)
        self.outbox.gone(keep=False)  # no drain forgets them now: the outbox would keep the ids of its drops

    def alive(self, limit: float) -> bool:
        """The worker is running and has not been on one step (a command's handler, the outbox, a message) for
        ``limit`` seconds: the gate's watchdog pings stop otherwise (RELIABILITY 35). Waiting for work is not a
        step: an idle worker wakes once in IDLE_POLL_S, which may be longer than the watchdog's interval; nor is
        a list's install, long by design (``HitListSync.installing``: a snapshot of 10^8 entries takes about a
        minute, and the reader screens with the list before it meanwhile)."""
        if self._worker is None:
            return True
        busy_since = self._busy_since
        if busy_since is None or any(sync.installing for sync in self.syncs.values()):
            return self._worker.is_alive()
        return self._worker.is_alive() and self._mono() - busy_since < limit

    def notify(self) -> None:
        """Tell the link that the outbox has new rows (the screener's ``on_committed``)."""
        with self._wake:
            self._dirty = True
            self._wake.notify()

    def wait_for_connected(self, timeout: float) -> bool:
        """True once connected (CONNACK accepted) and subscribed (SUBACK) within ``timeout`` seconds: from
        then on an ack, a command or a hit-list chunk published to this gate reaches it."""
        return self.connection.wait_for_subscribed(timeout)

    @property
    def is_connected(self) -> bool:
        """True while connected to the broker."""
        return self.connection.is_connected

    @property
    def session(self) -> int:
        """The link session: one more for every connection attempt, persisted."""
        return self.connection.session

    def health(self) -> dict[str, Any]:
        """Whether the link is up and how often it (re)connected: the gate's own status shows a link that
        drops or never comes up (the counters that change with every event stay in ``status()``)."""
        return {"connected": self.connection.is_connected, "connects": self.stats.connects}

    def query_document(self, issuing_state: str, document_number: str, timeout: float) -> dict[str, Any] | None:
        """Ask the centre about a document; None when offline or no answer in time (see ``agent.link.query``)."""
        return self.queries.ask(issuing_state, document_number, timeout)

    # ------------------------------------------------------------------ ConnectionListener (network thread)
    def subscriptions(self) -> list[tuple[str, int]]:
        """This gate's inbound topics, and the hit-list heads when it follows a list."""
        subs = [(topics.gate(self.gate_id, leaf), 1) for leaf in topics.GATE_IN]
        if None in self.syncs:
            subs.append((topics.all_hitlist_heads(), 1))
        subs += [(topics.hitlist_head(lid), 1) for lid in self.syncs if lid is not None and None not in self.syncs]
        if self.alerts is not None:
            subs.append((topics.all_alerts(), 1))
        return subs

    def will(self) -> bytes:
        """The signed ``offline`` status the broker publishes if the gate vanishes."""
        return self._status_wire("offline", "will")

    def on_connected(self) -> None:
        """A new connection: resend every pending row, publish a birth status, resume a transfer."""
        self.stats.connects += 1
        self.device_key.reconnected()
        with self._wake:
            self.window.reset()
            self._dirty = True
            self._birth_due = True
            self._wake.notify()

    def on_lost(self) -> None:
        """The connection ended: nothing is in flight any more."""
        with self._wake:
            self.window.reset()
            self._wake.notify()

    def on_puback(self, mid: int, failure: str | None) -> None:
        """The broker answered a publish (RELIABILITY 20: a refused PUBACK keeps the row and raises an alarm)."""
        with self._lock:
            refusal = self.window.on_puback(mid, failure, self._mono())
        if refusal is not None:
            self._refused(refusal)

    def on_message(self, msg: mqtt.MQTTMessage) -> None:
        """Queue an inbound message for the worker; a query reply is answered at once (a traveller waits)."""
        if msg.topic.endswith("/" + topics.QUERY_REPLY):
            body = self._open_from_node("query_reply", bytes(msg.payload))
            if body is not None:
                self.queries.on_reply(body)
            return
        with self._wake:
            self._inbox.append((msg.topic, bytes(msg.payload)))
            self._wake.notify()

    def _refused(self, refusal: Refusal) -> None:
        self.stats.refused += 1
        self.alarms.add("publish_refused")
        logger.warning("broker refused a message", extra={"fields": {
            "gate": self.gate_id, "msg_id": refusal.msg_id, "reason": str(refusal.reason)}})

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        last_beat = self._mono()
        while not self._stop.is_set():
            with self._wake:
                self._busy_since = None
                if not (self._inbox or self._birth_due or self._dirty):
                    self._wake.wait(self._idle_wait(last_beat))
                inbox = list(self._inbox)
                self._inbox.clear()
                dirty, self._dirty = self._dirty, False
                birth, self._birth_due = self._birth_due, False
            self._busy_since = self._mono()
            try:
                self._handle_batch(inbox)
                self._apply_acks()
                self.trusted_time.checkpoint()
                for sync in self.syncs.values():
                    if birth:
                        sync.on_connected()
                    sync.tick()
                if self.alerts is not None:
                    self.alerts.retry()  # an alert that came before the keyring certifying its key
                if birth:
                    self.publish_status("online", "birth")
                    last_beat = self._mono()
                if self.connection.is_connected and self.device_key.due(self._mono()):
                    self._publish(topics.KEY_ROTATE, self.device_key.request(self._clock(), self._mono()), retain=False)
                elif self.connection.is_connected and self._mono() - last_beat >= self.config.heartbeat:
                    self.publish_status("online", "heartbeat")
                    last_beat = self._mono()
                self._drain(dirty)
            except Exception:  # the worker must survive anything a message or the outbox throws
                logger.exception("link worker error", extra={"fields": {"gate": self.gate_id}})
                self._stop.wait(0.5)

    def _idle_wait(self, last_beat: float) -> float:
        """How long the worker may wait for a wake-up (called under ``_lock``): ``BUSY_POLL_S`` while rows are in
        flight or held back (their ack timeouts), a list is being fetched (its stall and request timers) or a
        device-key rotation is pending; else until the next heartbeat or deferred list fetch, at most
        ``IDLE_POLL_S``, and never less than ``BUSY_POLL_S`` (what is due is then at most that late, as before).
        An idle gate wakes once in 5 s instead of twice a second (its CPU, its power)."""
        if not self.window.idle or self.device_key.pending is not None:
            return BUSY_POLL_S
        wait = IDLE_POLL_S
        if self.connection.is_connected:
            wait = min(wait, last_beat + self.config.heartbeat - self._mono())
        for sync in self.syncs.values():
            wait = min(wait, sync.idle_for())
        return min(IDLE_POLL_S, max(BUSY_POLL_S, wait))

    def _drain(self, dirty: bool) -> None:
        """Publish pending rows not yet awaiting an ack, up to the window; resend timed-out ones. Rows the outbox
        dropped are forgotten first, connected or not (they would stay in the window for ever, never acked)."""
        gone = self.outbox.gone()
        if gone:
            with self._lock:
                self.window.forget(gone)
        if not self.connection.is_connected:
            return
        now = self._mono()
        surfaced = self.outbox.surfaced()
        with self._lock:
            if surfaced is not None:
                self.window.rewind(surfaced)
            expired, retry = self.window.release_due(now)
            room = self.window.room
            out = self.window.out
            start, skip, again = self.window.start, self.window.skip(), self.window.again(room)
        self.stats.resent += expired
        if not (dirty or expired or retry) or room <= 0:
            return
        # every queued row is out already (an ack's refill) or held back (refused, or never acknowledged, until
        # release_due makes it due): nothing to send, no query; else the query reads the rows to send only
        if self.outbox.depth() <= out:
            return
        ts = self._clock()
        for row in self.outbox.pending(room, skip=skip, start=start, again=again):
            with self._lock:
                if not self.window.has_room:
                    return
                if not self.window.reserve(row.msg_id, now, row.seq, row.priority >= PRIORITY_HIT):
                    continue
            hit = row.priority >= PRIORITY_HIT or row.kind == "hit"  # hit alerts go to the `hit` topic
            try:
                wire = seal(
                    "hit" if hit else "event",
                    {"id": row.msg_id, "ts": ts, "gate": self.gate_id, "seq": int(row.seq), "kind": row.kind,
                     "created": float(row.created), "body": bytes(row.body)},
                    [self.device_key.current],
                )
            except ProtocolError as exc:  # the centre would refuse it: held back and kept, the rows behind it go
                with self._lock:
                    unsealed = self.window.refuse(row.msg_id, f"not sealed: {exc}", self._mono())
                self._refused(unsealed)
                self.notify()  # its slot in the window is free: drain again once this pass ends
                continue
            # never hold our lock across paho calls: paho calls on_publish with its own locks held
            info = self.connection.publish(topics.gate(self.gate_id, topics.HIT if hit else topics.EVENT), wire)
            with self._lock:
                if info is None or info.rc != mqtt.MQTT_ERR_SUCCESS:
                    self.window.unreserve(row.msg_id)
                    return
                self.stats.published += 1
                refusal = self.window.sent(row.msg_id, info.mid, self._mono())
            if refusal is not None:
                self._refused(refusal)

    def _handle_batch(self, inbox: list[tuple[str, bytes]]) -> None:
        """Handle each inbound message; one that raises (a disk full while a chunk or an alert is written, a bug)
        costs that message only, never the ones after it in the batch (a command, a retained alert: each comes
        once)."""
        for topic, payload in inbox:
            try:
                self._handle_inbound(topic, payload)
            except Exception:
                self.stats.reject("internal")
                logger.exception("inbound message failed", extra={"fields": {"gate": self.gate_id, "topic": topic}})

    def _handle_inbound(self, topic: str, payload: bytes) -> None:
        if topic.startswith(topics.ALERTS + "/"):
            if self.alerts is not None and payload:  # empty: the centre cleared an expired alert
                try:
                    self.alerts.receive(payload)
                except ValueError:  # AlertRejected: counted by the alert store, nothing changed
                    self.stats.reject("alert")
            return
        if topic.startswith(topics.HITLISTS + "/"):
            list_id = topic.split("/")[-2]
            sync = self.syncs.get(list_id) or self.syncs.get(None)
            if sync is not None and payload:
                sync.on_head(list_id, payload)
            return
        leaf = topic.rsplit(f"/{self.gate_id}/", 1)[-1]
        if leaf == topics.HITLIST_CHUNK:
            body = self._open_from_node("hitlist_chunk", payload)
            if body is not None and body["gate"] == self.gate_id:
                for sync in self.syncs.values():  # only the sync whose request it answers takes it
                    sync.on_chunk(body)
            return
        if leaf == topics.ACK:
            body = self._open_from_node("ack", payload)
            if body is None:
                return
            if body["gate"] != self.gate_id:
                self.stats.reject("ack")
                return
            self.trusted_time.observe(body["ts"], "ack")  # signed by the node key: time has reached at least this
            self._acked.extend(i for i in body["ids"] if isinstance(i, str))
        elif leaf == topics.KEY_CONFIRM:
            body = self._open_from_node("key_confirm", payload)
            if body is not None and self.device_key.confirm(body):
                self.publish_status("online", "birth")  # signed by the new key: the centre retires the old one
        elif leaf == topics.CMD:
            self.commands.handle(payload)
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
            self._dirty = self.window.acked(ids, self._mono()) or self._dirty
        self.stats.acked += len(ids)

    def _open_from_node(self, kind: str, payload: bytes) -> dict[str, Any] | None:
        """The verified body of a message the central node signed, or None (counted, logged) when it fails."""
        try:
            body, _ = open_signed(kind, payload, self._node_keys)
        except ProtocolError as exc:
            self.stats.reject(kind)
            logger.warning("message from the centre rejected", extra={"fields": {
                "gate": self.gate_id, "kind": str(kind), "error": str(exc)}})
            return None
        return body

    def _send_hitlist_req(self, body: dict[str, Any]) -> None:
        self._publish(topics.HITLIST_REQ, seal("hitlist_req", body, [self.device_key.current]), retain=False)

    def _resync(self, args: dict[str, Any]) -> str:
        """``hitlist_resync`` (``list``: which list; default the first)."""
        wanted = args.get("list")
        sync = self.sync if wanted is None else self.syncs.get(wanted)
        if sync is None:
            raise ValueError(f"list {wanted!r}: not held here; expected one of {sorted(map(str, self.syncs))}")
        return sync.resync(args)

    # ------------------------------------------------------------------ status
    def _begin_rotation(self) -> str:
        detail = self.device_key.start(self._clock())
        with self._wake:
            self._wake.notify()  # the worker sends the request
        return detail

    def _status_command(self, kind: str) -> str:
        self.publish_status("online", kind)
        return "status published"

    def status(self) -> dict[str, Any]:
        """The status body: versions, hit-list, hardware, outbox, link counters and alarms."""
        now = self._clock()
        with self._lock:
            inflight, unacked = len(self.window), self.window.unacked
        if unacked:
            self.alarms.add("unacknowledged")  # rows the centre has not acknowledged in two ack timeouts
        else:
            self.alarms.discard("unacknowledged")
        rotation = self.device_key.status()
        out: dict[str, Any] = {
            "versions": {"agent": __version__, "protocol": 2},  # 2: two-phase device-key rotation
            "device_key": rotation.pop("device_key"),
            "key_rotation": rotation,
            "time": self.trusted_time.status(),
            "link": {
                "connects": self.stats.connects,
                "published": self.stats.published,
                "acked": self.stats.acked,
                "resent": self.stats.resent,
                "refused": self.stats.refused,
                "rejected": dict(self.stats.rejected),
                "inflight": inflight,
                "unacked": unacked,
            },
            "alarms": sorted(self.alarms),
        }
        try:
            out["outbox"] = {
                "depth": self.outbox.depth(),
                "oldest_age": self.outbox.oldest_age(now),
                "dropped": int(self.outbox.dropped),
            }
            if out["outbox"]["dropped"]:
                self.alarms.add("outbox_dropped")  # RELIABILITY 22: routine events were dropped when full
                out["alarms"] = sorted(self.alarms)
        except Exception as exc:  # status must go out even when the outbox is sick
            out["outbox"] = {"error": str(exc)}
            self.alarms.add("outbox")
        lists: dict[str, Any] = {}
        for list_id, sync in self.syncs.items():
            try:
                one = sync.store.status(self.trusted_time.screening_now())
            except Exception as exc:
                one = {"error": str(exc)}
            one["sync"] = sync.status()
            if list_id in self._policies:
                one["policy"] = dict(self._policies[list_id])
            if sync is self.sync:
                out["hitlist"] = one
            lists[str(list_id or one.get("list_id") or "")] = one
        if len(lists) > 1:
            out["lists"] = lists  # each list's identity, freshness and sync (RELIABILITY 49)
        if self.alerts is not None:
            out["alerts"] = self.alerts.status()
        if self._status_source is not None:
            try:
                out.update(self._status_source())
            except Exception as exc:
                out["status_source_error"] = str(exc)
        return out

    def _status_wire(self, state: str, kind: str, extra: dict[str, Any] | None = None) -> bytes:
        """The signed status. One the centre would refuse (a part over the envelope's bounds, e.g. a map of more
        than 64 entries from the app's hardware section) goes out without its free-form parts and says why
        (``status_error``, alarm ``status_refused``): the gate still reports, and a birth that cannot be sealed
        never stops the worker from draining the outbox (docs/protocol.md "Schemas")."""
        body: dict[str, Any] = {"id": uuid.uuid4().hex, "ts": self._clock(), "gate": self.gate_id, "session": self.session,
                                "state": state, "kind": kind}
        try:
            wire = seal("status", {**body, **(extra or {})}, [self.device_key.current])
            if extra:
                self.alarms.discard("status_refused")  # whole again: the next status says so
            return wire
        except ProtocolError as exc:
            logger.error("status refused by its own schema: sent without its free-form parts", extra={"fields": {
                "gate": self.gate_id, "error": str(exc)}})
            self.alarms.add("status_refused")
            return seal("status", {**body, "alarms": sorted(self.alarms), "status_error": str(exc)[:1000]},
                        [self.device_key.current])

    def publish_status(self, state: str = "online", kind: str = "heartbeat") -> None:
        """Publish a retained, signed status (birth, heartbeat, status on request)."""
        self._publish(topics.STATUS, self._status_wire(state, kind, self.status()), retain=True)

    def _publish(self, leaf: str, wire: bytes, *, retain: bool) -> None:
        self.connection.publish(topics.gate(self.gate_id, leaf), wire, retain=retain)
