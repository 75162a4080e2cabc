"""The event a decision produces: a msgpack map, queued durably before the indicator acts.

Fields (docs/config.md, "Decision events"): ``v`` schema version, ``type`` "decision", ``id``
(unique, hex), ``seq`` (the gate's event sequence), ``gate``, ``site``, ``reader``, ``decision``,
``reasons``, ``wall`` (epoch seconds) and ``mono`` (monotonic seconds) of the decision,
``read_mono`` (when the reader's last byte arrived), ``list_version``, ``list_stale``, and as they
apply: ``mrz`` (the MRZ fields of ARCHITECTURE.md), ``fingerprint`` (instead of ``mrz`` for a
CLEAR under ``clear_event_detail = "fingerprint"``), ``hit`` (kind, reason, ref, strength),
``detail`` (why a read was unreadable), with the online query on ``centre`` ("answered", "late",
"unreachable") and ``sources`` (each source's state, list versions and hit kind/reason/strength), ``frame`` (camera frame reference), ``face`` (with a camera:
``present``, ``score``, ``quality``, and for HIT and REFER ``jpeg``, the best face crop), ``faults``.
Decisions also carry ``lists`` (what each list or other local source answered: ``list``, ``version``, ``decided``,
``stale``, ``answered``, ``acknowledge``), ``matches`` (what matched in each: ``list``, ``kind``, ``reason``,
``ref``, ``strength``; sealed), ``acknowledge`` (an officer must acknowledge this decision), and for a decision
without an MRZ (a vehicle, an officer's entry) ``entry`` (what was checked: ``vin``, ``country``/``plate``,
``issuing_state``/``document_number``, ``surname``/``given_names``/``birth_date``; sealed like ``mrz``).

Sealed (format 2, RELIABILITY 31, docs/protocol.md "Sealed events"): the personal fields (``PRIVATE_FIELDS``)
never reach the disk in clear. ``build_event`` moves them, with the event id, into ``sealed``: a
libsodium sealed box (X25519 + XSalsa20-Poly1305 with a throw-away sender key) to the central node's key,
so nothing on the gate, its own keys included, can open its backlog; ``sealed_to`` names the node key.
The routing and counting fields stay clear. Without a node key (no centre to deliver to) the personal
fields are left out. Format 1 rows (clear ``mrz``) queued before an upgrade are delivered as they are.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgpack
from nacl.exceptions import CryptoError
from nacl.public import SealedBox
from nacl.signing import SigningKey, VerifyKey

from agent.durable import atomic_write
from agent.hitlist.api import Hit
from agent.keys import message_key_id
from agent.screening.decision import CLEAR, Decision
from agent.screening.sources import Query

EVENT_VERSION = 2
PRIVATE_FIELDS = ("mrz", "fingerprint", "hit", "detail", "face", "entry", "matches")
"""Fields that can name or picture a traveller: sealed to the centre, never written in clear."""
_FINGERPRINT_PERSON = b"sharaka-doc-v1"  # domain of the document fingerprint


def new_event_id() -> str:
    """A random 128-bit id, hex: unique across gates and restarts (the central node dedupes on it)."""
    return uuid.uuid4().hex


def document_fingerprint(key: bytes, document_code: str, issuing_state: str, document_number: str) -> str:
    """Keyed BLAKE2b-128 of a document's identity: whoever holds ``key`` can match it, nobody can read it."""
    data = f"{document_code}|{issuing_state}|{document_number}".encode()
    return hashlib.blake2b(data, key=key, digest_size=16, person=_FINGERPRINT_PERSON).hexdigest()


def load_fingerprint_key(path: Path) -> bytes:
    """The gate's fingerprint key at ``path``, created (32 random bytes, 0600, atomically) on first use."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = os.urandom(32)
        atomic_write(path, key, mode=0o600)
    if len(key) < 16:
        raise ValueError(f"fingerprint key {str(path)!r} holds {len(key)} bytes; expected 16-64")
    return key[:64]


class EventSealer:
    """Seals the personal part of events to the central node's key (the node's Ed25519 key converted to
    X25519, libsodium ``crypto_sign_ed25519_pk_to_curve25519``: one key to pin and rotate, and using one
    key pair for both is proven safe, Thormarker, "On using the same key pair for Ed25519 and an X25519
    based KEM", 2021). The gate holds no key that opens what it sealed."""

    def __init__(self, node_key: VerifyKey) -> None:
        self.key_id = message_key_id(node_key).hex()
        self._box = SealedBox(node_key.to_curve25519_public_key())

    def seal(self, private: dict[str, Any]) -> bytes:
        """The sealed box of ``private`` (msgpack)."""
        return self._box.encrypt(msgpack.packb(private, use_bin_type=True))


class EventOpener:
    """The central node's side: opens ``sealed`` with the node's private key."""

    def __init__(self, node_key: SigningKey) -> None:
        self.key_id = message_key_id(node_key.verify_key).hex()
        self._box = SealedBox(node_key.to_curve25519_private_key())

    def open_body(self, body: bytes) -> bytes:
        """Outbox bytes as the centre stores them: a sealed event opened (re-encoded), any other bytes (a
        format 1 event, another message kind) as they came. Raises ``ValueError`` as ``open``."""
        if b"sealed" not in body:
            return body
        try:
            event = decode_event(body)
        except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            return body
        return encode_event(self._opened(event)) if "sealed" in event else body

    def unseal(self, sealed: bytes, owner: object) -> dict[str, Any]:
        """The map sealed by ``EventSealer.seal`` for the message whose id is ``owner`` (its ``id`` removed).

        Raises ``ValueError`` when it does not open with this node's key, was altered, is not a map, or
        belongs to another message (a sealed part moved from one message to another)."""
        try:
            private = msgpack.unpackb(self._box.decrypt(sealed), raw=False)
        except (CryptoError, ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise ValueError(f"sealed part does not open: {exc}") from exc
        if not isinstance(private, dict) or private.pop("id", None) != owner:
            raise ValueError("sealed part belongs to another message")
        return private

    def open(self, body: bytes) -> dict[str, Any]:
        """The whole event from outbox bytes, personal fields restored (a format 1 event as it is).

        Raises ``ValueError`` when the bytes are not an event or the sealed part is not for this node,
        was altered, or belongs to another event."""
        return self._opened(decode_event(body))

    def _opened(self, event: dict[str, Any]) -> dict[str, Any]:
        """``event`` (decoded, changed in place) with its sealed part opened; raises ``ValueError`` as ``open``."""
        sealed = event.pop("sealed", None)
        if sealed is None:
            return event
        if event.get("sealed_to") != self.key_id or not isinstance(sealed, bytes):
            raise ValueError(f"event {event.get('id')!r} is sealed to key {event.get('sealed_to')!r}, "
                             f"this node is {self.key_id!r}")
        try:
            private = self.unseal(sealed, event.get("id"))
        except ValueError as exc:
            raise ValueError(f"event {event.get('id')!r}: {exc}") from exc
        del event["sealed_to"]
        return {**event, **private}


def seal_private(event: dict[str, Any], sealer: EventSealer | None,
                 fields: tuple[str, ...] | frozenset[str] = PRIVATE_FIELDS) -> dict[str, Any]:
    """``event`` with its ``fields`` (by default ``PRIVATE_FIELDS``) sealed by ``sealer`` (left out without one)."""
    private = {k: event.pop(k) for k in fields if k in event}
    if private and sealer is not None:
        event["sealed_to"] = sealer.key_id
        event["sealed"] = sealer.seal({"id": event["id"], **private})
    return event


def build_event(
    decision: Decision,
    *,
    event_id: str,
    seq: int,
    gate_id: str,
    site: str,
    reader_id: str,
    wall: float,
    mono: float,
    read_mono: float,
    clear_detail: str = "full",
    fingerprint_key: bytes = b"",
    frame: str | None = None,
    face: dict[str, object] | None = None,
    faults: dict[str, str] | None = None,
    sealer: EventSealer | None = None,
    list_id: str | None = None,
) -> dict[str, Any]:
    """The event map for ``decision`` (see the module docstring), its personal fields sealed by ``sealer``
    (left out without one); ``list_id``: the gate's ``[hitlist] list_id`` (the ``local`` part of ``sources``)."""
    event: dict[str, Any] = {
        "v": EVENT_VERSION,
        "type": "decision",
        "id": event_id,
        "seq": seq,
        "gate": gate_id,
        "site": site,
        "reader": reader_id,
        "decision": decision.verdict,
        "reasons": list(decision.reasons),
        "wall": wall,
        "mono": mono,
        "read_mono": read_mono,
        "list_version": decision.list_version,
        "list_stale": decision.list_stale,
        "lists": [a.to_wire() for a in decision.answers if not a.remote],
    }
    matches = [m for m in (a.match_wire() for a in decision.answers if not a.remote) if m is not None]
    if matches:
        event["matches"] = matches
    if decision.acknowledge:
        event["acknowledge"] = True
    mrz = decision.mrz
    if mrz is None and decision.query is not None:
        event["entry"] = entry_fields(decision.query)
    if mrz is not None:
        if decision.verdict == CLEAR and clear_detail == "fingerprint":
            event["fingerprint"] = document_fingerprint(
                fingerprint_key, mrz.document_code, mrz.issuing_state, mrz.document_number)
        else:
            event["mrz"] = mrz.to_dict()
    if decision.hit is not None:
        h = decision.hit
        event["hit"] = {"kind": h.kind, "reason": h.reason, "ref": h.ref, "strength": h.strength}
    if decision.detail:
        event["detail"] = decision.detail
    if decision.centre:  # the online query was made: the gate's lists' part and the centre's
        event["centre"] = decision.centre
        event["sources"] = sources_field(decision, list_id)
    if frame is not None:
        event["frame"] = frame
    if face is not None:
        event["face"] = face
    if faults:
        event["faults"] = faults
    return seal_private(event, sealer)


def sources_field(decision: Decision, list_id: str | None) -> list[dict[str, object]]:
    """The event's ``sources`` (docs/online-query.md): the gate's own lists as one source ``local`` (``[hitlist]
    list_id``, "" when the gate follows any list, and the decision's list version), then each remote answer (the
    centre) with its state and the list versions it answered from; each with the kind, reason and strength of
    its strongest match, never the reference (the sealed ``hit`` carries that)."""

    def part(source: str, state: str, lists: Iterable[tuple[str, int]], hit: Hit | None) -> dict[str, object]:
        out: dict[str, object] = {"source": source, "state": state,
                                  "lists": [{"list_id": lid, "version": v} for lid, v in lists]}
        if hit is not None:
            out["hit"] = {"kind": hit.kind, "reason": hit.reason, "strength": hit.strength}
        return out

    return [part("local", "answered", ((list_id or "", decision.list_version),), decision.local_hit),
            *(part(a.source, a.state, a.consulted, a.match) for a in decision.answers if a.remote)]


def entry_fields(query: Query) -> dict[str, Any]:
    """What an event records of a decision made without an MRZ (a vehicle, an officer's entry)."""
    out: dict[str, Any] = {}
    if query.vin is not None:
        out["vin"] = query.vin
    if query.plate is not None:
        out["country"], out["plate"] = query.plate
    if query.document is not None:
        out["issuing_state"], out["document_number"] = query.document
    if query.person is not None:
        p = query.person
        out.update(surname=p.surname, given_names=p.given_names, birth_date=p.birth_date)
    return out


def encode_event(event: dict[str, Any]) -> bytes:
    """msgpack bytes of an event map."""
    return msgpack.packb(event, use_bin_type=True)


def decode_event(body: bytes) -> dict[str, Any]:
    """The event map from outbox bytes; raises ``ValueError`` on bytes that are not one."""
    event = msgpack.unpackb(body, raw=False)
    if not isinstance(event, dict):
        raise ValueError(f"not an event map: {body[:40]!r}")
    return event


def is_event_of(body: bytes, event_id: str) -> bool:
    """True when ``body`` decodes as the event map of ``event_id``: a row salvaged from a damaged outbox
    (agent/outbox.py: open_outbox) whose body is whole."""
    try:
        return decode_event(body).get("id") == event_id
    except (ValueError, TypeError):  # msgpack's errors are ValueErrors; an unhashable map key a TypeError
        return False
