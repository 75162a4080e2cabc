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

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.errors import BadDataError
from agent.hitlist import names
from agent.hitlist.api import Hit


def _document_key(issuing_state: str, document_number: str) -> tuple[str, str]:
    return issuing_state.upper().replace("<", ""), document_number.upper().replace("<", "")


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
        for number, record in enumerate(records, 1):
            self._add(record, number)

    @classmethod
    def from_file(cls, path: str | Path, *, version: int = 0, max_age_s: float = 0.0,
                  list_id: str = "records") -> MemoryHitList:
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
            return cls(records, version=version, expires_at=expires, list_id=list_id)
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
                for key in names.record_name_keys(record["surname"], record["given_names"]):
                    self._persons.setdefault((key, birth), hit)
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

    @property
    def list_id(self) -> str:
        """The id given at load (the records file has none of its own)."""
        return self._list_id

    def is_stale(self, now: float) -> bool:
        """True once wall-clock ``now`` reaches the expiry computed at load."""
        return self.expires_at is not None and now >= self.expires_at

    def lookup_document(self, issuing_state: str, document_number: str) -> Hit | None:
        return self._documents.get(_document_key(issuing_state, document_number))

    def lookup_person(
        self, surname: str, given_names: str, birth_date: str, *, truncated: bool = False
    ) -> Hit | None:
        """Any query name key (agent.hitlist.names) with the birth date listed; exact hits win over weak.

        Raises ``BadDataError`` for a name that is not a Latin-script name, as the signed store does."""
        weak = None
        for key, strength in names.query_name_keys(surname, given_names, truncated=truncated):
            hit = self._persons.get((key, birth_date))
            if hit is None:
                continue
            if strength == names.EXACT:
                return hit
            weak = weak or Hit(hit.kind, hit.reason, hit.ref, strength=names.WEAK)
        return weak

    def lookup_vehicle(self, vin: str) -> Hit | None:
        return self._vehicles.get(vin.upper())
