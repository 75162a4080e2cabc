"""The fields of one parsed MRZ, and the century rules that turn its YYMMDD dates into real dates."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from agent.mrz.layouts import FRA_1995

#: The keys of ``sharaka-gate mrz parse --json`` (ARCHITECTURE.md), in output order.
JSON_KEYS = (
    "format", "document_code", "issuing_state", "surname", "given_names", "document_number", "nationality",
    "birth_date", "sex", "expiry_date", "optional_data", "optional_data_2", "valid", "failed_checks",
    "corrections",
)  # fmt: skip

#: Expiry dates are read in the window (today - 80 years, today + 20 years].
EXPIRY_YEARS_AHEAD = 20


def yymmdd(text: str, century: int) -> datetime.date | None:
    """The date ``century + YY``-MM-DD, or None when ``text`` is not a calendar date."""
    if len(text) != 6 or not text.isdigit():
        return None
    try:
        return datetime.date(century + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        return None


def birth_date_from(text: str, today: datetime.date) -> datetime.date | None:
    """Birth date with the century that does not put it after ``today`` (None if not a date)."""
    century = today.year // 100 * 100
    date = yymmdd(text, century)
    if date is None or date > today:
        date = yymmdd(text, century - 100)
    return date


def expiry_date_from(text: str, today: datetime.date) -> datetime.date | None:
    """Expiry date with the century that puts its year in (today - 80, today + 20] (None if not a date)."""
    if len(text) != 6 or not text.isdigit():
        return None
    century = today.year // 100 * 100
    year = century + int(text[:2])
    if year > today.year + EXPIRY_YEARS_AHEAD:
        century -= 100
    elif year <= today.year + EXPIRY_YEARS_AHEAD - 100:
        century += 100
    return yymmdd(text, century)


def add_years(date: datetime.date, years: int) -> datetime.date:
    """``date`` moved by whole years (29 February becomes 28 February in a common year)."""
    try:
        return date.replace(year=date.year + years)
    except ValueError:
        return date.replace(year=date.year + years, day=28)


def french_card_expiry(document_number: str, birth: datetime.date | None) -> datetime.date | None:
    """Last day of validity of a French 1995-layout identity card, which the MRZ does not print.

    The card number starts with the issue year and month. Validity is 10 years, 15 years for a card
    issued from January 2004 to a holder of age (décret 2013-1188). The issue day is not in the MRZ, so
    this is the earliest possible end: the day before the anniversary of the 1st of the issue month.
    Returns None when the card number does not start with a year and month.
    """
    issue = yymmdd(document_number[:4] + "01", 2000)
    if issue is None:
        return None
    if issue.year > 2021:  # the layout was issued from 1995 to 2021
        issue = issue.replace(year=issue.year - 100)
    adult = birth is not None and add_years(birth, 18) <= issue
    years = 15 if adult and issue >= datetime.date(2004, 1, 1) else 10
    return add_years(issue, years) - datetime.timedelta(days=1)


@dataclass(frozen=True)
class MrzResult:
    """One parsed MRZ (fields after the listed OCR corrections), from :func:`agent.mrz.parse_mrz`.

    ``valid`` is True only when every check digit of the layout passes after ``corrections``;
    ``failed_checks`` names the checks that failed as read. ``today`` is the reference date given to the
    parser (for the century of the dates); it does not take part in comparisons.
    """

    format: str
    document_code: str
    issuing_state: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    birth_date: str
    sex: str
    expiry_date: str
    optional_data: str
    optional_data_2: str
    valid: bool
    failed_checks: tuple[str, ...]
    corrections: tuple[str, ...]
    name_truncated: bool
    lines: tuple[str, ...]
    layout: str
    today: datetime.date = field(compare=False, repr=False)

    def birth_date_value(self) -> datetime.date | None:
        """Birth date, never after the parser's ``today``; None when unknown (``<``) or not a date."""
        return birth_date_from(self.birth_date, self.today)

    def expiry_date_value(self) -> datetime.date | None:
        """Expiry date (century within +20/-80 years of the parser's ``today``); None when not a date.

        For the French 1995 card, which prints no expiry date, the date derived from the card number
        (see :func:`french_card_expiry`).
        """
        if self.layout == FRA_1995:
            return french_card_expiry(self.document_number, self.birth_date_value())
        return expiry_date_from(self.expiry_date, self.today)

    def is_expired(self, today: datetime.date) -> bool:
        """True when the document's last day of validity is before ``today``.

        A document whose expiry date cannot be read as a date counts as expired (the gate refers it).
        """
        if self.layout == FRA_1995:
            expiry = french_card_expiry(self.document_number, birth_date_from(self.birth_date, today))
        else:
            expiry = expiry_date_from(self.expiry_date, today)
        return expiry is None or expiry < today

    def to_dict(self) -> dict[str, object]:
        """The ARCHITECTURE.md JSON object (exactly its keys; lists for the tuples)."""
        out: dict[str, object] = {key: getattr(self, key) for key in JSON_KEYS}
        out["failed_checks"] = list(self.failed_checks)
        out["corrections"] = list(self.corrections)
        return out


_new = object.__new__
_set = object.__setattr__


def result_from_fields(fields: dict[str, object]) -> MrzResult:
    """Build an MrzResult from a dict holding exactly its fields, without the dataclass ``__init__``.

    The parser's hot path: installing a ready ``__dict__`` costs a fifth of the 19 frozen-attribute
    assignments of ``__init__``; the object is the same (equality, repr, frozenness are unchanged).
    """
    obj = _new(MrzResult)
    _set(obj, "__dict__", fields)
    return obj
