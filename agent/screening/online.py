"""The online query (FIND) beside the local lists (MIND): one more source for a decision.

    asked = ask_centre(centre, Query.from_mrz(mrz))   # published at once, before the local lookups
    decision = decide(mrz, ...)                  # the local lists answer meanwhile
    decision = with_centre(decision, asked, asked.wait_until(deadline_at))

Precedence (docs/online-query.md): a hit from either source is a HIT (an exact hit from the centre turns
a local CLEAR or REFER into a HIT, and a local HIT stays a HIT whatever the centre says); a weak match from
the centre is a REFER at most; the centre's silence (offline, late past the deadline) leaves the local
answer standing. The decision records every source that answered, with the list versions it answered
from, and whether the centre answered, was late or unreachable. Pure: no I/O beyond ``centre.start``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from agent.hitlist.api import Hit
from agent.link.query import ANSWERED, CentreAnswer, Pending
from agent.screening.decision import HIT, REFER, Decision
from agent.screening.sources import Query


class Centre(Protocol):
    """What screening needs from the link's online queries (agent.link.query.OnlineQueries)."""

    def start(self, fields: dict[str, Any]) -> Pending:
        """Publish a query and return at once."""


@dataclass(frozen=True)
class SourceAnswer:
    """One source's part in a decision: ``local`` (the gate's lists) or ``centre`` (the online query)."""

    source: str  # "local" | "centre"
    state: str  # "answered" | "late" | "unreachable" (the local lists always answer)
    lists: tuple[tuple[str, int], ...] = ()  # (list id, version) the source answered from
    hit: Hit | None = None

    def as_event(self) -> dict[str, object]:
        """The event's ``sources`` entry, kept in clear: kind, reason and strength of a hit, never its
        reference (the decision's ``hit``, sealed, carries that)."""
        out: dict[str, object] = {"source": self.source, "state": self.state,
                                  "lists": [{"list_id": lid, "version": v} for lid, v in self.lists]}
        if self.hit is not None:
            out["hit"] = {"kind": self.hit.kind, "reason": self.hit.reason, "strength": self.hit.strength}
        return out


def query_fields(query: Query) -> dict[str, Any]:
    """What the centre is asked about ``query`` (the sealed part of the query, docs/protocol.md "query"): the
    document, the person, the VIN; a plate is not asked online."""
    out: dict[str, Any] = {}
    if query.document is not None:
        out["document"] = list(query.document)
    if query.person is not None:
        p = query.person
        out["person"] = [p.surname, p.given_names, p.birth_date, bool(p.truncated)]
    if query.vin is not None:
        out["vehicle"] = query.vin
    return out


def ask_centre(centre: Centre, query: Query) -> Pending | None:
    """Publish the query for ``query``; never blocks (an unreachable centre gives a Pending that answers None).
    None when ``query`` holds nothing the centre answers (a plate alone)."""
    fields = query_fields(query)
    return centre.start(fields) if fields else None


def local_source(decision: Decision, list_id: str | None) -> SourceAnswer:
    """The local lists' part in ``decision``."""
    return SourceAnswer("local", ANSWERED, ((list_id or "", decision.list_version),), decision.hit)


def with_centre(decision: Decision, pending: Pending, answer: CentreAnswer | None,
                list_id: str | None = None) -> Decision:
    """``decision`` with the centre's answer folded in (module docstring) and both sources recorded."""
    sources = (*decision.sources, *(() if decision.sources else (local_source(decision, list_id),)))
    if answer is None:
        centre = SourceAnswer("centre", pending.state)
        return replace(decision, sources=(*sources, centre), centre=pending.state)
    hit = Hit(answer.kind or "document", answer.reason, answer.ref, answer.strength) if answer.hit else None
    centre = SourceAnswer("centre", ANSWERED, answer.lists, hit)
    out = replace(decision, sources=(*sources, centre), centre=ANSWERED)
    if hit is None:
        return out
    local_exact = decision.verdict == HIT and decision.hit is not None and decision.hit.strength != "weak"
    if hit.strength == "weak":
        reason = f"possible_{hit.kind}_match:{hit.reason}"
        verdict = HIT if decision.verdict == HIT else REFER
        return replace(out, verdict=verdict, reasons=(*out.reasons, reason), hit=out.hit or hit)
    reason = f"listed_{hit.kind}:{hit.reason}"
    reasons = out.reasons if reason in out.reasons else (*out.reasons, reason)
    return replace(out, verdict=HIT, reasons=(*reasons, "online_hit"), hit=out.hit if local_exact else hit)

