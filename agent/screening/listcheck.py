"""Whether the gate holds a list it may screen against (RELIABILITY 45, docs/config.md).

    >>> problem = list_problem(hitlist, expected_id="uto")
    ListProblem(reason='hitlist_wrong_id', detail="installed list 'other' is not the configured 'uto'")

Without an installed, verified list of the configured id the gate decides REFER, never CLEAR: the
screener adds ``problem.reason`` to every decision and shows ``problem.detail`` as the ``hitlist``
fault in status and in each event, unless the config makes the gate a lab gate
(``[screening] lab_gate = true``). ``AbsentHitList`` stands in for a list that is not configured or
could not be opened, so that the gate still starts, screens and says why it refers.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.hitlist.api import Hit, HitList

HITLIST_MISSING = "hitlist_missing"
HITLIST_UNREADABLE = "hitlist_unreadable"
HITLIST_WRONG_ID = "hitlist_wrong_id"


@dataclass(frozen=True)
class ListProblem:
    """Why the list in force cannot be screened against: a reason code for the decision, a detail for people."""

    reason: str  # HITLIST_MISSING | HITLIST_UNREADABLE | HITLIST_WRONG_ID
    detail: str


class AbsentHitList:
    """A hit-list that is not there: every lookup misses, ``problem`` says why (no list configured,
    a store that could not be opened). Implements ``agent.hitlist.api.HitList``."""

    def __init__(self, problem: ListProblem) -> None:
        self.problem = problem

    @property
    def version(self) -> int:
        """No list: version 0."""
        return 0

    @property
    def list_id(self) -> None:
        """No list: no id."""
        return None

    def is_stale(self, now: float) -> bool:
        """Never stale: the decision is already REFER for the missing list."""
        return False

    def lookup_document(self, issuing_state: str, document_number: str) -> Hit | None:
        """No list, no hit."""
        return None

    def lookup_person(
        self, surname: str, given_names: str, birth_date: str, *, truncated: bool = False, issuing_state: str = ""
    ) -> Hit | None:
        """No list, no hit."""
        return None


def list_problem(hitlist: HitList, expected_id: str | None) -> ListProblem | None:
    """What keeps ``hitlist`` from being the verified list of ``expected_id`` (None: any id), or None."""
    if isinstance(hitlist, AbsentHitList):
        return hitlist.problem
    try:
        installed = hitlist.list_id
    except (OSError, ValueError) as exc:
        return ListProblem(HITLIST_UNREADABLE, f"hit-list unreadable: {exc}")
    if installed is None:
        wanted = f" (expected list {expected_id!r})" if expected_id else ""
        return ListProblem(HITLIST_MISSING, f"no hit-list installed{wanted}")
    if expected_id is not None and installed != expected_id:
        return ListProblem(HITLIST_WRONG_ID, f"installed list {installed!r} is not the configured {expected_id!r}")
    return None
