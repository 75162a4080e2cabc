"""The decision for one read: pure, no I/O but the hit-list lookups.

    >>> decide(mrz, rules=cfg.screening, sources=[ListSource(hl, cfg.hitlist)], today=date(2026, 11, 23),
    ...        now=trusted.now())
    Decision(verdict='CLEAR', reasons=(), ...)

Precedence: a match that a source's policy makes a HIT (an exact match in a list with ``on_match =
"hit"``) is a HIT whatever else is wrong with the document; any failed check, refused document or state,
weak (possible) match, a match in a list whose policy refers, or by policy a stale or missing list is a
REFER; otherwise CLEAR. Several sources are combined in one place, ``agent.screening.sources.combine``.
Reasons are short machine words (docs/config.md lists them) so the officer's screen and the central
node can translate them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agent.config import HitListConfig, ScreeningConfig
from agent.hitlist.api import Hit, HitList
from agent.screening.sources import (
    CLEAR,
    HIT,
    REFER,
    ListSource,
    Query,
    Source,
    SourceAnswer,
    combine,
    strongest,
)

if TYPE_CHECKING:
    from agent.mrz import MrzResult

logger = logging.getLogger(__name__)

__all__ = ["CLEAR", "HIT", "REFER", "Decision", "decide", "decide_query", "unreadable"]


@dataclass(frozen=True)
class Decision:
    """What the gate decided about one read, and why."""

    verdict: str  # CLEAR | HIT | REFER
    reasons: tuple[str, ...] = ()
    mrz: MrzResult | None = None
    hit: Hit | None = None
    list_version: int = 0
    list_stale: bool = False
    detail: str = ""  # why a read was unreadable (may quote the read: keep out of INFO logs)
    answers: tuple[SourceAnswer, ...] = ()  # what each source answered, the centre's (remote) answer last
    query: Query | None = None  # what was asked (a vehicle or a hand-entered person has no ``mrz``)
    checks: tuple[str, ...] = ()  # the reasons the read itself gave (check digits, expiry...), before any source
    # the online query's outcome: "" (not asked), "answered", "late" (past the deadline) or "unreachable"
    centre: str = ""

    @property
    def acknowledge(self) -> bool:
        """An officer must acknowledge this decision on the screen (a list's policy asks for it)."""
        return any(a.acknowledge for a in self.answers)

    @property
    def local_hit(self) -> Hit | None:
        """The strongest match of the gate's own sources (the centre's answer left out)."""
        return strongest(h for a in self.answers if not a.remote for h in a.hits)

    def with_answer(self, answer: SourceAnswer) -> Decision:
        """This decision with one more source's ``answer`` (the centre's, which comes last) combined in the one
        place answers are combined (``agent.screening.sources.combine``)."""
        every = (*self.answers, answer)
        verdict, reasons = combine(self.checks, every)
        return replace(self, verdict=verdict, reasons=reasons, hit=strongest(h for a in every for h in a.hits),
                       answers=every, centre=answer.state or self.centre)

    def refer(self, reason: str) -> Decision:
        """This decision downgraded to REFER for ``reason`` (a HIT stays a HIT, with the reason added)."""
        verdict = HIT if self.verdict == HIT else REFER
        return replace(self, verdict=verdict, reasons=(*self.reasons, reason))


def unreadable(detail: str, *, list_version: int = 0, list_stale: bool = False,
               answers: tuple[SourceAnswer, ...] = ()) -> Decision:
    """REFER for a read that is not a document: the officer must look at it (``answers``: the lists' states,
    a list's problem adds its reason)."""
    _, reasons = combine(("unreadable",), answers)
    return Decision(REFER, reasons, list_version=list_version, list_stale=list_stale, detail=detail,
                    answers=answers, checks=("unreadable",))


def document_checks(mrz: MrzResult, rules: ScreeningConfig, today: dt.date) -> list[str]:
    """Why the document itself must be referred (check digits, expiry, code, issuing state); [] when fine."""
    reasons: list[str] = []
    if not mrz.valid:
        reasons.extend(f"check_digit:{name}" for name in mrz.failed_checks or ("unknown",))
    expiry = mrz.expiry_date_value()
    if expiry is None:
        reasons.append("expiry_unreadable")
    elif rules.expiry_policy == "refer" and today > expiry + dt.timedelta(days=rules.expiry_grace_days):
        reasons.append("expired")
    code = mrz.document_code
    if code not in rules.accepted_document_codes and code[:1] not in rules.accepted_document_codes:
        reasons.append("document_code_refused")
    state = mrz.issuing_state
    if state in rules.refused_issuing_states:
        reasons.append("issuing_state_refused")
    elif rules.accepted_issuing_states and state not in rules.accepted_issuing_states:
        reasons.append("issuing_state_not_accepted")
    return reasons


def decide(
    mrz: MrzResult, *, rules: ScreeningConfig, today: dt.date, now: float,
    sources: Sequence[Source] | None = None, hitlist: HitList | None = None,
    answers: Sequence[SourceAnswer] = (),
) -> Decision:
    """Check ``mrz`` against the site ``rules`` and every source (``sources``; or one ``hitlist`` under the
    default policy) as of ``today`` / ``now``, both the gate's trusted time (agent/protocol/trusted_time.py),
    never the wall clock. ``answers``: answers already obtained from other sources (e.g. the centre's)."""
    return decide_query(Query.from_mrz(mrz), document_checks(mrz, rules, today), rules=rules, now=now,
                        sources=_sources(sources, hitlist), answers=answers, mrz=mrz)


def decide_query(
    query: Query, checks: Sequence[str] = (), *, rules: ScreeningConfig, now: float, sources: Sequence[Source],
    answers: Sequence[SourceAnswer] = (), mrz: MrzResult | None = None,
) -> Decision:
    """The decision about ``query`` (a read document, or an officer's entry: a VIN, a plate, a person) given the
    ``checks`` reasons already found: every source is asked, and the answers combined in one place."""
    every = (*(s.ask(query, now=now, rules=rules) for s in sources), *answers)
    verdict, reasons = combine(checks, every)
    first = every[0] if every else None
    return Decision(verdict, reasons, mrz=mrz, hit=strongest(h for a in every for h in a.hits),
                    list_version=first.version if first else 0, list_stale=first.stale if first else False,
                    answers=every, query=query, checks=tuple(checks))


def _sources(sources: Sequence[Source] | None, hitlist: HitList | None) -> Sequence[Source]:
    if sources is not None:
        return sources
    if hitlist is None:
        raise TypeError("decide: give sources= (or one hitlist=)")
    return [ListSource(hitlist, HitListConfig())]
