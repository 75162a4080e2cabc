"""An in-process hit-list from a plain records file: the stand-in until the signed store is configured.

    >>> hl = MemoryHitList.from_file("listed.jsonl", version=3)
    >>> hl.lookup_document("UTO", "L898902C3")
    Hit(kind='document', reason='stolen', ref='…', strength='exact')

Records are the JSON Lines of ``sharaka-hitlist build --from`` (one object per line, ``kind``
``document`` / ``person`` / ``vehicle``). It implements ``agent.hitlist.api.HitList`` with the same
name keys as the signed store (``agent.hitlist.names``), so the screening pipeline does not know
which list it talks to and a person matches here exactly when it would match there. Holds identifiers in clear in memory:
for development, demos and tests, not for a deployed gate.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.errors import BadDataError
from agent.hitlist import names
from agent.hitlist.api import Hit
from agent.hitlist.fingerprint import normalise_birth_date, normalise_document, normalise_vin
from agent.hitlist.keying import person_lookup_keys, strongest_person_hit
from agent.hitlist.records import RecordsReader
from agent.hitlist.vehicle_ids import normalise_country, normalise_plate


class MemoryHitList:
    """Listed documents and persons held in dicts; never stale unless ``expires_at`` passes."""

    def __init__(self, records: Iterable[dict[str, Any]] = (), *, version: int = 0,
                 expires_at: float | None = None, list_id: str = "records") -> None:
        self._version = version
        self._list_id = list_id
        self.expires_at = expires_at
        self._documents: dict[tuple[str, str], Hit] = {}
        self._persons: dict[tuple[str, str], Hit] = {}  # (record name key, birth date), names.py keys
        self._vehicles: dict[str, Hit] = {}
        self._plates: dict[tuple[str, str], Hit] = {}
        for number, record in enumerate(records, 1):
            self._add(record, number)

    @classmethod
    def from_file(cls, path: str | Path, *, version: int = 0, max_age_s: float = 0.0,
                  list_id: str = "records") -> MemoryHitList:
        """Load a JSON Lines records file; stale ``max_age_s`` after its modification time (0: never).

        Raises ``BadDataError`` naming the file and line of a bad record, ``OSError`` when unreadable.
        """
        path = Path(path)
        expires = path.stat().st_mtime + max_age_s if max_age_s > 0 else None
        hitlist = cls(version=version, expires_at=expires, list_id=list_id)
        records = RecordsReader.open(path, "jsonl")
        with records.located():
            for number, record in enumerate(records, 1):
                hitlist._add(record, number)
        return hitlist

    def _add(self, record: dict[str, Any], number: int) -> None:
        if not isinstance(record, dict):
            raise BadDataError(f"record {number}: expected a JSON object, got {record!r}")
        kind = record.get("kind")
        try:
            hit = Hit(kind=str(kind), reason=str(record["reason"]), ref=str(record.get("ref", "")))
            if kind == "document":
                self._documents[normalise_document(record["issuing_state"], record["document_number"])] = hit
            elif kind == "person":
                birth = normalise_birth_date(record["birth_date"])
                for key in names.record_name_keys(record["surname"], record["given_names"]):
                    self._persons.setdefault((key, birth), hit)
            elif kind == "vehicle":  # by VIN, by plate (with its country), or both
                if record.get("vin"):
                    self._vehicles[normalise_vin(record["vin"])] = hit
                if record.get("plate") or not record.get("vin"):
                    self._plates[(normalise_country(record["country"]), normalise_plate(record["plate"]))] = hit
            else:
                raise BadDataError(f"record {number}: kind {kind!r} is not 'document', 'person' or 'vehicle'")
        except (KeyError, AttributeError, TypeError) as exc:
            raise BadDataError(f"record {number}: {kind!r} record lacks or mistypes {exc}: {record!r}") from None
        except BadDataError as exc:
            if str(exc).startswith("record "):
                raise
            raise BadDataError(f"record {number}: {exc}") from None

    def __len__(self) -> int:
        return len(self._documents) + len(self._persons) + len(self._vehicles) + len(self._plates)

    @property
    def version(self) -> int:
        """The version given at construction."""
        return self._version

    @property
    def list_id(self) -> str:
        """The id given at load (the records file has none of its own)."""
        return self._list_id

    def is_stale(self, now: float) -> bool:
        """True once wall-clock ``now`` reaches the expiry computed at load."""
        return self.expires_at is not None and now >= self.expires_at

    def lookup_document(self, issuing_state: str, document_number: str) -> Hit | None:
        """Raises BadDataError on a malformed state or number, as the signed store does."""
        return self._documents.get(normalise_document(issuing_state, document_number))

    def lookup_person(
        self, surname: str, given_names: str, birth_date: str, *, truncated: bool = False, issuing_state: str = ""
    ) -> Hit | None:
        """Any of the traveller's lookups listed (agent.hitlist.keying.person_lookup_keys, as the signed store
        makes them); exact hits win over weak.

        Raises ``BadDataError`` for a name that is not a Latin-script name or a malformed birth date, as the
        signed store does."""
        keys = person_lookup_keys(surname, given_names, birth_date, truncated=truncated, issuing_state=issuing_state)
        found = (self._persons.get((k.name_key, k.birth_date)) for k in keys)
        return strongest_person_hit(keys, ((hit.reason, hit.ref) if hit else None for hit in found))

    def lookup_vehicle(self, vin: str) -> Hit | None:
        """Raises BadDataError on a malformed VIN, as the signed store does."""
        return self._vehicles.get(normalise_vin(vin))

    def lookup_plate(self, country: str, plate: str) -> Hit | None:
        """Raises BadDataError on a malformed plate or country, as the signed store does."""
        return self._plates.get((normalise_country(country), normalise_plate(plate)))
