"""Early warnings from the centre at one gate (docs/protocol.md "Early warnings", RELIABILITY 48).

    >>> warnings = EarlyWarnings(state / "alerts.msgpack", gate_id="g1", site="s1", keyring=lambda: store.keyring,
    ...                          now=trusted.screening_now, report=outbox_report)
    >>> warnings.receive(wire)           # the link, for each message on sharaka/v1/alerts/+
    >>> warnings.active_alerts()         # the officer's screen
    >>> warnings.acknowledge(alert_id, "amina")

An alert is a message of type ``alert`` signed by a key the root-signed keyring certifies for the ``alert``
role (``verify_alert``: the signature over the exact bytes with the ``alert`` domain first, then the schema,
then its times and target). It carries urgent listings (keyed fingerprints of documents, persons or vehicles
under the alert's own fingerprint keys, as a list carries them: no identity in clear on the broker or the
gate's disk), a notice, a severity, an expiry and a target (all gates, sites, or named gates).

An accepted alert is kept durably (``path``, written whole through ``agent.durable``) until it expires, so
it survives a restart, and reported once to the centre as received (``report``: an ``alert`` event through
the outbox, delivered like any event). Its urgent listings answer every read at once as one more screening
source (``ask``: decided HIT), until the named list installs the version that contains them (``list``,
``version`` of each listing; ``list_versions``) or the alert expires. Its notice is shown until an officer
acknowledges it (``acknowledge``: kept, and reported). The same alert again (the broker re-delivers retained
alerts at every connect) changes nothing; a forged, expired, replayed-after-expiry or mistargeted one is
refused and counted in ``rejected`` by reason, and nothing changes.

The centre withdraws an alert with a clearing: an ``alert`` of the same id marked ``cleared``, without listings,
signed and checked like any alert and published retained in its place. It takes the alert out of force at once
(no listing answers, no notice shown) and is kept until the original's expiry, so the original arriving again
(an older retained copy, a replay) is not applied; a clearing that arrives first is kept the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from agent.config import ScreeningConfig
from agent.durable import atomic_write
from agent.errors import BadDataError
from agent.hitlist import names
from agent.hitlist.api import Hit
from agent.hitlist.fingerprint import (
    FingerprintKeys,
    document_fingerprint,
    person_fingerprint,
    plate_fingerprint,
    vehicle_fingerprint,
)
from agent.hitlist.keying import person_lookup_keys
from agent.hitlist.trust import Keyring
from agent.keys import trusted
from agent.protocol.envelope import ProtocolError, SignatureError, open_signed
from agent.screening.sources import CLEAR, HIT, REFER, Query, SourceAnswer, weak_reasons

logger = logging.getLogger(__name__)

SOURCE = "alerts"  # the screening source name in decisions and events
MAX_LIFETIME_S = 30 * 86400.0  # an alert valid longer than this is refused (a key misuse, not a warning)
CLOCK_SKEW_S = 300.0  # an alert issued further ahead of trusted time is refused
MAX_UNVERIFIED = 32  # alerts kept for a retry once the keyring changes


class AlertRejected(BadDataError):
    """An alert the gate refuses; ``reason``: forged, malformed, expired, not_yet_valid, wrong_target."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass
class Alert:
    """One accepted early warning and what this gate did with it."""

    id: str
    issued: float
    expires: float
    severity: str
    notice: str
    listings: list[dict[str, Any]]  # {"fps": [8-byte], "kind", "reason", "ref", "list", "version"}
    keys: dict[str, Any]  # the alert's fingerprint keys (wire form)
    received: float = 0.0
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    reported: list[str] = field(default_factory=list)  # "received", "acknowledged": reports queued
    origin: dict[str, str] | None = None  # another centre's alert re-issued by this centre: {"centre", "ref"}
    cleared: bool = False  # the centre withdrew it: kept until ``expires`` only to refuse the original again

    def fp_keys(self) -> FingerprintKeys:
        """The alert's fingerprint keys."""
        return FingerprintKeys.from_wire(self.keys)


def validity_problem(issued: float, expires: float, now: float) -> tuple[str, str] | None:
    """(reason, detail) when a signed item valid ``issued``..``expires`` is not in force at trusted time ``now``
    (not_yet_valid, expired, or malformed: valid longer than ``MAX_LIFETIME_S``), else None. One rule for the
    gate's alerts and the centre's federation items."""
    if issued > now + CLOCK_SKEW_S:
        return "not_yet_valid", f"issued {issued:.0f}, trusted time {now:.0f}"
    if expires <= now:
        return "expired", f"expired at {expires:.0f}, trusted time {now:.0f}"
    if not issued < expires <= issued + MAX_LIFETIME_S:
        return "malformed", f"valid {issued:.0f}..{expires:.0f}: expected at most {MAX_LIFETIME_S:.0f} s after issue"
    return None


def verify_alert(wire: bytes, *, keyring: Keyring, now: float, gate_id: str, site: str) -> Alert:
    """The alert in ``wire`` if an ``alert`` key of ``keyring`` valid at ``now`` signed it, it is in force at
    ``now`` and it targets this gate. Pure. Raises AlertRejected (the reason codes of the module docstring)."""
    keys = trusted(g.public_key for g in keyring.granted("alert", now))
    try:
        body, _ = open_signed("alert", wire, keys)
    except SignatureError as exc:  # includes: no alert key at all, a command or list key, a relabelled type
        raise AlertRejected("forged", str(exc)) from None
    except ProtocolError as exc:
        raise AlertRejected("malformed", str(exc)) from None
    issued, expires = float(body["issued"]), float(body["expires"])
    problem = validity_problem(issued, expires, now)
    if problem is not None:
        raise AlertRejected(*problem)
    target = body["target"]
    if (target == "site" and site not in body["sites"]) or (target == "gates" and gate_id not in body["gates"]):
        raise AlertRejected("wrong_target", f"alert for {target} {body['sites'] or body['gates']}, not {gate_id!r}")
    return Alert(body["id"], issued, expires, body["severity"], body["notice"], list(body["listings"]),
                 dict(body["keys"]), origin=dict(body["origin"]) if "origin" in body else None,
                 cleared=bool(body.get("cleared", False)))


class EarlyWarnings:
    """The early warnings in force at one gate: receive, persist, screen, show, acknowledge, report.
    Thread-safe (the link's worker receives, the reader thread asks, the screen acknowledges)."""

    def __init__(self, path: Path, *, gate_id: str, site: str, keyring: Callable[[], Keyring | None],
                 now: Callable[[], float], report: Callable[[Alert, str], None],
                 list_versions: Callable[[], Mapping[str, int]] = dict,
                 observe: Callable[[float, str], object] | None = None) -> None:
        self.path, self.gate_id, self.site = Path(path), gate_id, site
        self._keyring, self._now, self._report = keyring, now, report
        self._list_versions, self._observe = list_versions, observe
        self._lock = threading.RLock()
        self._reporting = threading.Lock()  # one flush of reports at a time (``_flush_reports``)
        self.rejected: dict[str, int] = {}
        # Alerts no trusted key signed yet, by wire: tried again when the keyring changes (the retained alert
        # can arrive before the keyring that certifies its key, e.g. at a gate's first connect). Bounded.
        self._unverified: dict[bytes, int] = {}
        self.alerts: dict[str, Alert] = self._load()
        self.on_change: Callable[[], None] | None = None  # e.g. the officer's screen; must not block
        self._flush_reports()

    @property
    def name(self) -> str:
        """The screening source name."""
        return SOURCE

    # ------------------------------------------------------------------ receiving
    def receive(self, wire: bytes) -> Alert | None:
        """Verify and keep one alert; returns it when new, None when it was already here. Raises AlertRejected
        (counted in ``rejected``) with nothing changed."""
        keyring = self._keyring()
        now = self._now()
        try:
            if keyring is None:
                raise AlertRejected("forged", "no keyring: no alert key is trusted yet")
            alert = verify_alert(wire, keyring=keyring, now=now, gate_id=self.gate_id, site=self.site)
        except AlertRejected as exc:
            self.rejected[exc.reason] = self.rejected.get(exc.reason, 0) + 1
            logger.warning("early warning refused", extra={"fields": {"reason": exc.reason, "detail": str(exc)}})
            if exc.reason == "forged" and len(self._unverified) < MAX_UNVERIFIED:
                self._unverified[bytes(wire)] = keyring.version if keyring is not None else -1
            raise
        if self._observe is not None:
            self._observe(alert.issued, "alert")  # signed by an alert key: time has reached at least this
        with self._lock:
            held = self.alerts.get(alert.id)
            if held is not None and (held.cleared or not alert.cleared):
                return None  # the retained copy again, a replay, or the original after its clearing: applied once
            alert.received = now
            if held is not None:  # the clearing of an alert held here: its reports are kept, not made again
                alert.reported = held.reported
            self.alerts[alert.id] = alert
            self._save()
        logger.warning("early warning received", extra={"fields": {
            "alert": alert.id, "severity": alert.severity, "listings": len(alert.listings), "cleared": alert.cleared}})
        self._flush_reports()
        self._changed()
        return alert

    def retry(self) -> int:
        """Try again the alerts refused as forged while the keyring in force was an older one (the link calls
        this often; cheap when nothing changed); returns how many were accepted now. Still refused: kept
        until the next keyring change, so a forgery costs one check per keyring version."""
        keyring = self._keyring()
        version = keyring.version if keyring is not None else -1
        due = [w for w, tried in self._unverified.items() if tried != version]
        accepted = 0
        for wire in due:
            del self._unverified[wire]
            try:
                accepted += self.receive(wire) is not None
            except AlertRejected:
                pass
        return accepted

    def acknowledge(self, alert_id: str, officer: str) -> None:
        """``officer`` acknowledged ``alert_id`` on the screen: kept and reported to the centre (once; a second
        acknowledgement keeps the first). Raises KeyError for an alert not in force here."""
        with self._lock:
            alert = self.alerts[alert_id]
            if alert.cleared:
                raise KeyError(alert_id)
            if alert.acknowledged_by is None:
                alert.acknowledged_by, alert.acknowledged_at = officer, self._now()
                self._save()
        self._flush_reports()
        self._changed()

    def expire(self) -> int:
        """Forget alerts past their expiry (the supervisor calls this); returns how many."""
        now = self._now()
        with self._lock:
            gone = [a for a in self.alerts.values() if a.expires <= now]
            for alert in gone:
                del self.alerts[alert.id]
            if gone:
                self._save()
        if gone:
            self._changed()
        return len(gone)

    # ------------------------------------------------------------------ the screen
    def active_alerts(self) -> list[dict[str, Any]]:
        """Warnings in force, newest first: ``id``, ``severity``, ``notice``, ``issued``, ``expires``,
        ``listings`` (how many still apply), ``acknowledged_by`` (None until an officer acknowledges),
        ``origin`` (the centre that first issued it, when another centre's alert was shared with this one)."""
        now = self._now()
        with self._lock:
            alerts = sorted((a for a in self.alerts.values() if a.expires > now and not a.cleared),
                            key=lambda a: -a.issued)
            return [{"id": a.id, "severity": a.severity, "notice": a.notice, "issued": a.issued,
                     "expires": a.expires, "listings": len(self._in_force(a)),
                     "acknowledged_by": a.acknowledged_by, "origin": (a.origin or {}).get("centre")} for a in alerts]

    def status(self) -> dict[str, Any]:
        """For the gate's status: alerts in force, unacknowledged ones, refusals by reason."""
        active = self.active_alerts()
        return {"active": len(active), "unacknowledged": sum(a["acknowledged_by"] is None for a in active),
                "rejected": dict(self.rejected)}

    # ------------------------------------------------------------------ screening source
    def ask(self, query: Query | None, *, now: float, rules: ScreeningConfig) -> SourceAnswer:
        """The urgent listings' answer: HIT for a listed identifier (reason ``listed_KIND:REASON``), else REFER
        for a listed look-alike of the document number read (``possible_document_match:REASON``) or a listed person
        whose birth date is the one read with day and month swapped, or only its year (and month)
        (``possible_person_match:REASON``, ``birth_date_transposed`` / ``birth_date_partial``)."""
        if query is None:
            return SourceAnswer(SOURCE)
        with self._lock:
            alerts = [a for a in self.alerts.values() if a.expires > now and not a.cleared]
        hits: list[Hit] = []
        for alert in alerts:
            listings = self._in_force(alert)
            if listings:
                hits += _matches(alert, listings, query)
        if not hits:
            return SourceAnswer(SOURCE, decided=CLEAR)
        exact = [h for h in hits if h.strength != "weak"]
        if exact:
            reasons = tuple(dict.fromkeys(f"listed_{h.kind}:{h.reason}" for h in exact))
            return SourceAnswer(SOURCE, hits=tuple(exact), decided=HIT, reasons=reasons, acknowledge=True)
        reasons = tuple(dict.fromkeys(weak_reasons(hits)))  # look-alike numbers, transposed or partial birth dates
        return SourceAnswer(SOURCE, hits=tuple(hits), decided=REFER, reasons=reasons, acknowledge=True)

    def _in_force(self, alert: Alert) -> list[dict[str, Any]]:
        """The alert's listings not yet in an installed list version (``list`` at ``version`` or later)."""
        versions = self._list_versions()
        return [x for x in alert.listings if not (x["list"] and versions.get(x["list"], 0) >= x["version"] > 0)]

    # ------------------------------------------------------------------ persistence and reports
    def _load(self) -> dict[str, Alert]:
        try:
            raw = msgpack.unpackb(self.path.read_bytes(), raw=False)
            return {a["id"]: Alert(**a) for a in raw["alerts"]}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, msgpack.ExtraData, msgpack.FormatError) as exc:
            # never a reason not to screen: the centre's retained alerts come again at the next connect
            logger.error("early warnings file unreadable; starting without", extra={"fields": {"error": str(exc)}})
            return {}

    def _save(self) -> None:
        records = [dict(vars(a)) for a in self.alerts.values()]
        atomic_write(self.path, msgpack.packb({"v": 1, "alerts": records}, use_bin_type=True))

    def _flush_reports(self) -> None:
        """Queue the receipt and acknowledgement reports not yet queued (each once; kept across restarts). The
        outbox is written outside ``_lock``: the supervisor (``expire``), the screen and screening read the alerts
        and must not wait for a commit that hangs (the supervisor ends a CLEAR's relay opening)."""
        with self._reporting:
            with self._lock:
                due = [(a, s) for a in self.alerts.values() for s in ("received", "acknowledged")
                       if not a.cleared and s not in a.reported and (s == "received" or a.acknowledged_by is not None)]
            queued = []
            for alert, state in due:
                try:
                    self._report(alert, state)
                except Exception as exc:  # the outbox full or failing: tried again at the next change
                    logger.error("early warning report not queued", extra={"fields": {"error": str(exc)}})
                    break
                queued.append((alert, state))
            if queued:
                with self._lock:
                    for alert, state in queued:
                        alert.reported.append(state)
                    self._save()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


def _matches(alert: Alert, listings: list[dict[str, Any]], query: Query) -> list[Hit]:
    """The listings of ``alert`` that ``query`` matches (fingerprints under the alert's keys; a person by the exact
    name keys), and as weak hits those a look-alike of the number read matches (``Query.lookalikes``) or a person's
    birth date with day and month swapped or known only in part (agent.hitlist.keying.person_lookup_keys)."""
    keys = alert.fp_keys()
    wanted: dict[str, set[bytes]] = {}
    twins: set[bytes] = set()
    by_basis: dict[str, set[bytes]] = {}  # a person's weak keys by basis, in the order their hits rank
    try:
        if query.document is not None:
            wanted["document"] = {_fp(document_fingerprint(keys, *query.document))}
            twins = {_fp(document_fingerprint(keys, query.document[0], n)) for n in query.lookalikes}
        vehicle = set()
        if query.vin is not None:
            vehicle.add(_fp(vehicle_fingerprint(keys, query.vin)))
        if query.plate is not None:
            vehicle.add(_fp(plate_fingerprint(keys, *query.plate)))
        wanted["vehicle"] = vehicle
        if query.person is not None and any(x["kind"] == "person" for x in listings):
            p = query.person
            person = [k for k in person_lookup_keys(p.surname, p.given_names, p.birth_date, truncated=p.truncated,
                                                    issuing_state=p.issuing_state) if k.strength == names.EXACT or k.basis]
            fingerprints = [_fp(person_fingerprint(keys, k.name_key, k.birth_date)) for k in person]
            wanted["person"] = {fp for k, fp in zip(person, fingerprints, strict=True) if k.strength == names.EXACT}
            for k, fp in zip(person, fingerprints, strict=True):
                if k.basis:
                    by_basis.setdefault(k.basis, set()).add(fp)
    except BadDataError:
        return []  # an identifier no listing can match (the lists say so for the decision)
    hits = []
    for x in listings:
        fps = set(x["fps"])
        if wanted.get(x["kind"]) and wanted[x["kind"]] & fps:
            hits.append(Hit(x["kind"], x["reason"], x["ref"]))
        elif x["kind"] == "document" and twins & fps:  # the exact hit, where there is one, is all that counts
            hits.append(Hit(x["kind"], x["reason"], x["ref"], strength="weak"))
        elif x["kind"] == "person" and (basis := next((b for b, w in by_basis.items() if w & fps), "")):
            # day and month swapped, a date listed in part (NAMES.md rule 5): REFER only
            hits.append(Hit(x["kind"], x["reason"], x["ref"], strength="weak", basis=basis))
    return hits


def _fp(value: int) -> bytes:
    return value.to_bytes(8, "little")


def outbox_report(outbox: Any, *, gate_id: str, site: str, clock: Callable[[], float],
                  on_committed: Callable[[], None] | None = None) -> Callable[[Alert, str], None]:
    """``report`` for ``EarlyWarnings``: an ``alert`` event through the outbox (kind ``alert``: durable, resent
    until the centre acknowledges it), ``state`` ``received`` or ``acknowledged`` (with the ``officer``)."""
    from agent.outbox import PRIORITY_ROUTINE
    from agent.screening.events import EVENT_VERSION, encode_event, new_event_id

    def report(alert: Alert, state: str) -> None:
        event_id, wall = new_event_id(), clock()
        extra = {"officer": alert.acknowledged_by} if state == "acknowledged" else {}
        outbox.append_with_seq("alert", event_id, lambda seq: encode_event({
            "v": EVENT_VERSION, "type": "alert", "id": event_id, "seq": seq, "gate": gate_id, "site": site,
            "wall": wall, "alert": alert.id, "state": state, **extra}), priority=PRIORITY_ROUTINE, now=wall)
        if on_committed is not None:
            on_committed()

    return report
