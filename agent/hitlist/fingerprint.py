"""Keyed fixed-width fingerprints of normalised identifiers (docs/hitlist.md "Fingerprints").

A fingerprint is a 64-bit integer. Documents and vehicles use keyed BLAKE2b; persons use
PBKDF2-HMAC-SHA256 under a separate key with a cost set per list, because name keys x birth
dates are few enough to enumerate by whoever holds the key (NAMES.md, "Privacy").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from agent.errors import BadDataError

_STATE = re.compile(r"[A-Z]{1,3}")
_NUMBER = re.compile(r"[A-Z0-9]{1,24}")
_VIN = re.compile(r"[A-Z0-9]{5,17}")
_BIRTH = re.compile(r"[0-9<]{6}")
_SEPARATORS = str.maketrans("", "", "< -\t")


@dataclass(frozen=True)
class FingerprintKeys:
    """The list's fingerprint key material, carried in the signed metadata and rotated with snapshots."""

    document_key: bytes  # 32 bytes, documents and vehicles
    person_key: bytes  # 32 bytes, persons only
    person_cost: int  # PBKDF2 iterations on the person path

    def to_wire(self) -> dict:
        """The keys as they travel in a list's signed metadata."""
        return {"doc": self.document_key, "person": self.person_key, "person_cost": self.person_cost}

    @classmethod
    def from_wire(cls, wire: object) -> FingerprintKeys:
        """Raises BadDataError when the wire form is not two 32-byte keys and a positive cost."""
        if not isinstance(wire, dict):
            raise BadDataError(f"fingerprint keys {wire!r}: expected a map")
        doc, person, cost = wire.get("doc"), wire.get("person"), wire.get("person_cost")
        if not (
            isinstance(doc, bytes) and len(doc) == 32 and isinstance(person, bytes) and len(person) == 32
        ):
            raise BadDataError("fingerprint keys: expected 32-byte 'doc' and 'person' keys")
        if not isinstance(cost, int) or not 1 <= cost <= 10_000_000:
            raise BadDataError(f"fingerprint person_cost {cost!r}: expected an integer 1..10000000")
        return cls(doc, person, cost)


def normalise_document(issuing_state: str, document_number: str) -> tuple[str, str]:
    """Upper case, fillers and separators removed, a TD1 long number whole: ('D', 'C01X00T47').

    Raises BadDataError naming the value when it is not a state code or a document number.
    """
    state = issuing_state.upper().translate(_SEPARATORS)
    number = document_number.upper().translate(_SEPARATORS)
    if not _STATE.fullmatch(state):
        raise BadDataError(f"issuing state {issuing_state!r:.60}: expected 1-3 letters (e.g. 'UTO', 'D<<')")
    if not _NUMBER.fullmatch(number):
        raise BadDataError(f"document number {document_number!r:.60}: expected 1-24 letters or digits")
    return state, number


def normalise_vin(vin: str) -> str:
    """Raises BadDataError when the VIN is not 5-17 letters or digits after removing separators."""
    value = vin.upper().translate(_SEPARATORS)
    if not _VIN.fullmatch(value):
        raise BadDataError(f"VIN {vin!r:.60}: expected 5-17 letters or digits (17 for ISO 3779)")
    return value


def normalise_birth_date(birth_date: str) -> str:
    """Raises BadDataError unless the date is six characters YYMMDD as printed (digits or '<')."""
    if not isinstance(birth_date, str) or not _BIRTH.fullmatch(birth_date):
        raise BadDataError(f"birth date {birth_date!r:.60}: expected YYMMDD as printed in the MRZ")
    return birth_date


def transposed_birth_date(birth_date: str) -> str | None:
    """``birth_date`` with day and month swapped when that is another date a person can have, else None: the
    swap a clerk makes between DD/MM and MM/DD, which NAMES.md rule 5 looks up as a weaker match (a listed 850307
    read as 850703). Both must be a month, 01..12, and differ; an unknown part (``<<``, or ``00`` where an issuer
    writes unknown so) has no swap. Raises BadDataError as ``normalise_birth_date`` does."""
    month, day = normalise_birth_date(birth_date)[2:4], birth_date[4:6]
    if month == day or not all(part.isdigit() and 1 <= int(part) <= 12 for part in (month, day)):
        return None
    return birth_date[:2] + day + month


def partial_birth_dates(birth_date: str) -> tuple[str, ...]:
    """A birth date read in full as a source that knows only part of it lists it: the year and month (``8805<<``),
    then the year alone (``88<<<<``), which NAMES.md rule 5 looks up as weaker matches (docs/names.md "Partly
    unknown birth dates"). Only a date read in full has them: six digits, month 01..12, day 01..31; a date the
    document prints partly unknown (``<<``, or ``00`` where an issuer writes unknown so) is looked up as printed
    only. Raises BadDataError as ``normalise_birth_date`` does."""
    year, month, day = normalise_birth_date(birth_date)[:2], birth_date[2:4], birth_date[4:6]
    if not (year.isdigit() and month.isdigit() and day.isdigit() and 1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return ()
    return year + month + "<<", year + "<<<<"


def check_birth_date(birth_date: str) -> str:
    """A birth date a traveller can have, as a lookup gives it: YYMMDD, its unknown parts ``<<`` (Doc 9303 Part 3,
    agent.mrz.parser.is_partial_date); raises BadDataError for another (991399, 970229, 7408). Lists keep
    ``normalise_birth_date``'s looser check: a record is keyed as printed."""
    from agent.mrz.parser import is_partial_date
    from agent.mrz.result import yymmdd

    # an unknown year may be a leap year (00), an unknown month has 31 days (01), an unknown day may be the 1st
    known = "".join(birth_date[i:i + 2].replace("<<", "01" if i else "00") for i in (0, 2, 4))
    if len(birth_date) != 6 or not is_partial_date(birth_date) or not (yymmdd(known, 1900) or yymmdd(known, 2000)):
        raise BadDataError(f"birth date {birth_date!r:.60}: expected a date YYMMDD as printed in the MRZ, its "
                           "unknown parts << (e.g. 740812 or 74<<<<)")
    return birth_date


def _blake64(data: bytes, key: bytes, domain: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, key=key, person=domain).digest(), "little")


def document_fingerprint(keys: FingerprintKeys, issuing_state: str, document_number: str) -> int:
    """Fingerprint of a travel document; raises BadDataError on a malformed state or number."""
    state, number = normalise_document(issuing_state, document_number)
    return _blake64(f"{state}|{number}".encode(), keys.document_key, b"sharaka-doc")


def vehicle_fingerprint(keys: FingerprintKeys, vin: str) -> int:
    """Fingerprint of a vehicle; raises BadDataError on a malformed VIN."""
    return _blake64(normalise_vin(vin).encode(), keys.document_key, b"sharaka-vin")


def plate_fingerprint(keys: FingerprintKeys, country: str, plate: str) -> int:
    """Fingerprint of a registration plate of ``country`` (both as agent.hitlist.vehicle_ids normalises them);
    raises BadDataError on a malformed plate or country."""
    from agent.hitlist.vehicle_ids import normalise_country, normalise_plate

    data = f"{normalise_country(country)}|{normalise_plate(plate)}".encode()
    return _blake64(data, keys.document_key, b"sharaka-plate")


def person_fingerprint(keys: FingerprintKeys, name_key: str, birth_date: str) -> int:
    """Slow keyed fingerprint of ``name_key + "|" + birth_date`` (one name key from agent.hitlist.names)."""
    data = f"{name_key}|{normalise_birth_date(birth_date)}".encode()
    digest = hashlib.pbkdf2_hmac(
        "sha256", keys.person_key, b"sharaka-person|" + data, keys.person_cost, dklen=8
    )
    return int.from_bytes(digest, "little")
