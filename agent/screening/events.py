"""The event a decision produces: a msgpack map, queued durably before the indicator acts.

Fields (docs/config.md, "Decision events"): ``v`` schema version, ``type`` "decision", ``id``
(unique, hex), ``seq`` (the gate's event sequence), ``gate``, ``site``, ``reader``, ``decision``,
``reasons``, ``wall`` (epoch seconds) and ``mono`` (monotonic seconds) of the decision,
``read_mono`` (when the reader's last byte arrived), ``list_version``, ``list_stale``, and as they
apply: ``mrz`` (the MRZ fields of ARCHITECTURE.md), ``fingerprint`` (instead of ``mrz`` for a
CLEAR under ``clear_event_detail = "fingerprint"``), ``hit`` (kind, reason, ref, strength),
``detail`` (why a read was unreadable), ``frame`` (camera frame reference), ``face`` (with a camera:
``present``, ``score``, ``quality``, and for HIT and REFER ``jpeg``, the best face crop), ``faults``.
Version 2 adds ``sources`` (what each list or other source answered: ``list``, ``version``, ``decided``,
``stale``, ``answered``, ``match``, ``acknowledge``), ``acknowledge`` (an officer must acknowledge this
decision), and for a decision without an MRZ (a vehicle, an officer's entry) ``entry`` (what was
checked: ``vin``, ``plate``/``country``, ``document``, ``person``). Version 1 events have none of these.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import msgpack

from agent.durable import atomic_write
from agent.screening.decision import CLEAR, Decision
from agent.screening.sources import Query

EVENT_VERSION = 2  # 2: sources, acknowledge, entry (1 is still read: the fields are optional)
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
) -> dict[str, Any]:
    """The event map for ``decision`` (see the module docstring for the fields)."""
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
        "sources": [a.to_wire() for a in decision.answers],
    }
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
    if frame is not None:
        event["frame"] = frame
    if face is not None:
        event["face"] = face
    if faults:
        event["faults"] = faults
    return event


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
