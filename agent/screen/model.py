"""What the officer's screen shows, kept current from the gate's threads (agent/screen/__init__.py wires it).

    >>> model = ScreenModel(hub, history=12)
    >>> screener.on_decided = model.on_decided     # reader thread: a decision -> "current", "recent"
    >>> model.refresh_health(lists, faults, gate)   # supervisor thread: freshness, faults, gate -> "health"
    >>> model.current(), model.recent(), model.find(event_id)

The model holds the last ``history`` decisions as ``Shown`` records (verdict, reasons, the document's fields,
the hit with its list and reference, the face crop, and what officers recorded about it) and publishes a
topic notice on the hub for every change; each browser renders the topic in its own language. It holds
no more than the screen shows and nothing of it is written to disk or logged.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from agent.screening.decision import HIT, Decision
from agent.screening.pipeline import Passage
from agent.web.sse import Hub

TOPICS = ("current", "recent", "alerts", "health")


@dataclass(frozen=True)
class Shown:
    """One decision as the screen shows it (``event_id`` is its event's id, the key officers act on)."""

    event_id: str
    wall: float
    verdict: str
    reasons: tuple[str, ...]
    subject: str  # "traveller" | "vehicle"
    fields: tuple[tuple[str, str], ...]  # (label, value) of the document, person or vehicle
    hit: dict[str, str] | None  # kind, reason, ref, list (the list id, when known)
    face_jpeg: str | None  # base64 JPEG of the face crop, when the camera gave one
    entered_by: str | None = None  # officer who entered it by hand
    acknowledged_by: str | None = None
    outcome: str | None = None
    override: str | None = None  # "admit" | "refuse", with ``override_reason``
    override_reason: str | None = None
    must_acknowledge: bool = False  # a list's policy asks the officer to acknowledge this decision
    stale_lists: tuple[str, ...] = ()  # lists that answered past their freshness (a stale_policy of clear-flag)
    centre: str = ""  # the online query: "" (not asked), "answered", "late" or "unreachable"
    shown_at: float = 0.0  # time.monotonic() when the screen got it or an officer last acted on it

    def is_for(self, signed_in_at: float) -> bool:
        """Whether a session signed in at ``signed_in_at`` (time.monotonic) may see this decision: one made (or
        acted on) since, or one still waiting for its acknowledgement (the next officer must deal with it). An earlier traveller's
        name, document and face are not shown to the next officer who signs in."""
        return self.shown_at >= signed_in_at or self.can_acknowledge

    @property
    def qualifiers(self) -> tuple[str, ...]:
        """What a decision that is not a HIT was decided without: ``list_stale`` (a list out of date answered:
        its CLEAR is only as good as that list) and ``centre_unreachable`` / ``centre_late`` (the online query
        was asked and did not answer: the gate's own lists only). Empty for a HIT, and for a REFER whose reasons
        already say the list is out of date."""
        if self.is_hit:
            return ()
        out = []
        if self.stale_lists and "list_stale" not in self.reasons:
            out.append("list_stale")
        if self.centre in ("late", "unreachable"):
            out.append(f"centre_{self.centre}")
        return tuple(out)

    @property
    def is_hit(self) -> bool:
        """True for a HIT (officers acknowledge it and record its outcome)."""
        return self.verdict == HIT

    @property
    def can_acknowledge(self) -> bool:
        """True for a HIT, or any decision a list's policy wants acknowledged, not yet acknowledged."""
        return (self.is_hit or self.must_acknowledge) and not self.acknowledged_by


MRZ_FIELDS = (  # (label, MrzResult attribute) in the order the screen lists them
    ("Document", "document_code"), ("Issuing state", "issuing_state"), ("Document number", "document_number"),
    ("Surname", "surname"), ("Given names", "given_names"), ("Nationality", "nationality"),
    ("Date of birth", "birth_date"), ("Sex", "sex"), ("Expiry date", "expiry_date"),
)


def shown_from(passage: Passage, list_id: str | None = None) -> Shown | None:
    """The screen's record of a committed decision (None for one whose event was not committed)."""
    if passage.event_id is None:
        return None
    decision: Decision = passage.decision
    query = getattr(decision, "query", None)  # what a vehicle or hand entry asked (the several-lists Query)
    vehicle = query is not None and bool(getattr(query, "vin", None) or getattr(query, "plate", None))
    hit = None
    if decision.hit is not None:
        h = decision.hit
        hit = {"kind": h.kind, "reason": h.reason, "ref": h.ref, "strength": h.strength,
               "list": _answering_list(decision) or list_id or ""}
    jpeg = (passage.face or {}).get("jpeg")
    return Shown(
        event_id=passage.event_id, wall=passage.wall, verdict=decision.verdict, reasons=decision.reasons,
        subject="vehicle" if vehicle else "traveller", fields=_fields(decision, query), hit=hit,
        face_jpeg=base64.b64encode(jpeg).decode() if isinstance(jpeg, bytes | bytearray) else None,
        must_acknowledge=bool(getattr(decision, "acknowledge", False)), stale_lists=_stale_lists(decision),
        centre=str(getattr(decision, "centre", "") or ""))


def _stale_lists(decision: Decision) -> tuple[str, ...]:
    """The gate's own lists that were past their freshness when they answered (the first list's flag for a
    decision without per-list answers)."""
    stale = tuple(str(a.source) for a in getattr(decision, "answers", ()) if a.stale and not a.remote)
    return stale or (("",) if decision.list_stale else ())


def _fields(decision: Decision, query: Any) -> tuple[tuple[str, str], ...]:
    """(label, value) of what was read or entered: the MRZ's fields, else the query's."""
    if decision.mrz is not None:
        return tuple((label, str(getattr(decision.mrz, attr, "") or "")) for label, attr in MRZ_FIELDS)
    if query is None:
        return ()
    out: list[tuple[str, str]] = []
    if getattr(query, "vin", None):
        out.append(("VIN", str(query.vin)))
    plate = getattr(query, "plate", None)
    if plate:
        out += [("Country", str(plate[0])), ("Plate", str(plate[1]))]
    document = getattr(query, "document", None)
    if document:
        out += [("Issuing state", str(document[0])), ("Document number", str(document[1]))]
    person = getattr(query, "person", None)
    if person is not None:
        out += [("Surname", person.surname), ("Given names", person.given_names), ("Date of birth", person.birth_date)]
    return tuple(out)


def _answering_list(decision: Decision) -> str | None:
    """The id of the list whose entry is the decision's hit (several lists: each answer names its source)."""
    for answer in getattr(decision, "answers", ()):
        if decision.hit is not None and decision.hit in getattr(answer, "hits", ()):
            return str(answer.source)
    return None


@dataclass
class Health:
    """List freshness and device faults, as last refreshed."""

    lists: list[dict[str, Any]] = field(default_factory=list)  # list_id, version, stale, stale_reason
    faults: dict[str, str] = field(default_factory=dict)
    # what the officer must know of the gate beside its devices: (code of agent/web/codes.py GATE_STATES, figures)
    gate: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class ScreenModel:
    """The screen's state; see the module docstring. Thread-safe: writers are the gate's threads, the
    readers the web server's."""

    def __init__(self, hub: Hub, *, history: int = 12, list_id: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.hub = hub
        self._monotonic = monotonic
        self.list_id = list_id
        self._lock = threading.Lock()
        self._recent: deque[Shown] = deque(maxlen=history)
        self._health = Health()

    def on_decided(self, passage: Passage) -> None:
        """A decision was committed and shown (Screener's ``on_decided``): it becomes the current one."""
        shown = shown_from(passage, self.list_id)
        if shown is None:
            return
        shown = replace(shown, shown_at=self._monotonic())
        with self._lock:
            self._recent.appendleft(shown)
        self.hub.publish("current")
        self.hub.publish("recent")

    def annotate(self, event_id: str, **changes: Any) -> Shown | None:
        """Record what an officer did about decision ``event_id`` (``acknowledged_by``, ``outcome``, ...);
        returns the updated record, or None when the screen no longer holds that decision."""
        with self._lock:
            for i, shown in enumerate(self._recent):
                if shown.event_id == event_id:
                    # an officer dealt with it now: the sessions signed in by now keep it (``Shown.is_for``)
                    self._recent[i] = updated = replace(shown, **changes, shown_at=self._monotonic())
                    break
            else:
                return None
        self.hub.publish("current")
        self.hub.publish("recent")
        return updated

    def find(self, event_id: str) -> Shown | None:
        """The decision ``event_id`` if the screen still holds it."""
        with self._lock:
            return next((s for s in self._recent if s.event_id == event_id), None)

    def current(self, signed_in_at: float | None = None) -> Shown | None:
        """The latest decision, or None before the first (or when the session signed in at ``signed_in_at`` may
        not see it: ``Shown.is_for``)."""
        with self._lock:
            latest = self._recent[0] if self._recent else None
        return latest if latest is None or signed_in_at is None or latest.is_for(signed_in_at) else None

    def recent(self, signed_in_at: float | None = None) -> list[Shown]:
        """The last decisions, newest first (those the session signed in at ``signed_in_at`` may see)."""
        with self._lock:
            shown = list(self._recent)
        return shown if signed_in_at is None else [s for s in shown if s.is_for(signed_in_at)]

    def health(self) -> Health:
        """Freshness of each list and the device faults."""
        with self._lock:
            return self._health

    def refresh_health(self, lists: list[dict[str, Any]], faults: dict[str, str],
                       gate: list[tuple[str, dict[str, Any]]] | None = None) -> None:
        """New freshness, faults and gate states (the supervisor calls this often); published only when they
        changed."""
        health = Health(lists, dict(faults), list(gate or []))
        with self._lock:
            if health == self._health:
                return
            self._health = health
        self.hub.publish("health")
