"""An in-process hit-list from a plain records file: the stand-in until the signed store is configured.

    >>> hl = MemoryHitList.from_file("listed.jsonl", version=3)
    >>> hl.lookup_document("UTO", "L898902C3")
    Hit(kind='document', reason='stolen', ref='…', strength='exact')

Records are the JSON Lines of ``sharaka-hitlist build --from`` (one object per line, ``kind``
``document`` / ``person`` / ``vehicle``). It implements ``agent.hitlist.api.HitList`` so the
screening pipeline does not know which list it talks to. Holds identifiers in clear in memory:
for development, demos and tests, not for a deployed gate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.errors import BadDataError
from agent.hitlist.api import Hit

_NON_LETTERS = re.compile(r"[^A-Z]+")


def _name_key(surname: str, given_names: str) -> str:
    """Surname and given names in capitals, words separated by one space, ``<`` and punctuation removed."""

    def words(s: str) -> str:
        return " ".join(_NON_LETTERS.sub(" ", s.upper()).split())

    return f"{words(surname)}|{words(given_names)}"


def _document_key(issuing_state: str, document_number: str) -> tuple[str, str]:
    return issuing_state.upper().replace("<", ""), document_number.upper().replace("<", "")


class MemoryHitList:
    """Listed documents and persons held in dicts; never stale unless ``expires_at`` passes."""

    def __init__(self, records: Iterable[dict[str, Any]] = (), *, version: int = 0,
                 expires_at: float | None = None) -> None:
        self._version = version
        self.expires_at = expires_at
        self._documents: dict[tuple[str, str], Hit] = {}
        self._persons: dict[tuple[str, str], Hit] = {}  # (name key, birth date)
        self._vehicles: dict[str, Hit] = {}
        for number, record in enumerate(records, 1):
            self._add(record, number)

    @classmethod
    def from_file(cls, path: str | Path, *, version: int = 0, max_age_s: float = 0.0) -> MemoryHitList:
        """Load a JSON Lines records file; stale ``max_age_s`` after its modification time (0: never).

        Raises ``BadDataError`` naming the line of a bad record, ``OSError`` when unreadable.
        """
        path = Path(path)
        records = []
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise BadDataError(f"{path}:{lineno}: not a JSON record ({exc.msg}): {line.strip()[:80]!r}")
        expires = path.stat().st_mtime + max_age_s if max_age_s > 0 else None
        try:
            return cls(records, version=version, expires_at=expires)
        except BadDataError as exc:
            raise BadDataError(f"{path}: {exc}") from None

    def _add(self, record: dict[str, Any], number: int) -> None:
        if not isinstance(record, dict):
            raise BadDataError(f"record {number}: expected a JSON object, got {record!r}")
        kind = record.get("kind")
        try:
            hit = Hit(kind=str(kind), reason=str(record["reason"]), ref=str(record.get("ref", "")))
            if kind == "document":
                self._documents[_document_key(record["issuing_state"], record["document_number"])] = hit
            elif kind == "person":
                birth = record["birth_date"]
                if not re.fullmatch(r"[0-9]{6}", birth):
                    raise BadDataError(f"record {number}: birth_date {birth!r} is not YYMMDD")
                self._persons[(_name_key(record["surname"], record["given_names"]), birth)] = hit
            elif kind == "vehicle":
                self._vehicles[str(record["vin"]).upper()] = hit
            else:
                raise BadDataError(f"record {number}: kind {kind!r} is not 'document', 'person' or 'vehicle'")
        except (KeyError, AttributeError, TypeError) as exc:
            raise BadDataError(f"record {number}: {kind!r} record lacks or mistypes {exc}: {record!r}") from None

    def __len__(self) -> int:
        return len(self._documents) + len(self._persons) + len(self._vehicles)

    @property
    def version(self) -> int:
        return self._version

    def is_stale(self, now: float) -> bool:
        """True once wall-clock ``now`` reaches the expiry computed at load."""
        return self.expires_at is not None and now >= self.expires_at

    def lookup_document(self, issuing_state: str, document_number: str) -> Hit | None:
        return self._documents.get(_document_key(issuing_state, document_number))

    def lookup_person(
        self, surname: str, given_names: str, birth_date: str, *, truncated: bool = False
    ) -> Hit | None:
        """Exact name key and birth date; a truncated MRZ name also matches longer listed names, weakly."""
        key = _name_key(surname, given_names)
        hit = self._persons.get((key, birth_date))
        if hit is not None or not truncated:
            return hit
        for (listed, birth), listed_hit in self._persons.items():
            if birth == birth_date and listed.startswith(key):
                return Hit(listed_hit.kind, listed_hit.reason, listed_hit.ref, strength="weak")
        return None

    def lookup_vehicle(self, vin: str) -> Hit | None:
        return self._vehicles.get(vin.upper())
