"""The decision for one read: pure, no I/O but the hit-list lookups.

    >>> decide(mrz, rules=cfg.screening, hitlist=hl, today=date(2026, 11, 23), now=trusted.now())
    Decision(verdict='CLEAR', reasons=(), ...)

Precedence: an exact hit-list match is a HIT whatever else is wrong with the document; any failed
check, refused document or state, weak (possible) match or, by policy, a stale list is a REFER;
otherwise CLEAR. Reasons are short machine words (docs/config.md lists them) so the officer's
screen and the central node can translate them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from agent.config import ScreeningConfig
from agent.hitlist.api import Hit, HitList

if TYPE_CHECKING:
    from agent.mrz import MrzResult

logger = logging.getLogger(__name__)

CLEAR = "CLEAR"
HIT = "HIT"
REFER = "REFER"


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
    # every source that answered (agent.screening.online.SourceAnswer), and the online query's outcome:
    # "" (not asked), "answered", "late" (past the deadline) or "unreachable"
    sources: tuple[Any, ...] = ()
    centre: str = ""

    def refer(self, reason: str) -> Decision:
        """This decision downgraded to REFER for ``reason`` (a HIT stays a HIT, with the reason added)."""
        verdict = HIT if self.verdict == HIT else REFER
        return replace(self, verdict=verdict, reasons=(*self.reasons, reason))


def unreadable(detail: str, *, list_version: int = 0, list_stale: bool = False) -> Decision:
    """REFER for a read that is not a document: the officer must look at it."""
    return Decision(REFER, ("unreadable",), list_version=list_version, list_stale=list_stale, detail=detail)


def decide(
    mrz: MrzResult, *, rules: ScreeningConfig, hitlist: HitList, today: dt.date, now: float
) -> Decision:
    """Check ``mrz`` against the site ``rules`` and ``hitlist`` as of ``today`` / ``now``, both the gate's
    trusted time (agent/protocol/trusted_time.py), never the wall clock."""
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

    hits: list[Hit] = []
    version, stale = _list_state(hitlist, now, reasons)
    lookups: tuple[Callable[[], Hit | None], ...] = (
        lambda: hitlist.lookup_document(mrz.issuing_state, mrz.document_number),
        lambda: hitlist.lookup_person(mrz.surname, mrz.given_names, mrz.birth_date, truncated=mrz.name_truncated),
    )
    for lookup in lookups:
        try:
            hit = lookup()
        except (OSError, ValueError) as exc:  # a list that cannot answer must not let anyone through
            logger.error("hit-list lookup failed", extra={"fields": {"error": type(exc).__name__}})
            if "hitlist_unavailable" not in reasons:
                reasons.append("hitlist_unavailable")
            continue
        if hit is not None:
            hits.append(hit)

    exact = [h for h in hits if h.strength != "weak"]
    for h in exact:
        reasons.append(f"listed_{h.kind}:{h.reason}")
    for h in hits:
        if h.strength == "weak":
            reasons.append(f"possible_{h.kind}_match:{h.reason}")
    if stale and not exact and rules.stale_policy == "refer":
        reasons.append("list_stale")
    verdict = HIT if exact else REFER if reasons else CLEAR
    first = exact[0] if exact else hits[0] if hits else None
    return Decision(verdict, tuple(reasons), mrz=mrz, hit=first, list_version=version, list_stale=stale)


def _list_state(hitlist: HitList, now: float, reasons: list[str]) -> tuple[int, bool]:
    """(version, stale) of the list; a list that cannot say counts as stale and unavailable."""
    try:
        return hitlist.version, hitlist.is_stale(now)
    except (OSError, ValueError) as exc:
        logger.error("hit-list state unreadable", extra={"fields": {"error": type(exc).__name__}})
        reasons.append("hitlist_unavailable")
        return 0, True
