"""What screening needs from a hit-list, whatever stores it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Hit:
    """A listed identifier: the reason code and the central record reference, never the identity."""

    kind: str  # "document" | "person" | "vehicle"
    reason: str  # "stolen", "lost", "revoked", "invalidated", "wanted", ...
    ref: str
    strength: str = "exact"  # "exact" -> HIT; "weak" (e.g. truncated-name prefix) -> REFER at most
    # a weak hit that matched on something other than what was read, told to the officer as one more reason:
    # "birth_date_transposed" (day and month swapped), "birth_date_partial" (listed with only the year, or year and
    # month, of the date read in full; agent.hitlist.keying); "" otherwise
    basis: str = ""


class HitList(Protocol):
    """Read side of a hit-list as the screening pipeline uses it."""

    @property
    def version(self) -> int:
        """Version of the list in force (0: none)."""

    @property
    def list_id(self) -> str | None:
        """Id of the list in force; None when no list is installed."""
        ...

    def is_stale(self, now: float) -> bool:
        """True when the list's freshness has lapsed at ``now`` (decisions then carry ``list_stale``)."""

    def lookup_document(self, issuing_state: str, document_number: str) -> Hit | None:
        """The entry for this document, or None."""

    def lookup_person(
        self, surname: str, given_names: str, birth_date: str, *, truncated: bool = False, issuing_state: str = ""
    ) -> Hit | None:
        """The entry for this person (a weak hit when only a truncated name, the birth date with day and month
        swapped, or a listing's known part of it matches: agent.hitlist.keying.person_lookup_keys), or None;
        ``issuing_state``: the issuing state of the document the name was read from ('' if none), whose orthography
        the name is also read in (agent.hitlist.names.query_name_keys)."""


class VehicleLists(Protocol):
    """What a list that holds vehicles offers besides ``HitList`` (the signed store and the in-memory list)."""

    def lookup_vehicle(self, vin: str) -> Hit | None:
        """The entry for this VIN, or None."""

    def lookup_plate(self, country: str, plate: str) -> Hit | None:
        """The entry for this plate of ``country``, or None."""
