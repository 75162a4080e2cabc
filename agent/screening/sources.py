"""Several sources answer one read; their answers are combined in one place (``combine``).

    >>> sources = [ListSource(sltd, policy=cfg.hitlist), ListSource(nominal, policy=cfg.lists[0])]
    >>> answers = [s.ask(Query.from_mrz(mrz), now=now, rules=cfg.screening) for s in sources]
    >>> combine(check_reasons, answers)          # -> (verdict, reasons)

A *source* is anything that can say whether what was read is listed: each local hit-list under its own
policy (``ListSource``: `sltd` documents, `nominal` persons, `vehicles`, a national watchlist), and any
other source that produces a ``SourceAnswer`` (the urgent listings of an early warning, and the centre's
online answer: a *remote* answer, ``agent.screening.online.centre_answer``). Each answer says which source it is (``source``: a list id), which version answered, what
matched, and what the source's policy *decided* about it (``decided``: CLEAR, HIT or REFER). ``combine``
is the one rule that turns the answers into a verdict (docs/config.md "Several lists"):

* HIT when any source decided HIT;
* otherwise REFER when the document's own checks gave a reason or any source decided REFER;
* otherwise CLEAR.

Reasons keep one order whatever the number of sources: the document's checks, then ``hitlist_unavailable``,
``listed_*``, ``possible_*``, ``list_stale`` (dropped when the verdict is HIT), then anything else (a
list's problem: ``hitlist_missing``...), each reason once. A problem of one list (missing, unreadable,
stale) only affects the reads it governs (``HitListConfig.governs``, RELIABILITY 49).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from agent.config import HitListConfig, ScreeningConfig
from agent.hitlist.api import Hit, HitList
from agent.mrz.checkdigit import lookalike_numbers
from agent.screening.listcheck import list_problem

if TYPE_CHECKING:
    from agent.mrz import MrzResult

logger = logging.getLogger(__name__)

CLEAR = "CLEAR"
HIT = "HIT"
REFER = "REFER"
UNAVAILABLE = "hitlist_unavailable"
STALE = "list_stale"


@dataclass(frozen=True)
class PersonQuery:
    """A person as read: names as printed (any spacing), birth date YYMMDD; ``truncated`` when the MRZ cut the name;
    ``issuing_state`` the state that issued the document the name was read from ('' for a name entered by hand)."""

    surname: str
    given_names: str
    birth_date: str
    truncated: bool = False
    issuing_state: str = ""


@dataclass(frozen=True)
class Query:
    """What one read (or one officer's entry) asks the sources about; None where the read does not say."""

    document: tuple[str, str] | None = None  # (issuing state, document number)
    person: PersonQuery | None = None
    vin: str | None = None  # a vehicle identification number (validated: agent.vehicles)
    plate: tuple[str, str] | None = None  # (country, normalised plate) (agent.vehicles)

    @classmethod
    def from_mrz(cls, mrz: MrzResult) -> Query:
        """The document and its holder (the person only when a birth date was read)."""
        person = (PersonQuery(mrz.surname, mrz.given_names, mrz.birth_date, mrz.name_truncated, mrz.issuing_state)
                  if mrz.birth_date else None)
        return cls(document=(mrz.issuing_state, mrz.document_number), person=person)

    @functools.cached_property
    def lookalikes(self) -> tuple[str, ...]:
        """Other numbers a misread of the document number could hide a listed one behind, every check digit
        passing (agent.mrz.checkdigit.lookalike_numbers, as the centre's online lookup derives them); a listed
        one is a possible match, REFER (docs/config.md "Reasons"). Made once, when a source first asks."""
        return lookalike_numbers(self.document[1]) if self.document is not None else ()

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds of identifier asked about: 'document', 'person', 'vehicle'."""
        return frozenset(k for k, v in (("document", self.document), ("person", self.person),
                                        ("vehicle", self.vin or self.plate)) if v)


@dataclass(frozen=True)
class SourceAnswer:
    """What one source answered about one read, and what its policy decided about that answer."""

    source: str  # the list id ("sltd", "nominal", ...); another source names itself (e.g. "central")
    version: int = 0  # the list version that answered (0: none)
    hits: tuple[Hit, ...] = ()  # what matched (exact and weak)
    decided: str = CLEAR  # CLEAR | HIT | REFER, by the source's policy
    reasons: tuple[str, ...] = ()  # why (machine words, docs/config.md "Reasons")
    stale: bool = False  # the source's freshness had lapsed
    acknowledge: bool = False  # an officer must acknowledge this answer on the screen
    answered: bool = True  # False: the source could not answer (unavailable, late, unreachable)
    state: str = ""  # a remote source (the centre's online answer): "answered", "late" or "unreachable"
    consulted: tuple[tuple[str, int], ...] = ()  # a remote source: every (list id, version) it answered from

    @property
    def remote(self) -> bool:
        """An answer from outside the gate (the centre's online query), not one of the gate's own sources."""
        return bool(self.state)

    @property
    def match(self) -> Hit | None:
        """The strongest match: the first exact one, else the first weak one, else None."""
        return strongest(self.hits)

    def to_wire(self) -> dict[str, object]:
        """The answer as an event records it in clear (``sources`` of docs/config.md "Decision events"): which
        source, which version, what it decided; never what matched (``match_wire``, sealed)."""
        out: dict[str, object] = {"list": self.source, "version": self.version, "decided": self.decided,
                                  "stale": self.stale, "answered": self.answered}
        if self.acknowledge:
            out["acknowledge"] = True
        return out

    def match_wire(self) -> dict[str, object] | None:
        """What matched in this source (``matches`` of an event: personal, sealed), or None."""
        match = self.match
        if match is None:
            return None
        return {"list": self.source, "kind": match.kind, "reason": match.reason, "ref": match.ref,
                "strength": match.strength}


def strongest(hits: Iterable[Hit]) -> Hit | None:
    """The first exact hit of ``hits``, else the first weak one, else None."""
    hits = list(hits)
    return next((h for h in hits if h.strength != "weak"), hits[0] if hits else None)


def weak_reasons(hits: Iterable[Hit]) -> list[str]:
    """The reasons for weak ``hits``: ``possible_KIND_match:REASON``, each followed by the hit's ``basis`` when it has
    one (``birth_date_transposed``, ``birth_date_partial``: the officer learns what matched). One rule for the lists, early warnings and the
    centre's answer (docs/config.md "Reasons")."""
    return [reason for h in hits for reason in (f"possible_{h.kind}_match:{h.reason}", h.basis) if reason]


class Source(Protocol):
    """Anything that answers a ``Query`` (a local list, the centre, early warnings)."""

    @property
    def name(self) -> str:
        """The source's name in answers (a list id)."""

    def ask(self, query: Query | None, *, now: float, rules: ScreeningConfig) -> SourceAnswer:
        """This source's answer about ``query`` at trusted time ``now`` (None: an unreadable read: only the
        source's own state counts, no lookups). Never raises for a source that cannot answer: says so."""


def _rank(reason: str) -> int:
    if reason == UNAVAILABLE:
        return 0
    if reason.startswith("listed_"):
        return 1
    if reason.startswith("possible_"):
        return 2
    return 3 if reason == STALE else 4


def combine(checks: Iterable[str], answers: Sequence[SourceAnswer]) -> tuple[str, tuple[str, ...]]:
    """(verdict, reasons) from the document's own check ``reasons`` and every source's answer (module docstring)."""
    checks = tuple(checks)
    verdict = (HIT if any(a.decided == HIT for a in answers)
               else REFER if checks or any(a.decided == REFER for a in answers) else CLEAR)
    found = sorted({r: None for a in answers for r in a.reasons}, key=_rank)  # stable: first seen first
    if verdict == HIT:
        found = [r for r in found if r != STALE]
    return verdict, tuple(dict.fromkeys((*checks, *found)))


class ListSource:
    """One local hit-list judged by its own policy (a ``HitListConfig``: governs, on_match, on_weak, on_stale).

    ``expected_id`` is the list id the config names (None: any verified list); a list that is missing,
    unreadable or of another id decides REFER for every read it governs, unless the gate is a lab gate
    (RELIABILITY 45)."""

    def __init__(self, hitlist: HitList, policy: HitListConfig, *, expected_id: str | None = None) -> None:
        self.hitlist, self.policy = hitlist, policy
        self.expected_id = expected_id if expected_id is not None else policy.list_id
        self.governs = frozenset(policy.governs)

    @property
    def name(self) -> str:
        """The configured list id (or the installed one, or "hitlist")."""
        return self.expected_id or _installed_id(self.hitlist) or "hitlist"

    def problem_reason(self, rules: ScreeningConfig) -> tuple[str, str] | None:
        """(reason, detail) when no decision this list governs may be CLEAR for want of it, or None."""
        if rules.lab_gate:
            return None
        problem = list_problem(self.hitlist, self.expected_id)
        return None if problem is None else (problem.reason, problem.detail)

    def state(self, now: float) -> tuple[int, bool, bool]:
        """(version, stale, readable) of the list; a list that cannot say counts as stale and unreadable."""
        try:
            return self.hitlist.version, self.hitlist.is_stale(now), True
        except (OSError, ValueError) as exc:
            logger.error("hit-list state unreadable", extra={"fields": {"list": self.name,
                                                                         "error": type(exc).__name__}})
            return 0, True, False

    def ask(self, query: Query | None, *, now: float, rules: ScreeningConfig) -> SourceAnswer:
        """Look ``query``'s identifiers up (the kinds this list governs) and judge them by the list's policy."""
        version, stale, readable = self.state(now)
        reasons: list[str] = [] if readable else [UNAVAILABLE]
        problem = self.problem_reason(rules)
        if query is None:  # an unreadable read: only the list's problem counts
            return self._answer(version, stale, (), [problem[0]] if problem else [], refer=problem is not None)
        asked = query.kinds & self.governs
        if not asked:
            return SourceAnswer(self.name, version, stale=stale)
        hits: list[Hit] = []
        for lookup in self._lookups(query, asked):
            try:
                hit = lookup()
            except (OSError, ValueError) as exc:  # a list that cannot answer must not let anyone through
                logger.error("hit-list lookup failed", extra={"fields": {"list": self.name,
                                                                         "error": type(exc).__name__}})
                reasons.append(UNAVAILABLE)
                continue
            if hit is not None:
                hits.append(hit)
        exact = [h for h in hits if h.strength != "weak"]
        weak = [h for h in hits if h.strength == "weak"]
        reasons += [f"listed_{h.kind}:{h.reason}" for h in exact]
        if self.policy.on_weak == "refer":
            reasons += weak_reasons(weak)
        stale_policy = rules.stale_policy if self.policy.on_stale == "screening" else self.policy.on_stale
        if stale and not exact and stale_policy == "refer":
            reasons.append(STALE)
        if problem is not None:
            reasons.append(problem[0])
        decided = HIT if exact and self.policy.on_match == "hit" else REFER if reasons else CLEAR
        matched = bool(exact or (weak and self.policy.on_weak == "refer"))
        return SourceAnswer(self.name, version, tuple(hits), decided, tuple(dict.fromkeys(reasons)), stale,
                            acknowledge=matched and self.policy.acknowledge, answered=readable)

    def _answer(self, version: int, stale: bool, hits: tuple[Hit, ...], reasons: list[str], *,
                refer: bool) -> SourceAnswer:
        return SourceAnswer(self.name, version, hits, REFER if refer else CLEAR, tuple(reasons), stale)

    def _lookups(self, query: Query, kinds: frozenset[str]) -> list[Callable[[], Hit | None]]:
        hl = self.hitlist
        out: list[Callable[[], Hit | None]] = []
        if "document" in kinds and query.document is not None:
            state, number = query.document
            out.append(lambda: hl.lookup_document(state, number))
            out.append(lambda: lookalike_hit(hl, state, query.lookalikes))
        if "person" in kinds and query.person is not None:
            p = query.person
            out.append(lambda: hl.lookup_person(p.surname, p.given_names, p.birth_date, truncated=p.truncated,
                                                issuing_state=p.issuing_state))
        if "vehicle" in kinds and query.vin is not None:
            vin = query.vin
            out.append(lambda: _lookup_optional(hl, "lookup_vehicle", vin))
        if "vehicle" in kinds and query.plate is not None:
            country, plate = query.plate
            out.append(lambda: _lookup_optional(hl, "lookup_plate", country, plate))
        return out


def lookalike_hit(hitlist: HitList, state: str, numbers: Sequence[str]) -> Hit | None:
    """A weak hit for the first of ``numbers`` listed (a misread the check digits cannot catch), or None; the
    centre's online lookup asks the same (tools/central/online.py)."""
    for number in numbers:
        hit = hitlist.lookup_document(state, number)
        if hit is not None:
            return Hit(hit.kind, hit.reason, hit.ref, strength="weak")
    return None


def _lookup_optional(hitlist: HitList, method: str, *args: str) -> Hit | None:
    """A lookup a list may not offer (an ``AbsentHitList`` has no vehicles): no method, no hit."""
    lookup = getattr(hitlist, method, None)
    return lookup(*args) if lookup is not None else None


def _installed_id(hitlist: HitList) -> str | None:
    try:
        return hitlist.list_id
    except (OSError, ValueError):
        return None
