"""The online query (FIND) beside the local lists (MIND): one more source for a decision.

    asked = ask_centre(centre, Query.from_mrz(mrz))   # published at once, before the local lookups
    decision = decide(mrz, ...)                        # the local lists answer meanwhile
    decision = with_centre(decision, asked.wait_until(deadline_at), asked.state)

The centre's answer is a ``SourceAnswer`` like a list's (``centre_answer``: a *remote* one, with its state and
the list versions it answered from), combined with the others in the one place answers are combined
(``agent.screening.sources.combine``, docs/online-query.md): an exact hit from the centre decides HIT
(reasons ``listed_<kind>:<reason>`` and ``online_hit``), so a hit from either source is a HIT and a local HIT
stays a HIT whatever the centre says; a weak match from the centre decides REFER at most
(``possible_<kind>_match:<reason>``, and the hit's basis: ``birth_date_transposed``, ``birth_date_partial``); the centre's silence (offline, late past the deadline) decides nothing
and leaves the local answer standing. Pure: no I/O beyond ``centre.start``.
"""

from __future__ import annotations

from typing import Any, Protocol

from agent.hitlist.api import Hit
from agent.link.query import ANSWERED, CentreAnswer, Pending
from agent.screening.decision import Decision
from agent.screening.sources import HIT, REFER, Query, SourceAnswer, weak_reasons

CENTRE = "centre"  # the centre's answer's ``source``


class Centre(Protocol):
    """What screening needs from the link's online queries (agent.link.query.OnlineQueries)."""

    def start(self, fields: dict[str, Any]) -> Pending:
        """Publish a query and return at once."""


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


def centre_answer(answer: CentreAnswer | None, state: str) -> SourceAnswer:
    """The centre's part in a decision as a source's answer (module docstring): what it decided, why, and
    ``state`` ("answered", "late", "unreachable": ``Pending.state`` once waited for)."""
    if answer is None:
        return SourceAnswer(CENTRE, answered=False, state=state)
    if not answer.hit:
        return SourceAnswer(CENTRE, state=ANSWERED, consulted=answer.lists)
    hit = Hit(answer.kind or "document", answer.reason, answer.ref, answer.strength, answer.basis)
    reasons: tuple[str, ...]
    if hit.strength == "weak":
        decided, reasons = REFER, tuple(weak_reasons([hit]))
    else:
        decided, reasons = HIT, (f"listed_{hit.kind}:{hit.reason}", "online_hit")
    return SourceAnswer(CENTRE, hits=(hit,), decided=decided, reasons=reasons, state=ANSWERED,
                        consulted=answer.lists)


def with_centre(decision: Decision, answer: CentreAnswer | None, state: str) -> Decision:
    """``decision`` with the centre's answer (or its silence, ``state``) combined in (module docstring)."""
    return decision.with_answer(centre_answer(answer, state))
