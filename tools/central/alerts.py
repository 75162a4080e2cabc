"""Early warnings from the centre (docs/protocol.md "Early warnings"): build, sign, publish, follow.

    >>> alert_id, wire, expires = build_alert(KeyDir("keys"), notice="...", severity="urgent", ttl=3600,
    ...                                       listings=[{"kind": "document", "issuing_state": "UTO", ...}])
    >>> publish_alert(config, alert_id, wire, expires)      # retained, QoS 1, MQTT 5 message expiry
    >>> alert_receipts(store, alert_id)                      # {gate: {"received": t, "acknowledged": t, ...}}
    >>> clear_id, clearing, _ = build_clearing(key, retained_alert(config, alert_id))   # withdraw it:
    >>> publish_alert(config, clear_id, clearing, expires)   # the clearing replaces the retained alert

An alert is signed by the ``alert`` key of the keys directory (``sharaka-hitlist certify --add-alert-key``),
which the root-signed keyring certifies for that role; a gate trusts nothing else for alerts. Urgent
listings are the records of ``sharaka-hitlist build --from`` fingerprinted under keys made for this alert
alone (a list's privacy rule: no identity in clear on the broker or at a gate). Each listing names the list
and version that will contain it (``list``, ``version``): gates drop it once they installed that version.
Gates report receipt and acknowledgement as ``alert`` events; the central node stores them like any event.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.alerts import MAX_LIFETIME_S
from agent.errors import BadDataError, TransportError
from agent.protocol import topics
from agent.protocol.envelope import ProtocolError, peek, seal
from agent.protocol.schema import MAX_BODY, MAX_LISTING_FPS, MAX_LISTINGS, TooLargeError
from agent.screening.events import decode_event
from tools.central.node import CentralConfig
from tools.central.store import CentralStore
from tools.hitlist.build import new_fingerprint_keys, record_fingerprints


def _listing_version(record: dict[str, Any]) -> int:
    """A listing's ``version``: an integer, or its digits as CSV gives them; BadDataError for anything else."""
    version = record.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int | str) or not str(version).isdigit():
        raise BadDataError(f"listing version {version!r:.40}: expected a whole number (the list's version)")
    return int(version)


def build_alert(key: Any, *, notice: str, severity: str, ttl: float, listings: Sequence[dict[str, Any]] = (),
                target: str = "all", sites: Sequence[str] = (), gates: Sequence[str] = (), now: float | None = None,
                alert_id: str | None = None) -> tuple[str, bytes, float]:
    """(alert id, signed wire, expires) of one alert signed by ``key`` (a SigningKey certified for ``alert``).
    ``listings``: records as ``sharaka-hitlist build --from`` reads them, each optionally with ``list`` and
    ``version``. Raises BadDataError naming a bad record; ProtocolError for fields out of range."""
    if len(listings) > MAX_LISTINGS:
        raise ValueError(f"{len(listings)} urgent listings: at most {MAX_LISTINGS} per alert")
    if not 0 < ttl <= MAX_LIFETIME_S:  # gates refuse a longer one; a NaN or negative one would never be in force
        raise BadDataError(f"alert lifetime {ttl:g} s: expected more than 0 s, at most {MAX_LIFETIME_S / 86400:g} days")
    now = time.time() if now is None else now
    fp_keys = new_fingerprint_keys()  # the lists' person cost: a gate computes them per read
    wire_listings = []
    for n, r in enumerate(listings, 1):
        fps = [fp.to_bytes(8, "little") for fp in dict.fromkeys(record_fingerprints(r, fp_keys))]
        if len(fps) > MAX_LISTING_FPS:
            raise BadDataError(f"urgent listing {n} ({r['kind']} {r.get('ref', '')!r}): {len(fps)} fingerprints, "
                               f"at most {MAX_LISTING_FPS} a listing")
        wire_listings.append({"fps": fps, "kind": str(r["kind"]), "reason": str(r.get("reason", "")),
                              "ref": str(r.get("ref", "")), "list": str(r.get("list", "")),
                              "version": _listing_version(r)})
    alert_id = alert_id or uuid.uuid4().hex
    expires = now + ttl
    body = {"id": alert_id, "ts": now, "issued": now, "expires": expires, "severity": severity, "notice": notice,
            "target": target, "sites": list(sites), "gates": list(gates), "keys": fp_keys.to_wire(),
            "listings": wire_listings}
    try:
        wire: bytes | None = seal("alert", body, [key])
    except TooLargeError:  # over the envelope's bound
        wire = None
    if wire is None or len(wire) > MAX_BODY:  # the region's item carries an alert whole (fed_item ``alert``)
        raise BadDataError(f"the {len(listings)} urgent listings make an alert of over {MAX_BODY:,} bytes, more "
                           "than the federation carries: send them in several alerts")
    return alert_id, wire, expires


def build_clearing(key: Any, original: bytes, *, notice: str = "", now: float | None = None) -> tuple[str, bytes, float]:
    """(alert id, signed wire, expires) of the clearing that withdraws ``original`` (an alert this centre issued,
    signed wire): the same id, target and expiry, no listings, ``cleared`` true, signed by ``key`` (docs/protocol.md
    "Clearing an alert"). Raises BadDataError when ``original`` is not an alert, is a clearing, or has expired."""
    try:
        alert = peek("alert", original)[0]
    except ProtocolError as exc:
        raise BadDataError(f"not an alert: {exc}") from None
    now = time.time() if now is None else now
    if alert.get("cleared"):
        raise BadDataError(f"alert {alert['id']} is already cleared")
    if alert["expires"] <= now:
        raise BadDataError(f"alert {alert['id']} expired at {alert['expires']:.0f}: the gates dropped it already")
    body: dict[str, Any] = {k: alert[k] for k in ("id", "expires", "severity", "target", "sites", "gates", "keys",
                                                  "origin") if k in alert}
    body.update(ts=now, issued=now, notice=notice or "withdrawn", listings=[], cleared=True)
    return alert["id"], seal("alert", body, [key]), alert["expires"]


def retained_alert(config: CentralConfig, alert_id: str, *, timeout: float = 5.0) -> bytes:
    """The alert retained at the broker under ``alert_id`` (what the gates get at their next connect). Raises
    BadDataError when there is none (expired, cleared before, or never issued there), TransportError when the
    broker does not answer within ``timeout``.

    "None" is known, not guessed from a quiet moment: the broker sends a topic's retained message after the
    SUBACK of the subscription that asks for it, and handles one client's packets in order, so a second
    SUBSCRIBE to the same topic, asking for no retained message (MQTT 5 retain handling 2), is acknowledged
    only after the first one's retained message went out. A fixed wait after the first SUBACK read "none" on a
    loaded machine whenever paho's thread had not yet read the message behind it."""
    topic = topics.alert(alert_id)
    got: list[bytes] = []
    answered = threading.Event()  # the second SUBACK, or a refusal
    failure: list[str] = []
    barrier: list[int] = []  # the second subscription's mid
    user = config.username or "central-cmd"
    client = config.client(f"{user}-read-{uuid.uuid4().hex[:8]}")

    def on_connect(c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            failure.append(str(reason))
            answered.set()
            return
        c.subscribe(topic, qos=1)

    def on_subscribe(c: Any, _u: Any, mid: int, reasons: Any, _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            failure.append(f"broker refused to show {topic!r}: {reasons[0]}")
            answered.set()
        elif not barrier:  # on paho's thread, like on_message: no lock needed, and none held across subscribe
            no_retained = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
            barrier.append(c.subscribe(topic, options=no_retained)[1])
        elif mid == barrier[0]:
            answered.set()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        if msg.retain and msg.payload:
            got.append(bytes(msg.payload))

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect_async(config.host, config.port, 30, clean_start=True)
    client.loop_start()
    try:
        if not answered.wait(timeout) or failure:
            raise TransportError(f"broker {config.host}:{config.port}: {failure[0] if failure else 'no answer'}")
    finally:
        client.disconnect()
        client.loop_stop()
    if not got:
        raise BadDataError(f"no alert {alert_id} in force at the broker (expired, cleared, or never issued)")
    return got[0]


@dataclass(frozen=True)
class Message:
    """One message for ``publish_messages``: QoS 1, optionally retained, with an MQTT 5 message expiry (s)."""

    topic: str
    payload: bytes
    retain: bool = False
    expiry: int = 0  # 0: none


def publish_alert(config: CentralConfig, alert_id: str, wire: bytes, expires: float, *,
                  timeout: float = 10.0, clock: Any = time.time) -> None:
    """Publish ``wire`` retained with QoS 1 on ``sharaka/v1/alerts/{alert_id}``, its MQTT 5 message expiry the
    alert's own (the broker forgets it when gates would refuse it). An empty ``wire`` clears the alert.
    Raises TransportError when the broker did not take it within ``timeout`` seconds."""
    publish_messages(config, [alert_message(alert_id, wire, expires, clock())], timeout=timeout)


def alert_message(alert_id: str, wire: bytes, expires: float, now: float) -> Message:
    """The MQTT message of one alert: its retained topic, QoS 1, expiring with the alert (``publish_alert``)."""
    return Message(topics.alert(alert_id), wire, retain=True, expiry=max(1, int(expires - now)) if wire else 0)


def publish_messages(config: CentralConfig, messages: Sequence[Message], *, timeout: float = 10.0) -> None:
    """Publish ``messages`` with QoS 1 over one connection of its own (an operator's command-line tool, not the
    node's session) and return once the broker acknowledged every one. Raises TransportError when the broker
    refused one or did not answer within ``timeout`` seconds."""
    user = config.username or "central-cmd"
    client = config.client(f"{user}-pub-{uuid.uuid4().hex[:8]}")
    connected = threading.Event()
    failure: list[str] = []
    acked = threading.Condition()
    acked_mids: set[int] = set()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            failure.append(str(reason))
        connected.set()

    def on_publish(_c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            failure.append(f"broker refused a message: {reason}")
        with acked:
            acked_mids.add(mid)
            acked.notify_all()

    client.on_connect, client.on_publish = on_connect, on_publish
    client.connect_async(config.host, config.port, 30, clean_start=True)
    client.loop_start()
    try:
        if not connected.wait(timeout) or failure:
            raise TransportError(f"broker {config.host}:{config.port}: {failure[0] if failure else 'no answer'}")
        mids = set()
        for m in messages:  # no lock of ours held across publish: paho calls on_publish under its own lock
            props = Properties(PacketTypes.PUBLISH)
            if m.expiry:
                props.MessageExpiryInterval = m.expiry
            mids.add(client.publish(m.topic, m.payload, qos=1, retain=m.retain, properties=props).mid)
        with acked:
            all_acked = acked.wait_for(lambda: bool(failure) or acked_mids >= mids, timeout)
        if not all_acked or failure:
            raise TransportError(failure[0] if failure else f"broker did not acknowledge in {timeout:g} s")
    finally:
        client.disconnect()
        client.loop_stop()


def is_recorded_alert(store: CentralStore, alert_id: str) -> bool:
    """Whether ``store`` records ``alert_id``: issued by this centre, from the console or by ``alert send``
    (``console_alerts``: ``ConsoleRecords.record_alert``), shared with or received from the region
    (``federation_items``, its id or the id this centre re-issued it under), or reported by a gate."""
    return bool(store.query(
        "SELECT 1 FROM console_alerts WHERE alert_id = ? UNION ALL SELECT 1 FROM federation_items"
        " WHERE kind = 'alert' AND (ref = ? OR local_ref = ?) UNION ALL SELECT 1 FROM events WHERE alert_id = ?"
        " LIMIT 1", (alert_id,) * 4))


def alert_receipts(store: CentralStore, *alert_ids: str) -> dict[str, dict[str, dict[str, Any]]]:
    """{alert id: {gate: {"received": wall, "acknowledged": wall, "officer": name}}} from the ``alert`` events
    the gates sent, of the alerts ``alert_ids`` (none: of every alert). Only those alerts' events are read and
    decoded (``events.alert_id``, set as they are stored: ``tools.central.store.alert_id_of``)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    which = f"IN ({', '.join('?' * len(alert_ids))})" if alert_ids else "IS NOT NULL"
    for row in store.query(f"SELECT gate_id, alert_id, body FROM events WHERE alert_id {which} ORDER BY rowid",
                           alert_ids):
        try:
            event = decode_event(bytes(row["body"]))
        except ValueError:
            continue
        gate = out.setdefault(row["alert_id"], {}).setdefault(row["gate_id"], {})
        gate[str(event.get("state"))] = event.get("wall")
        if event.get("officer"):
            gate["officer"] = event["officer"]
    return out
