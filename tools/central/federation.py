"""Federation: national centres share what the region needs (docs/central.md "Federation").

    fed = Federation.load(Path("federation.toml"))     # this centre's id and key, the pinned peer centre keys
    item_id, wire = share_alert(fed, alert_wire)        # or share_hit(fed, event_row, personal=False)
    relay = FederationRelay(config, store, fed, alert_key=key)   # at every centre:
    relay.start()                                       # verify, record, re-issue alerts to this centre's gates

An item is a ``fed_item`` message signed by the issuing centre's federation key. A centre publishes it on
``sharaka/v1/federation/out/{item_id}``; its broker's bridge carries it to the regional hub as
``sharaka/v1/region/{centre}/{item_id}`` (the hub lets that bridge write only there), and every other national
broker's bridge brings it in as ``sharaka/v1/federation/in/{centre}/{item_id}`` (``tools/site_bridge.py``
generates both bridges and the hub's ACL).

Trust (``verify_item``): each receiving centre pins, per peer centre id, the public keys it accepts, in its
own federation file (an operator's decision per peer, exchanged out of band; no regional root can add a centre
to anyone's federation). An item is accepted only when a key pinned for the centre it names as ``origin``
signed its exact bytes (domain ``fed_item``, before anything is unpacked), that centre is also the one whose
hub topic it came from, it is in force, and it was not seen before (the store's (origin, item id) key). Its own
items coming back are dropped as a ``loop``. Every refusal has a reason code (``REASONS``), is counted (the
relay's ``rejected`` and the store's rejects as ``federation_REASON``) and logged with its reason and claimed
origin only, never its content.

When the origin withdraws a shared alert it shares its clearing (``share_clearing``: an item of kind ``clear``
carrying the origin's signed clearing, verified like any item); each receiving centre re-issues the clearing of
its own re-issued alert (same id) to its gates, which takes the alert out of force there. A clearing that
arrives before its alert is kept, and the alert is then never re-issued.

A received alert is the origin's own signed alert, kept verbatim; this centre re-issues it to its own gates
signed by its own alert key (the only key they trust for alerts), with the origin and the original alert id in
the alert's ``origin`` field, the origin named in the notice, its own list references cleared (they name the
origin's lists), to all its gates, until the original's expiry. Its id is derived from (origin, original id),
so a re-issue after a restart is the same alert to the gates. A received hit is recorded with its origin.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey, VerifyKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent import keys as keyfiles
from agent.alerts import MAX_LIFETIME_S, validity_problem
from agent.durable import atomic_write
from agent.errors import BadDataError, ConfigError
from agent.keys import message_key_id
from agent.protocol import ids, topics
from agent.protocol.envelope import ProtocolError, SignatureError, open_signed, peek, seal, signer_ids
from agent.screening.events import EventOpener, EventSealer, decode_event
from tools.central.admission import FairQueues, Rate
from tools.central.alerts import Message, alert_message, build_clearing, publish_messages, retained_alert
from tools.central.node import CentralConfig
from tools.central.store import CentralStore

logger = logging.getLogger(__name__)

REASONS = ("unknown_centre", "forged", "malformed", "wrong_origin", "loop", "expired", "not_yet_valid", "replay")
THROTTLED = "throttled"
"""Counted with the refusals: an item dropped unread because its peer's queue was full (``FederationRelay``)."""
PEER_RATE = Rate(5.0, 100.0)
"""Items per second each peer centre's items are verified at, and the burst above it (a region shares a few
alerts and hits an hour; a burst of 100 covers a centre catching up after an outage)."""
PEER_QUEUE = 1000
"""Items of one peer waiting at most; what a flooding peer sends beyond is dropped unread and counted."""
REJECT_COST = 10.0
"""Tokens a refused item costs its peer more: a peer sending junk is slowed down long before an honest one."""
REPORT_EVERY_S = 10.0
SHARED_HIT_FIELDS = ("site", "wall", "decision", "reasons", "hit", "list_version")
"""What a shared hit carries of its event without personal data: the crossing point, when, the decision and
what matched (list entry kind, reason and reference: the listing, not the traveller)."""
PERSONAL_HIT_FIELDS = ("mrz", "entry", "matches")
"""Added only when the operator marks the hit ``personal`` (never the face crop), sealed to each pinned peer
centre's federation key (``agent.screening.events.EventSealer``, as a gate seals its events to its centre)."""


class ItemRejected(BadDataError):
    """A federation item this centre refuses; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Federation:
    """This centre in its region: its ``centre`` id, its federation key file, and the pinned peer keys
    (``peers``: centre id -> public keys, several during a key rotation). Read from a TOML file::

        centre = "ATL"                          # this centre's id in the region
        key = "federation.key"                  # its signing key (0600), relative to this file
        [peers]                                 # pinned by the operator, per peer centre
        BOR = ["9f2c...64 hex digits"]
    """

    centre: str
    key_path: Path
    peers: Mapping[str, tuple[bytes, ...]] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def load(cls, path: Path) -> Federation:
        """The federation file at ``path``. Raises ConfigError naming the file, key and value at fault."""
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"federation file {str(path)!r}: {exc}") from exc
        unknown = set(data) - {"centre", "key", "peers"}
        if unknown:
            raise ConfigError(f"federation file {str(path)!r}: unknown key(s) {sorted(unknown)}: expected centre, "
                              "key, [peers]")
        try:
            centre = ids.check_id(data.get("centre"), "centre id")
            key = data.get("key")
            if not isinstance(key, str) or not key:
                raise BadDataError(f"key {key!r}: expected the path of this centre's federation key file")
            peers_raw = data.get("peers", {})
            if not isinstance(peers_raw, dict):
                raise BadDataError(f"[peers] is {peers_raw!r}: expected a table of CENTRE = [\"HEX\", ...]")
            peers = {ids.check_id(c, "peer centre id"): _pubs(c, v) for c, v in peers_raw.items()}
        except BadDataError as exc:
            raise ConfigError(f"federation file {str(path)!r}: {exc}") from None
        if centre in peers:
            raise ConfigError(f"federation file {str(path)!r}: [peers] pins {centre!r}, this centre's own id")
        return cls(centre, Path(path).parent / key, peers, Path(path))

    def signing_key(self) -> SigningKey:
        """This centre's federation key. Raises KeyFileError."""
        return keyfiles.load_signing_key(self.key_path)

    def trusted(self) -> dict[bytes, tuple[str, VerifyKey]]:
        """Message key id -> (centre id, key) for every pinned peer key and this centre's own (so its own items
        coming back are recognised as a loop, not as an unknown signer)."""
        out = {message_key_id(p): (c, VerifyKey(p)) for c, pubs in self.peers.items() for p in pubs}
        own = keyfiles.read_public_key(str(self.key_path) + ".pub")
        out[message_key_id(own)] = (self.centre, VerifyKey(own))
        return out

    def with_peer(self, centre: str, pub: bytes) -> Federation:
        """This federation with ``pub`` pinned for ``centre`` (added to its keys)."""
        ids.check_id(centre, "peer centre id")
        if centre == self.centre:
            raise BadDataError(f"{centre!r} is this centre's own id: pin a peer's key")
        keys = self.peers.get(centre, ())
        return Federation(self.centre, self.key_path, {**self.peers, centre: (*keys, pub) if pub not in keys
                                                       else keys}, self.path)

    def save(self, path: Path) -> None:
        """Write this federation as a TOML file at ``path``, durably (key path relative to the file's folder)."""
        try:
            key = self.key_path.resolve().relative_to(path.parent.resolve())
        except ValueError:
            key = self.key_path.resolve()
        lines = ['# Federation of this national centre (docs/central.md "Federation"); peers are pinned by the',
                 "# operator: `sharaka-central federation pin`.", f'centre = "{self.centre}"', f'key = "{key}"', "",
                 "[peers]"]
        lines += [f'{c} = [{", ".join(f"{chr(34)}{p.hex()}{chr(34)}" for p in pubs)}]'
                  for c, pubs in sorted(self.peers.items())]
        atomic_write(path, ("\n".join(lines) + "\n").encode(), mode=0o644)


def _pubs(centre: str, value: object) -> tuple[bytes, ...]:
    if not isinstance(value, list) or not value:
        raise BadDataError(f"peers.{centre} is {value!r}: expected a list of public keys (64 hex digits each)")
    return tuple(keyfiles.decode_key(str(v).encode(), f"peers.{centre} key {v!r}") for v in value)


def new_federation(path: Path, centre: str) -> Federation:
    """Create this centre's federation key next to ``path`` (``federation.key``, 0600, and its ``.pub``) and
    the federation file itself with no peers. Raises FileExistsError or KeyFileError rather than replace an
    existing file or key."""
    ids.check_id(centre, "centre id")
    if path.exists():
        raise FileExistsError(17, "refusing to overwrite a federation file", str(path))
    key_path = path.parent / "federation.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    keyfiles.generate(key_path, encoding="hex", exclusive=True)
    fed = Federation(centre, key_path, {}, path)
    fed.save(path)
    return fed


# ---------------------------------------------------------------------------------------------- items
@dataclass(frozen=True)
class FederatedItem:
    """One verified item: who issued it, what it is, and the exact signed bytes."""

    id: str
    origin: str
    kind: str  # "alert" | "clear" | "hit"
    ref: str  # the original alert id, or the hit's event id, at the origin
    issued: float
    expires: float
    personal: bool
    body: dict[str, Any]
    wire: bytes

    def alert(self) -> dict[str, Any]:
        """The origin's alert body, or its clearing's (already covered by the item's verified signature)."""
        return peek("alert", self.body["alert"])[0]


def _item(fed: Federation, kind: str, ref: str, expires: float, now: float, personal: bool,
          item_id: str | None = None, **content: Any) -> tuple[str, bytes]:
    item_id = item_id or uuid.uuid4().hex
    body = {"id": item_id, "ts": now, "origin": fed.centre, "kind": kind, "ref": ref, "issued": now,
            "expires": expires, "personal": personal, **content}
    return item_id, seal("fed_item", body, [fed.signing_key()])


def share_alert(fed: Federation, alert_wire: bytes, *, now: float | None = None) -> tuple[str, bytes]:
    """(item id, signed wire) sharing one alert this centre issued (its signed bytes, verbatim), in force until
    the alert's own expiry. An alert carries fingerprints under its own keys, never identities in clear."""
    alert = peek("alert", alert_wire)[0]
    return _item(fed, "alert", alert["id"], alert["expires"], time.time() if now is None else now, False,
                 alert=alert_wire)


def share_clearing(fed: Federation, clearing_wire: bytes, *, now: float | None = None) -> tuple[str, bytes]:
    """(item id, signed wire) sharing the clearing of an alert this centre shared (``alerts.build_clearing``'s
    wire, verbatim), in force until the alert's own expiry. Raises BadDataError for a wire that is no clearing."""
    alert = peek("alert", clearing_wire)[0]
    if not alert.get("cleared"):
        raise BadDataError(f"alert {alert['id']} is not a clearing")
    return _item(fed, "clear", alert["id"], alert["expires"], time.time() if now is None else now, False,
                 alert=clearing_wire)


def share_hit(fed: Federation, row: Mapping[str, Any], *, personal: bool = False, note: str = "",
              ttl: float = 7 * 86400.0, now: float | None = None) -> tuple[str, bytes]:
    """(item id, signed wire) sharing one hit event stored here (``CentralStore.events(kind=...)`` row with its
    ``body``): its gate and ``SHARED_HIT_FIELDS``, and with ``personal`` also ``PERSONAL_HIT_FIELDS``, plus the
    operator's ``note``. Raises BadDataError for a row that is not a hit event."""
    if not row.get("is_hit"):
        raise BadDataError(f"event {row.get('msg_id')!r} is not a hit: only hits are shared")
    try:
        event = decode_event(row["body"])
    except (ValueError, TypeError) as exc:
        raise BadDataError(f"event {row.get('msg_id')!r} does not decode: {exc}") from None
    hit = {"gate": row["gate_id"], "created": row["created"], "note": note,
           **{k: event[k] for k in SHARED_HIT_FIELDS if k in event}}
    now = time.time() if now is None else now
    if not 0 < ttl <= MAX_LIFETIME_S:
        raise BadDataError(f"--ttl {ttl:g}: expected 0 < seconds <= {MAX_LIFETIME_S:.0f}")
    item_id = uuid.uuid4().hex
    if personal:  # sealed to each pinned key of each peer: the hub and the brokers on the way cannot read it
        private = {k: event[k] for k in PERSONAL_HIT_FIELDS if k in event}
        hit["sealed"] = {message_key_id(p).hex(): EventSealer(VerifyKey(p)).seal({**private, "id": item_id})
                         for pubs in fed.peers.values() for p in pubs}
    return _item(fed, "hit", row["msg_id"], now + ttl, now, personal, item_id, hit=hit)


def open_hit(fed: Federation, wire: bytes) -> dict[str, Any]:
    """The shared hit in a recorded item (verified before it was recorded) as this centre may read it: its clear
    fields, and the personal ones when the origin sealed them to this centre's federation key. Raises
    ValueError when the part sealed to this centre's key does not open."""
    body = peek("fed_item", wire)[0]
    hit = dict(body.get("hit", {}))
    sealed = hit.pop("sealed", {})
    key = fed.signing_key()
    mine = sealed.get(message_key_id(key.verify_key).hex()) if isinstance(sealed, dict) else None
    if isinstance(mine, bytes):
        hit.update(EventOpener(key).unseal(mine, body["id"]))
    return hit


def verify_item(wire: bytes, *, fed: Federation, now: float, topic_origin: str | None = None) -> FederatedItem:
    """The item in ``wire`` if a key ``fed`` pins for the centre it names as origin signed it, it came from that
    centre's hub topic (``topic_origin``), it is not this centre's own, and it is in force at ``now``. Pure
    (the replay check is the store's). Raises ItemRejected with a reason of ``REASONS``."""
    trusted = fed.trusted()
    try:
        claimed = signer_ids(wire)
    except ProtocolError as exc:
        raise ItemRejected("malformed", str(exc)) from None
    if not any(kid in trusted for kid in claimed):
        raise ItemRejected("unknown_centre", "signed by no pinned centre key (unsigned, or an unknown centre)")
    try:
        body, signers = open_signed("fed_item", wire, {kid: vk for kid, (_, vk) in trusted.items()})
    except SignatureError as exc:  # a pinned key id whose signature does not cover these bytes
        raise ItemRejected("forged", str(exc)) from None
    except ProtocolError as exc:
        raise ItemRejected("malformed", str(exc)) from None
    origin = body["origin"]
    if origin not in {trusted[kid][0] for kid in signers}:  # a key pinned for one centre speaking for another
        raise ItemRejected("wrong_origin", f"says origin {origin!r}, signed by a key pinned for another centre")
    if origin == fed.centre:
        raise ItemRejected("loop", "this centre's own item came back")
    if topic_origin is not None and topic_origin != origin:
        raise ItemRejected("wrong_origin", f"says origin {origin!r}, came from {topic_origin!r}'s hub topic")
    issued, expires = float(body["issued"]), float(body["expires"])
    problem = validity_problem(issued, expires, now)
    if problem is not None:
        raise ItemRejected(*problem)
    item = FederatedItem(body["id"], origin, body["kind"], body["ref"], issued, expires, body["personal"], body,
                         bytes(wire))
    content = "hit" if item.kind == "hit" else "alert"
    if content not in body:
        raise ItemRejected("malformed", f"a {item.kind} item without its {content!r} field")
    if content == "alert":
        try:
            alert = item.alert()
        except ProtocolError as exc:
            raise ItemRejected("malformed", f"shared alert: {exc}") from None
        if alert["id"] != item.ref or alert["expires"] < expires:
            raise ItemRejected("malformed", "shared alert's id or expiry differs from the item's")
        if bool(alert.get("cleared")) != (item.kind == "clear"):
            raise ItemRejected("malformed", f"a {item.kind} item whose alert is {'' if alert.get('cleared') else 'not '}"
                                            "a clearing")
    return item


def reissued_alert_id(origin: str, ref: str) -> str:
    """The id this centre gives the alert it re-issues for ``origin``'s alert ``ref``: the same every time."""
    return hashlib.blake2b(f"{origin}/{ref}".encode(), digest_size=16, person=b"sharaka-fed").hexdigest()


def reissue_alert(item: FederatedItem, alert_key: SigningKey, *, now: float,
                  sites: Sequence[str] = ()) -> tuple[str, bytes, float]:
    """(alert id, wire, expires) of the alert this centre issues to its own gates for a received alert item:
    signed by ``alert_key``, to all its gates (or those of ``sites``), the origin's notice prefixed with the
    origin, the listings' list references cleared, ``origin`` naming the issuing centre and its alert id,
    expiring with the original. For a ``clear`` item: the clearing of that re-issued alert."""
    alert = item.alert()
    alert_id = reissued_alert_id(item.origin, item.ref)
    notice = f"[{item.origin}] {alert['notice']}"[:2000]
    listings = [{**x, "list": "", "version": 0} for x in alert["listings"]]
    body = {"id": alert_id, "ts": now, "issued": now, "expires": alert["expires"], "severity": alert["severity"],
            "notice": notice, "target": "site" if sites else "all", "sites": list(sites), "gates": [],
            "keys": alert["keys"],
            "listings": listings, "origin": {"centre": item.origin, "ref": item.ref}}
    if item.kind == "clear":  # the clearing of the alert re-issued here: same id, out of force at the gates
        body["cleared"] = True
    return alert_id, seal("alert", body, [alert_key]), alert["expires"]


def item_message(item_id: str, wire: bytes) -> Message:
    """The MQTT message sharing one item (QoS 1, not retained: the bridges' persistent sessions queue it)."""
    return Message(topics.federation_out(item_id), wire)


def record_shared(store: CentralStore, fed: Federation, item_id: str, wire: bytes, now: float) -> None:
    """Record an item this centre shares (direction ``out``), so the console shows it and a copy coming back
    is recognised."""
    body = peek("fed_item", wire)[0]
    store.add_federation_item(fed.centre, item_id, "out", body["kind"], body["ref"], body["issued"], body["expires"],
                              now, body["personal"], wire)


def issue_alert(config: CentralConfig, store: CentralStore, alert_id: str, wire: bytes, expires: float,
                fed: Federation | None = None) -> None:
    """Publish an alert this centre signed to its gates and, with ``fed``, share it with the region: the alert
    and the item sharing it over one connection, both taken or the call fails (``alert send [--share]``, the
    console). Raises TransportError."""
    _publish_alert(config, store, alert_id, wire, expires, fed, share_alert)


def withdraw_alert(config: CentralConfig, store: CentralStore, alert_key: SigningKey, alert_id: str, *,
                   fed: Federation | None = None, notice: str = "withdrawn") -> None:
    """Withdraw an alert this centre issued (``alert clear``, the console): its clearing, built from the copy
    retained at the broker, replaces it there, and, when the alert was shared (an ``out`` item in ``store``), is
    shared too. Raises BadDataError for a shared alert without ``fed`` (the region would keep it) or when no
    such alert is in force at the broker; TransportError."""
    shared = any(r["kind"] == "alert" and r["ref"] == alert_id for r in store.federation_items("out"))
    if shared and fed is None:
        raise BadDataError(f"alert {alert_id} was shared with the region: add --share FEDERATION_FILE so the peer "
                           "centres withdraw it from their gates too")
    _, clearing, expires = build_clearing(alert_key, retained_alert(config, alert_id), notice=notice)
    _publish_alert(config, store, alert_id, clearing, expires, fed, share_clearing)


def _publish_alert(config: CentralConfig, store: CentralStore, alert_id: str, wire: bytes, expires: float,
                   fed: Federation | None, share: Callable[..., tuple[str, bytes]]) -> None:
    """Publish an alert or its clearing to the gates and, with ``fed``, the item ``share`` makes of it to the
    region, over one connection; the shared item is recorded once both are taken."""
    now = time.time()
    messages = [alert_message(alert_id, wire, expires, now)]
    if fed is not None:
        item_id, item = share(fed, wire, now=now)
        messages.append(item_message(item_id, item))
    publish_messages(config, messages)
    if fed is not None:
        record_shared(store, fed, item_id, item, now)


# ---------------------------------------------------------------------------------------------- the relay
class FederationRelay:
    """The receiving side at one centre: subscribes to ``sharaka/v1/federation/in/+/+`` with a persistent
    session (the national broker queues items while it is down), verifies each item, records it with its
    origin, and re-issues a received alert to this centre's gates with ``alert_key``. ``start()``, ``stop()``,
    ``receive()`` (one item, also what tests call without a broker).

    Each peer centre (the origin its hub topic names, which the hub's ACL confines to that centre's bridge) has
    its own bounded queue and budget (``peer_rate``, ``peer_queue``; ``admission.FairQueues``): paho's network
    thread only queues, one worker verifies the peers' items in turn, so a flooding peer is slowed to its rate,
    what overflows its queue is dropped unread and counted as ``throttled`` (``rejected``, ``throttled`` per
    peer, the store's ``federation_throttled``, a log line per peer every ``REPORT_EVERY_S``), and the other
    peers' items are taken at the next turn.

    An item is acknowledged to the broker (MQTT manual acks) once it is recorded or refused, or dropped as
    ``throttled``: one still queued here when the relay stops or dies stays in the persistent session and is
    delivered again at the next start (a copy already recorded is then refused as a ``replay``)."""

    def __init__(self, config: CentralConfig, store: CentralStore, fed: Federation, *,
                 alert_key: SigningKey | None, sites: Sequence[str] = (), clock: Callable[[], float] = time.time,
                 on_item: Callable[[FederatedItem], None] | None = None, peer_rate: Rate = PEER_RATE,
                 peer_queue: int = PEER_QUEUE, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config, self.store, self.fed, self.sites = config, store, fed, tuple(sites)
        self._alert_key, self._clock, self._on_item = alert_key, clock, on_item
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.queues: FairQueues[tuple[str, bytes, Callable[[], Any]]] = FairQueues(peer_rate, peer_queue, monotonic)
        self._mono = monotonic
        self._reported: dict[str, tuple[float, int]] = {}  # peer -> (when, dropped count) last logged and stored
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._acked = threading.Condition(self._lock)  # notified when a re-issue in flight is acknowledged
        self._pending: dict[int, tuple[str, str, str]] = {}  # publish mid -> (origin, item id, alert id)
        self._early: dict[int, Any] = {}  # publish mid acknowledged before publish returned -> reason code
        self._client = config.client()
        # an item is acknowledged to the broker once recorded or refused, not when paho reads it: one still in
        # this process's queue when it stops (or dies) stays in the session and comes again at the next start
        self._client.manual_ack_set(True)
        self._client.reconnect_delay_set(1, 5)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *_a: self.connected.clear()
        self._client.on_subscribe = lambda *_a: self.connected.set()
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish

    def start(self) -> None:
        """Start the worker and connect (persistent session: items that arrive while the relay is down are
        queued for it)."""
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name="federation-relay", daemon=True)
        self._worker.start()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 7 * 86400
        self._client.connect_async(self.config.host, self.config.port, 30, clean_start=False, properties=props)
        self._client.loop_start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker after the item in hand (the items still queued were not acknowledged: the broker keeps
        them in the session for the next start), give the alerts it re-issued up to ``timeout`` seconds to be
        acknowledged by the broker (what is still unconfirmed is re-issued at the next start, ``reissue_pending``),
        then disconnect."""
        self._stop.set()
        self.queues.wake()
        if self._worker is not None:
            self._worker.join(timeout)
        with self._acked:
            self._acked.wait_for(lambda: not self._pending, timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self._report_throttled(force=True)

    def wait_for_connected(self, timeout: float) -> bool:
        """True once connected and subscribed."""
        return self.connected.wait(timeout)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            logger.warning("federation: connection refused: %s", reason)
            return
        client.subscribe(topics.all_federation_in(), qos=1)
        self.reissue_pending()

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.offer(msg.topic, bytes(msg.payload), ack=functools.partial(client.ack, msg.mid, msg.qos))

    def offer(self, topic: str, wire: bytes, ack: Callable[[], Any] = lambda: None) -> bool:
        """Queue one item from ``topic`` for the worker (what paho's network thread does with each message);
        False when its peer's queue is full: dropped unread, counted as ``throttled``. ``ack()`` tells the broker
        the item is dealt with: called once it is recorded or refused (at once when dropped)."""
        try:
            peer = topics.parse_federation_in(topic)
        except BadDataError:
            peer = ""  # refused as wrong_origin by receive, at the budget of no real peer
        if self.queues.put(peer, (topic, wire, ack)):
            return True
        with self._lock:
            self.rejected[THROTTLED] += 1
        ack()
        return False

    @property
    def throttled(self) -> Counter[str]:
        """Items dropped unread, per peer, because its queue was full."""
        return Counter(self.queues.dropped)

    def _work(self) -> None:
        while not self._stop.is_set():
            got = self.queues.take(self._stop)
            self._report_throttled()
            if got is None:
                continue
            peer, (topic, wire, ack) = got
            try:
                self.receive(topic, wire)
            except ItemRejected:
                self.queues.charge(peer, REJECT_COST)  # counted and logged by receive
            except Exception:  # the store failing: logged, not acknowledged: the broker sends it at the next start
                logger.exception("federation: item on %r not recorded", topic)
                continue
            ack()

    def _report_throttled(self, force: bool = False) -> None:
        """Log and store, per peer and at most every ``REPORT_EVERY_S``, how many of its items were dropped."""
        now = self._mono()
        for peer, dropped in self.throttled.items():
            at, reported = self._reported.get(peer, (float("-inf"), 0))
            if dropped > reported and (force or now - at >= REPORT_EVERY_S):
                self._reported[peer] = (now, dropped)
                logger.warning("federation: peer %r floods: %d item(s) dropped unread so far (queue of %d full, "
                               "%g items/s)", peer, dropped, self.queues.maxlen, self.queues.rate.per_second)
                try:
                    self.store.count_reject("", f"federation_{THROTTLED}", dropped - reported)
                except Exception:
                    logger.exception("federation: throttled items not counted in the store")

    def receive(self, topic: str, wire: bytes) -> FederatedItem | None:
        """Verify, record and apply one item from ``topic``; returns it when new. Raises ItemRejected (counted,
        logged with its reason and claimed origin only) with nothing recorded or issued."""
        now = self._clock()
        claimed = ""
        try:
            try:
                claimed = topics.parse_federation_in(topic)
            except BadDataError as exc:
                raise ItemRejected("wrong_origin", str(exc)) from None
            item = verify_item(wire, fed=self.fed, now=now, topic_origin=claimed)
            if not self.store.add_federation_item(item.origin, item.id, "in", item.kind, item.ref, item.issued,
                                                  item.expires, now, item.personal, item.wire):
                raise ItemRejected("replay", f"item {item.id} from {item.origin!r} was already received")
        except ItemRejected as exc:
            self.rejected[exc.reason] += 1
            self.store.count_reject("", f"federation_{exc.reason}")
            # the reason and the claimed origin only: an item's content may name a traveller
            logger.warning("federation: item from %r refused (%s)", claimed, exc.reason)
            logger.debug("federation: refused: %s", exc)
            raise
        self.accepted += 1
        logger.warning("federation: %s %s from %r received (ref %s)", item.kind, item.id, item.origin, item.ref)
        if item.kind in ("alert", "clear") and not self._superseded(item):
            self._reissue(item, now)
        if self._on_item is not None:
            self._on_item(item)
        return item

    def reissue_pending(self) -> int:
        """Re-issue every received alert still in force that was not yet confirmed issued here (a relay that
        stopped between recording and publishing); returns how many. Gates apply each alert id once."""
        now = self._clock()
        received = self.store.federation_items("in")
        cleared = {(r["origin"], r["ref"]) for r in received if r["kind"] == "clear"}
        due = [r for r in received if r["kind"] in ("alert", "clear") and r["local_ref"] is None
               and r["expires"] > now and (r["kind"] == "clear" or (r["origin"], r["ref"]) not in cleared)]
        for row in due:
            try:
                self._reissue(verify_item(row["wire"], fed=self.fed, now=now, topic_origin=row["origin"]), now)
            except ItemRejected as exc:  # a peer key unpinned since: no longer re-issued
                logger.warning("federation: recorded item from %r no longer verifies (%s)", row["origin"], exc.reason)
        return len(due)

    def _superseded(self, item: FederatedItem) -> bool:
        """An alert item whose clearing was received first (out of order): never re-issued."""
        return item.kind == "alert" and any(
            r["kind"] == "clear" and r["origin"] == item.origin and r["ref"] == item.ref
            for r in self.store.federation_items("in"))

    def _reissue(self, item: FederatedItem, now: float) -> None:
        if self._alert_key is None:
            return  # recorded only: this relay holds no alert key (docs/central.md "Federation")
        alert_id, wire, expires = reissue_alert(item, self._alert_key, now=now, sites=self.sites)
        m = alert_message(alert_id, wire, expires, now)
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = m.expiry
        # never hold our lock across publish: paho calls on_publish with its own lock held, and the
        # acknowledgement may arrive before publish returns (kept in _early until the mid is known)
        info = self._client.publish(m.topic, m.payload, qos=1, retain=True, properties=props)
        done = (item.origin, item.id, alert_id)
        with self._lock:
            reason = self._early.pop(info.mid, None)
            if reason is None:
                self._pending[info.mid] = done
                return
        self._settle(done, reason)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        with self._acked:
            done = self._pending.pop(mid, None)
            if done is None:
                self._early[mid] = reason
                return
            self._acked.notify_all()
        self._settle(done, reason)

    def _settle(self, done: tuple[str, str, str], reason: Any) -> None:
        """Record the local alert id of a re-issued item once the broker took it (or log its refusal)."""
        if reason.is_failure:
            logger.warning("federation: broker refused the re-issued alert %s: %s", done[2], reason)
            return
        self.store.set_federation_local_ref(*done)
