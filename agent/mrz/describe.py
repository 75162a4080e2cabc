"""Plain-text report of one parsed MRZ, for the command line and the demo."""

from __future__ import annotations

import datetime

from agent.mrz.result import MrzResult

_KINDS = {
    "P": "passport",
    "V": "visa",
    "I": "identity card",
    "A": "official document",
    "C": "official document",
}


def describe(result: MrzResult, today: datetime.date) -> str:
    """A few aligned lines a technician can read at a glance: verdict, fields, dates, checks, repairs."""
    kind = _KINDS.get(result.document_code[:1], "document")
    layout = "French 1995-layout" if result.layout == "FRA_1995" else result.format
    verdict = "VALID" if result.valid else "INVALID"
    birth = result.birth_date_value()
    expiry = result.expiry_date_value()
    expired = result.is_expired(today)
    expiry_text = result.expiry_date or "not printed"
    if expiry is not None:
        derived = "derived " if not result.expiry_date else ""
        expiry_text += f" ({derived}{expiry.isoformat()}, {'EXPIRED' if expired else 'not expired'})"
    else:
        expiry_text += " (not a date: treated as expired)"
    rows = [
        ("document", f"{kind} {result.document_code!s} issued by {result.issuing_state or '?'}"),
        ("number", result.document_number or "-"),
        ("surname", result.surname + ("  [name truncated]" if result.name_truncated else "")),
        ("given names", result.given_names or "-"),
        ("nationality", result.nationality or "-"),
        (
            "birth date",
            result.birth_date + (f" ({birth.isoformat()})" if birth else " (unknown or not a date)"),
        ),
        ("sex", result.sex or "unspecified"),
        ("expiry date", expiry_text),
        ("optional data", " / ".join(x for x in (result.optional_data, result.optional_data_2) if x) or "-"),
        ("failed checks", ", ".join(result.failed_checks) + " (as read)" if result.failed_checks else "none"),
    ]
    rows += [("corrected", c) for c in result.corrections]
    head = f"{layout} {kind}: {verdict}"
    if result.failed_checks and result.valid:
        head += " after OCR repair"
    return "\n".join([head] + [f"  {k:<14} {v}" for k, v in rows]) + "\n"
