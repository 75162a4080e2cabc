"""Where each field sits in each MRZ layout, and how a layout is recognised from the lines.

Positions are 0-based offsets into the lines joined without separators (line 2 of a TD3 starts at 44),
so the parser slices one string. References: ICAO Doc 9303 Part 4 (TD3), Part 5 (TD1), Part 6 (TD2),
Part 7 (MRV-A, MRV-B); the French national identity card issued 1995-2021 (``IDFRA``) is described in
docs/mrz.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.mrz.errors import MrzFormatError

Span = tuple[int, int]

#: ARCHITECTURE.md ``format`` values.
TD1, TD2, TD3, MRVA, MRVB = "TD1", "TD2", "TD3", "MRVA", "MRVB"
#: Formats whose document number may run on into the optional data (Doc 9303 Part 5 4.2.4, Part 6 note j).
LONG_NUMBER_FORMATS = (TD1, TD2)
#: ``MrzResult.layout`` values: the ICAO layout of ``format``, or the French 1995 identity card.
ICAO, FRA_1995 = "ICAO", "FRA_1995"


@dataclass(frozen=True, slots=True)
class Check:
    """One check digit: the spans it covers, where it is printed, and which spans must be digits.

    ``fillers_ok`` lets the digit spans hold ``<`` (unknown parts of a birth date, Doc 9303 Part 3
    4.6); ``empty_lt_ok`` accepts ``<`` as the check digit of an all-``<`` field (TD3 optional data).
    """

    name: str
    spans: tuple[Span, ...]
    digit_pos: int
    digit_spans: tuple[Span, ...] = ()
    fillers_ok: bool = False
    empty_lt_ok: bool = False


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: layouts are singletons, used as dict keys
class Layout:
    """Field positions of one MRZ layout (see module docstring for the coordinates)."""

    format: str
    layout: str
    width: int
    rows: int
    names: tuple[Span, ...]  # ICAO: one field "PRIMARY<<SECONDARY"; French card: surname, given names
    document_number: Span
    nationality: Span | None
    birth_date: Span
    sex: int
    expiry_date: Span | None
    optional_data: Span
    optional_data_2: Span | None
    checks: tuple[Check, ...]


def _date_checks(birth: Span, birth_cd: int, expiry: Span | None, expiry_cd: int) -> tuple[Check, ...]:
    out = [Check("birth_date", (birth,), birth_cd, (birth,), fillers_ok=True)]
    if expiry is not None:
        out.append(Check("expiry_date", (expiry,), expiry_cd, (expiry,)))
    return tuple(out)


def _icao_2line(fmt: str, width: int) -> Layout:
    """TD3/MRV-A (44) and TD2/MRV-B (36) share the line-2 layout up to the optional data."""
    o = width  # start of line 2
    doc, nat, birth, expiry = (o, o + 9), (o + 10, o + 13), (o + 13, o + 19), (o + 21, o + 27)
    checks = (Check("document_number", (doc,), o + 9),) + _date_checks(birth, o + 19, expiry, o + 27)
    if fmt == TD3:
        opt = (o + 28, o + 42)
        checks += (Check("optional_data", (opt,), o + 42, empty_lt_ok=True),)
        checks += (Check("composite", ((o, o + 10), (o + 13, o + 20), (o + 21, o + 43)), o + 43),)
    elif fmt == TD2:
        opt = (o + 28, o + 35)
        checks += (Check("composite", ((o, o + 10), (o + 13, o + 20), (o + 21, o + 35)), o + 35),)
    else:  # visas: no composite, optional data to the end of the line
        opt = (o + 28, o + width)
    return Layout(fmt, ICAO, width, 2, ((5, width),), doc, nat, birth, o + 20, expiry, opt, None, checks)


def _td1() -> Layout:
    birth, expiry = (30, 36), (38, 44)
    checks = (Check("document_number", ((5, 14),), 14),) + _date_checks(birth, 36, expiry, 44)
    checks += (Check("composite", ((5, 30), (30, 37), (38, 45), (48, 59)), 59),)
    return Layout(
        TD1, ICAO, 30, 3, ((60, 90),), (5, 14), (45, 48), birth, 37, expiry, (15, 30), (48, 59), checks
    )


def _fra_1995() -> Layout:
    """Line 1: IDFRA, surname (25), issuing department (3) and office (3).
    Line 2: card number (12: issue year, month, department, 5-digit serial), check digit, given names (14),
    birth date, check digit, sex, and a check digit over all of line 1 and line 2 up to it."""
    doc, birth = (36, 48), (63, 69)
    checks = (
        Check("document_number", (doc,), 48, digit_spans=((36, 40), (43, 48))),
        Check("birth_date", (birth,), 69, (birth,), fillers_ok=True),
        Check("composite", ((0, 71),), 71),
    )
    return Layout(
        TD2, FRA_1995, 36, 2, ((5, 30), (49, 63)), doc, None, birth, 70, None, (30, 36), None, checks
    )


LAYOUT_TD1 = _td1()
LAYOUT_TD2 = _icao_2line(TD2, 36)
LAYOUT_TD3 = _icao_2line(TD3, 44)
LAYOUT_MRVA = _icao_2line(MRVA, 44)
LAYOUT_MRVB = _icao_2line(MRVB, 36)
LAYOUT_FRA_1995 = _fra_1995()
ALL_LAYOUTS = (LAYOUT_TD1, LAYOUT_TD2, LAYOUT_TD3, LAYOUT_MRVA, LAYOUT_MRVB, LAYOUT_FRA_1995)

_TWO_LINE = "2 lines of 36 (TD2, MRV-B, French ID card) or of 44 (TD3, MRV-A) characters"
_SHAPES = f"an MRZ has 3 lines of 30 characters (TD1) or {_TWO_LINE}"


def detect_layout(lines: Sequence[str]) -> Layout:
    """Pick the layout from line count, line length and document code; raises MrzFormatError."""
    n = len(lines)
    if n == 3:
        for i, line in enumerate(lines, 1):
            if len(line) != 30:
                raise MrzFormatError(
                    f"line {i} has {len(line)} characters; a 3-line MRZ (TD1) has 30 per line"
                )
        return LAYOUT_TD1
    if n != 2:
        raise MrzFormatError(f"got {n} line{'s' if n != 1 else ''}; {_SHAPES}")
    first, second = lines
    width = len(first)
    if width not in (36, 44):
        raise MrzFormatError(f"line 1 has {width} characters; a 2-line MRZ has {_TWO_LINE}")
    if len(second) != width:
        raise MrzFormatError(f"line 2 has {len(second)} characters; expected {width} like line 1")
    visa = first[:1] == "V"
    if width == 44:
        return LAYOUT_MRVA if visa else LAYOUT_TD3
    if visa:
        return LAYOUT_MRVB
    # A French 1995 card has given names where a TD2 has the birth date (line 2, positions 14-19).
    if first.startswith("IDFRA") and sum(ch.isdigit() for ch in second[13:19]) < 4:
        return LAYOUT_FRA_1995
    return LAYOUT_TD2


def long_number_end(s: str, layout: Layout) -> int:
    """Doc 9303 Part 5 4.2.4 (TD1) and Part 6 note j (TD2): a document number longer than 9 characters has ``<``
    in its check-digit position and continues in the optional data (TD1 line 1, TD2 line 2) up to its own check
    digit, which precedes the first filler. Returns the position of that check digit, or 0 when the number is
    not continued or the layout has no such rule (TD3, visas, the French card)."""
    if layout.layout != ICAO or layout.format not in LONG_NUMBER_FORMATS or s[layout.checks[0].digit_pos] != "<":
        return 0
    first, last = layout.optional_data
    k = s.find("<", first, last)
    if k != -1 and k <= first + 1:  # no character continues the number before a check digit: the check digit
        return 0  # is just missing (a 9-character number is never written the long way)
    return (k if k != -1 else last) - 1


def long_number_check(s: str, layout: Layout) -> tuple[Check, int] | None:
    """The document-number check over a long number (see :func:`long_number_end`) and the position of its
    check digit, or None when the number is not continued."""
    cd = long_number_end(s, layout)
    return (long_number(layout, cd), cd) if cd else None


def long_number(layout: Layout, cd: int) -> Check:
    """The document-number check of a long number of ``layout`` whose check digit is at position ``cd``."""
    return Check("document_number", (layout.document_number, (layout.optional_data[0], cd)), cd)
