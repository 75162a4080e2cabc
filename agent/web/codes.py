"""The stored codes the pages show, each with the English msgid of its short label: the one place that maps a
code to words, for the officer's screen and the operators' console alike.

    >>> label(str, FAULTS, "reader"), label(str, FAULTS, "hitlist:sltd"), label(str, FAULTS, "sonar")
    ('Document reader', 'Hit-list: sltd', 'sonar')
    >>> label(str, FAULT_KINDS, "bus gone: [Errno 19] No such device")
    'I2C bus lost: [Errno 19] No such device'

Gates, the store, the CSV export and the audit log keep the codes; only the pages show the words, in the
reader's language (``gettext`` of the msgid). A code that no table knows (from a newer gate, say) is shown as
stored, never an error. A code ``head:tail`` (``hitlist:sltd``, ``listed_document:stolen``) is shown as the
label of its head, then its tail (translated when the same table knows it: a reason's sub-reason; else as it
is: a list id, which the centre names, or the rest of a fault's detail). ``tools.catalogues`` checks that every msgid here is translated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from markupsafe import Markup, escape

# Reason codes of agent/screening/decision.py (and docs/config.md) and of the lists' entries.
REASONS = {
    "listed_document": "Listed document", "listed_person": "Listed person", "listed_vehicle": "Listed vehicle",
    "possible_person_match": "Possible match with a listed person",
    "possible_document_match": "Possible match with a listed document",
    "possible_vehicle_match": "Possible match with a listed vehicle",
    "birth_date_transposed": "Birth date matches only with day and month swapped",
    "birth_date_partial": "Birth date matches only the year (or year and month) listed",
    "check_digit": "Check digit wrong", "vin_check_digit": "VIN check digit wrong", "expired": "Document expired",
    "expiry_unreadable": "Expiry date unreadable",
    "document_code_refused": "Document type not accepted here", "issuing_state_refused": "Issuing state refused",
    "issuing_state_not_accepted": "Issuing state not accepted", "list_stale": "Hit-list out of date",
    "hitlist_unavailable": "Hit-list unavailable", "hitlist_missing": "No hit-list installed",
    "hitlist_unreadable": "Hit-list unreadable", "hitlist_wrong_id": "Wrong hit-list installed",
    "unreadable": "Document unreadable", "indicator_fault": "Indicator fault",
    "event_log_unavailable": "Event log unavailable", "online_hit": "Hit from the centre's online check",
    "stolen": "stolen", "lost": "lost", "revoked": "revoked", "invalidated": "invalidated", "wanted": "wanted",
    # the check that failed (agent/mrz: failed_checks, the tail of ``check_digit:NAME``)
    "document_number": "document number", "birth_date": "birth date", "expiry_date": "expiry date",
    "optional_data": "personal number or optional data", "composite": "overall check digit",
}
# What a decision other than a HIT was made without (agent/screen/model.py ``Shown.qualifiers``).
QUALIFIERS = {
    "list_stale": "Hit-list out of date: this decision is only as good as the list",
    "centre_unreachable": "Centre not reached: only the gate's own lists were checked",
    "centre_late": "Centre did not answer in time: only the gate's own lists were checked",
}
# What the officer does next about a REFER, by each of its reasons and qualifiers: a code's own entry, else its head's
# (``check_digit:birth_date`` -> ``check_digit``; ``next_steps``). Short and operational: a step, not an explanation.
_KEY_MRZ = "Check the document by hand and key its MRZ in"
_SECOND_LINE = "Refer the traveller to the second-line officer"
_LIST_UNUSABLE = "Ask the centre to check the traveller; tell the supervisor the list is not usable"
_ONLINE = "Ask the centre to check the traveller against its online lists"
NEXT_STEPS = {
    "check_digit": _KEY_MRZ, "unreadable": _KEY_MRZ, "expiry_unreadable": _KEY_MRZ,
    "vin_check_digit": "Read the VIN on the vehicle and key it in",
    "expired": "Check the expiry date on the document; if it has passed, refer the traveller to the second-line officer",
    "document_code_refused": _SECOND_LINE, "issuing_state_refused": _SECOND_LINE,
    "issuing_state_not_accepted": _SECOND_LINE,
    "listed_document": _SECOND_LINE, "listed_person": _SECOND_LINE, "listed_vehicle": _SECOND_LINE,
    "possible_person_match": "Compare the traveller with the hit record; if in doubt, refer to the second-line officer",
    "possible_person_match:normaliser_mismatch": "This list cannot be searched by name here: ask the centre to check "
                                                 "the name",
    "birth_date_transposed": "Compare the birth date on the document with the hit record's, day and month swapped",
    "birth_date_partial": "The hit record knows only part of the birth date: compare the traveller with its other "
                          "details; if in doubt, refer to the second-line officer",
    "possible_document_match": "Read the document number on the document and compare it with the hit record",
    "possible_vehicle_match": "Compare the vehicle's VIN and plate with the hit record",
    "list_stale": "Ask the centre to check the traveller; tell the supervisor the list is out of date",
    "hitlist_missing": _LIST_UNUSABLE, "hitlist_unreadable": _LIST_UNUSABLE, "hitlist_wrong_id": _LIST_UNUSABLE,
    "hitlist_unavailable": _LIST_UNUSABLE, "centre_unreachable": _ONLINE, "centre_late": _ONLINE,
    "indicator_fault": "Go by this screen, not the lights or the barrier; tell the supervisor of the fault",
    "event_log_unavailable": "This decision was not recorded: note it by hand and tell the supervisor",
}
# A hit's outcome (agent/screen/actions.py OUTCOMES, tools/central/console/records.py OUTCOMES).
OUTCOMES = {"intercepted": "Intercepted", "false_match": "False match", "released": "Released"}
# The parts a gate's status names under ``faults`` (agent/app.py GateApp.status, agent/screening/pipeline.py
# set_fault); the value is the part's own detail text, shown as it is.
FAULTS = {
    "reader": "Document reader", "indicators": "Indicator lights", "outbox": "Event outbox",
    "outbox_space": "Disk space for events", "outbox_recovered": "Event outbox moved aside and recreated",
    "camera": "Camera", "vision": "Face search", "screen": "Officer's screen", "plate_reader": "Plate reader",
    "hitlist": "Hit-list",
}
# What the officer's screen says of the gate beside its devices (agent/screen/__init__.py ``gate_states``).
GATE_STATES = {
    "link_down": "No link to the centre: events wait on the gate",
    "online_unavailable": "Online checks with the centre unavailable: only the gate's own lists are checked",
    "outbox_backlog": "Events not yet delivered to the centre",
    "time_leap_pending": "A jump of the gate's time is held until the centre confirms it",
    "wall_clock_behind": "The gate's wall clock is behind the trusted time",
    "wall_clock_ahead": "The gate's wall clock is ahead of the trusted time",
    "wall_clock_unverified": ("The gate's time is not yet confirmed by the centre: document expiry and list "
                              "freshness go by its own clock"),
}
# The kind that opens a part's detail text (``kind: the error``): hal/reader (``absent``), hal/indicators/bus.py
# ``describe_fault``, agent/outbox.py ``SpaceReserve.fault``; the rest of the detail is shown as the part wrote it.
FAULT_KINDS = {"absent": "not connected", "nack": "a chip does not answer", "bus gone": "I2C bus lost",
               "i2c": "I2C error", "disk full": "disk full"}
# What a gate's link raises under ``alarms`` (agent/link/gate.py).
ALARMS = {"outbox": "Event outbox unreadable", "outbox_dropped": "Routine events dropped (outbox full)",
          "publish_refused": "The broker refused a publication"}
# Signed commands (agent/protocol/commands.py OPS) and the reason a gate reports on cmd/result
# (CommandRejected.reason, agent/link/commands.py).
COMMANDS = {
    "set_policy": "Change the screening policy", "pulse_relay": "Pulse the barrier relay",
    "request_status": "Ask for its status", "hitlist_resync": "Fetch the hit-list again", "rebirth": "Reconnect",
    "rotate_device_key": "Rotate the device key", "wipe": "Wipe the gate", "update": "Install a software update",
}
COMMAND_RESULTS = {
    "ok": "done", "failed": "failed on the gate", "unsigned": "signature not valid", "malformed": "malformed",
    "wrong_gate": "addressed to another gate", "expired": "expired", "future": "issued time implausible",
    "replay": "replayed or out of order", "unknown_op": "operation unknown to the gate",
    "threshold": "needs a second key holder", "id": "identifier not valid", "op": "operation not valid",
    "not_after": "expiry not valid",
}
# A list's policy (agent/config.py HitListConfig.policy): what it governs, and its words for a match, a weak match, staleness.
LIST_KINDS = {"document": "documents", "person": "persons", "vehicle": "vehicles"}
POLICY_WORDS = {"hit": "HIT", "refer": "REFER", "ignore": "ignore", "screening": "as the gate's rule for a stale list",
                "clear-flag": "decide, flag the events"}
STRENGTHS = {"exact": "exact match", "weak": "weak match"}
TABLES: tuple[dict[str, str], ...] = (REASONS, QUALIFIERS, NEXT_STEPS, OUTCOMES, FAULTS, GATE_STATES, FAULT_KINDS, ALARMS, COMMANDS, COMMAND_RESULTS, LIST_KINDS,
                                      POLICY_WORDS, STRENGTHS)


def label(gettext: Callable[[str], str], table: dict[str, str], code: object) -> str:
    """The words for ``code`` in ``table`` through ``gettext``; an unknown code as stored (see the module
    docstring for ``head:tail``)."""
    code = "" if code is None else str(code)
    if code in table:
        return gettext(table[code])
    head, sep, tail = code.partition(":")
    if not sep or head not in table:
        return code
    tail = tail.strip()
    if not tail:
        return gettext(table[head])
    return f"{gettext(table[head])}: {gettext(table[tail]) if tail in table else tail}"


def coded(gettext: Callable[[str], str], table: dict[str, str], code: object, cls: str = "code") -> Markup:
    """``label`` in a ``<span>`` that keeps the stored code visible to support (its ``title`` and ``data-code``)."""
    code = "" if code is None else str(code)
    return Markup('<span class="{}" data-code="{}" title="{}">{}</span>').format(
        cls, code, code, escape(label(gettext, table, code)))


def next_steps(gettext: Callable[[str], str], codes: Iterable[str]) -> list[str]:
    """What to do next for a decision's reason and qualifier ``codes`` (``NEXT_STEPS``: a code's own entry, else its
    head's), through ``gettext``, each step once, in the order of the codes; a code without a step adds none."""
    steps: dict[str, None] = {}
    for code in codes:
        step = NEXT_STEPS.get(code) or NEXT_STEPS.get(code.partition(":")[0])
        if step is not None:
            steps[gettext(step)] = None
    return list(steps)
