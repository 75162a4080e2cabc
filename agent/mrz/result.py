"""The fields of one parsed MRZ, and the century rules that turn its YYMMDD dates into real dates."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from operator import itemgetter

from agent.mrz.layouts import ALL_LAYOUTS, FRA_1995, Layout, Span

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


#: What ``MrzResult`` stores (see its docstring).
_Parts = tuple[str, int, tuple[str, ...], datetime.date, bool, tuple[str, ...], tuple[str, ...], int]


class MrzResult(_Parts):
    """One parsed MRZ (fields after the listed OCR corrections), from :func:`agent.mrz.parse_mrz`.

    ``valid`` is True only when every check digit of the layout passes after ``corrections``;
    ``failed_checks`` names the checks that failed as read. ``today`` is the reference date given to the
    parser (for the century of the dates); it does not take part in comparisons.

    Immutable. Underneath it is a tuple of what the parser decided (the corrected MRZ text, the index of its
    layout in ``ALL_LAYOUTS``, the lines as read, ``today``, ``valid``, ``failed_checks``, ``corrections``, the end of a TD1 long
    document number) because a tuple is the cheapest object to build on the parser's hot path; the fields
    are cut from the text when read. Read it through its attributes: equality, hashing and ``repr`` are
    those of its fields, as for a frozen dataclass.
    """

    __slots__ = ()

    # The stored parts, read by C-level getters (mypy sees the declared types, not the property objects).
    _text: str = property(itemgetter(0))  # type: ignore[assignment]
    _layout_index: int = property(itemgetter(1))  # type: ignore[assignment]
    lines: tuple[str, ...] = property(itemgetter(2))  # type: ignore[assignment]
    today: datetime.date = property(itemgetter(3))  # type: ignore[assignment]
    valid: bool = property(itemgetter(4))  # type: ignore[assignment]
    failed_checks: tuple[str, ...] = property(itemgetter(5))  # type: ignore[assignment]
    corrections: tuple[str, ...] = property(itemgetter(6))  # type: ignore[assignment]
    #: Position of the check digit of a TD1 long document number (Doc 9303 Part 5 4.2.4), else 0.
    _number_end: int = property(itemgetter(7))  # type: ignore[assignment]

    @property
    def _spec(self) -> Layout:
        return ALL_LAYOUTS[self[1]]

    @property
    def format(self) -> str:
        """TD1, TD2, TD3, MRVA or MRVB."""
        return self._spec.format

    @property
    def layout(self) -> str:
        """The layout's name as the engine knows it (a format may have variants)."""
        return self._spec.layout

    @property
    def document_code(self) -> str:
        """The first one or two letters (``P``, ``I``, ``V`` ...), fillers removed."""
        return self._text[0:2].rstrip("<")

    @property
    def issuing_state(self) -> str:
        """The issuing state's three-letter code, fillers removed."""
        return self._text[2:5].rstrip("<")

    @property
    def surname(self) -> str:
        """The primary identifier, words separated by single spaces."""
        return self._names()[0]

    @property
    def given_names(self) -> str:
        """The secondary identifier, words separated by single spaces."""
        return self._names()[1]

    @property
    def name_truncated(self) -> bool:
        """True when a name field is used to its last character (the name may have been cut)."""
        s, names = self._text, self._spec.names
        return any(s[b - 1] != "<" for _, b in names)

    @property
    def document_number(self) -> str:
        """The document number, whole even when a TD1 or TD2 number overflows into the optional data."""
        end = self._number_end
        return _long_number(self._text, self._spec, end)[0] if end else self._field(self._spec.document_number)

    @property
    def nationality(self) -> str:
        """The holder's nationality code (the French ID card's format has none: ``FRA``)."""
        return self._field(self._spec.nationality, missing="FRA")

    @property
    def birth_date(self) -> str:
        """The birth date as printed (YYMMDD)."""
        a, b = self._spec.birth_date
        return self._text[a:b]

    @property
    def sex(self) -> str:
        """``M``, ``F`` or empty for unspecified."""
        return self._text[self._spec.sex].rstrip("<")

    @property
    def expiry_date(self) -> str:
        """The expiry date as printed (YYMMDD), empty where the format has none."""
        span = self._spec.expiry_date
        return "" if span is None else self._text[span[0] : span[1]]

    @property
    def optional_data(self) -> str:
        """The optional data field, fillers removed."""
        end = self._number_end
        return _long_number(self._text, self._spec, end)[1] if end else self._field(self._spec.optional_data)

    @property
    def optional_data_2(self) -> str:
        """TD1's second optional data field (empty for other formats)."""
        return self._field(self._spec.optional_data_2)

    def _field(self, span: Span | None, missing: str = "") -> str:
        """The text at ``span`` without trailing fillers; ``missing`` where the layout has no such field."""
        return missing if span is None else self._text[span[0] : span[1]].rstrip("<")

    def _names(self) -> tuple[str, str]:
        """Surname and given names: ICAO splits one field at the first ``<<``; the French card has two."""
        s, names = self._text, self._spec.names
        if len(names) == 1:
            a, b = names[0]
            primary, _, secondary = s[a:b].rstrip("<").partition("<<")
            return _clean_name(primary), _clean_name(secondary)
        (a, b), (c, d) = names
        return _clean_name(s[a:b].rstrip("<")), _clean_name(s[c:d].rstrip("<"))

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
        """The ARCHITECTURE.md JSON object (exactly its keys, in their order; lists for the tuples).

        The same values as the attributes, cut in one go (the attributes cut one field each).
        """
        text, layout_index, _, _, valid, failed_checks, corrections, number_end = self
        spec = ALL_LAYOUTS[layout_index]
        code, state, number, nationality, birth, sex, expiry, optional, optional_2 = _CUTS[spec](text)
        if number_end:
            number, optional = _long_number(text, spec, number_end)
        surname, given_names = self._names()
        return {
            "format": spec.format,
            "document_code": code.rstrip("<"),
            "issuing_state": state.rstrip("<"),
            "surname": surname,
            "given_names": given_names,
            "document_number": number.rstrip("<"),
            "nationality": "FRA" if spec.nationality is None else nationality.rstrip("<"),
            "birth_date": birth,
            "sex": sex.rstrip("<"),
            "expiry_date": expiry,
            "optional_data": optional.rstrip("<"),
            "optional_data_2": optional_2.rstrip("<"),
            "valid": valid,
            "failed_checks": list(failed_checks),
            "corrections": list(corrections),
        }

    def _compared(self) -> tuple[object, ...]:
        return tuple(getattr(self, key) for key in _COMPARED)

    def __eq__(self, other: object) -> bool:
        # False, not NotImplemented, for anything else: the tuple underneath must never equal a plain tuple.
        return isinstance(other, MrzResult) and self._compared() == other._compared()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        return f"MrzResult({', '.join(f'{key}={getattr(self, key)!r}' for key in _COMPARED)})"

    def _unordered(self, other: object) -> bool:
        return NotImplemented

    __lt__ = __le__ = __gt__ = __ge__ = _unordered


def _cut(layout: Layout) -> Callable[[str], tuple[str, ...]]:
    """One C-level cut of the fields of ``layout`` as printed (an absent field reads as ``""``)."""

    def part(span: tuple[int, int] | None) -> slice:
        return slice(0, 0) if span is None else slice(*span)

    return itemgetter(
        slice(0, 2), slice(2, 5), part(layout.document_number), part(layout.nationality), part(layout.birth_date),
        slice(layout.sex, layout.sex + 1), part(layout.expiry_date), part(layout.optional_data),
        part(layout.optional_data_2),
    )  # fmt: skip


_CUTS = {layout: _cut(layout) for layout in ALL_LAYOUTS}


def _long_number(text: str, layout: Layout, end: int) -> tuple[str, str]:
    """A long document number whole and the optional data after it (``layouts.long_number_end``: ``end`` is the
    number's check digit position)."""
    (a, b), (first, last) = layout.document_number, layout.optional_data
    return (text[a:b] + text[first:end]).rstrip("<"), text[end + 1 : last].strip("<")

#: The fields that take part in equality, hashing and ``repr`` (all but ``today``), in dataclass order.
_COMPARED = (*JSON_KEYS, "name_truncated", "lines", "layout")


def _clean_name(text: str) -> str:
    if "<<" in text or text[:1] == "<" or text[-1:] == "<":
        return " ".join(text.replace("<", " ").split())
    return text.replace("<", " ")


def make_result(
    text: str,
    spec: Layout,
    lines: tuple[str, ...],
    today: datetime.date,
    valid: bool,
    failed_checks: tuple[str, ...] = (),
    corrections: tuple[str, ...] = (),
    number_end: int = 0,
) -> MrzResult:
    """The parser's constructor (see the class docstring); ``number_end`` is a long number's check digit position
    (``layouts.long_number_end``), 0 for a number that fits its field."""
    index = _LAYOUT_INDEX[spec]
    return _new(MrzResult, (text, index, lines, today, valid, failed_checks, corrections, number_end))


_new = tuple.__new__
# Plain values only in the tuple (an index, not the Layout dataclass), so that copy, pickle and
# dataclasses.asdict of a dataclass holding a result rebuild an equal, working result.
_LAYOUT_INDEX = {layout: i for i, layout in enumerate(ALL_LAYOUTS)}
