"""``render_mrz``: print fields into MRZ lines with their check digits (the inverse of ``parse_mrz``).

Used to make specimens (tests, demo samples, simulated readers). Names are given with spaces between
words; fields that are too long raise ValueError rather than being cut silently, except names, which are
truncated as Doc 9303 Part 3 4.6 allows.
"""

from __future__ import annotations

from agent.mrz.checkdigit import check_digit
from agent.mrz.layouts import FRA_1995, ICAO, MRVA, MRVB, TD1, TD2, TD3


def _fit(value: str, width: int, what: str) -> str:
    if len(value) > width:
        raise ValueError(f"{what} {value!r} is longer than its {width} MRZ characters")
    return value.ljust(width, "<")


def _words(text: str, sep: str = "<") -> str:
    return sep.join(text.upper().split())


def _name_field(surname: str, given_names: str, width: int) -> str:
    name = _words(surname) + ("<<" + _words(given_names) if given_names.strip() else "")
    return name[:width].ljust(width, "<")


def _number_and_optional_data(document_number: str, optional_data: str, room: int) -> str:
    """The document number, its check digit and the optional data field (``room`` characters) of a TD1 or TD2:
    a number longer than 9 characters has ``<`` for its check digit and continues in the optional data, its
    own check digit and a filler after it (Doc 9303 Part 5 4.2.4, Part 6 note j)."""
    if len(document_number) <= 9:
        number = _fit(document_number, 9, "document number")
        return number + check_digit(number) + _fit(optional_data, room, "optional data")
    rest = document_number[9:] + check_digit(document_number)
    return document_number[:9] + "<" + _fit(rest + ("<" + optional_data if optional_data else ""), room,
                                            "document number tail")


def render_mrz(
    *,
    format: str,
    document_code: str,
    issuing_state: str,
    surname: str,
    given_names: str,
    document_number: str,
    nationality: str,
    birth_date: str,
    sex: str,
    expiry_date: str = "",
    optional_data: str = "",
    optional_data_2: str = "",
    layout: str = ICAO,
) -> tuple[str, ...]:
    """MRZ lines for the given fields; raises ValueError when a field does not fit its layout."""
    code = _fit(document_code, 2, "document code")
    state = _fit(issuing_state, 3, "issuing state")
    sex = sex or "<"
    if layout == FRA_1995:
        line1 = (
            "IDFRA" + _words(surname)[:25].ljust(25, "<") + _fit(optional_data, 6, "department and office")
        )
        number = _fit(document_number, 12, "card number")
        given = _words(given_names, "<<")[:14].ljust(14, "<")
        head = line1 + number + check_digit(number) + given + birth_date + check_digit(birth_date) + sex
        return line1, head[36:] + check_digit(head)
    if layout != ICAO:
        raise ValueError(f"unknown layout {layout!r}; expected {ICAO!r} or {FRA_1995!r}")
    nat = _fit(nationality, 3, "nationality")
    dates = birth_date + check_digit(birth_date) + sex + expiry_date + check_digit(expiry_date)
    if format == TD1:
        line1 = code + state + _number_and_optional_data(document_number, optional_data, 15)
        line2 = dates + nat + _fit(optional_data_2, 11, "optional data 2")
        line2 += check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
        return line1, line2, _name_field(surname, given_names, 30)
    if format not in (TD2, TD3, MRVA, MRVB):
        raise ValueError(f"unknown format {format!r}; expected TD1, TD2, TD3, MRVA or MRVB")
    width = 44 if format in (TD3, MRVA) else 36
    line1 = code + state + _name_field(surname, given_names, width - 5)
    if format == TD2:
        field = _number_and_optional_data(document_number, optional_data, 7)
        line2 = field[:10] + nat + dates + field[10:]  # the number and its check digit, then the optional data
    else:
        number = _fit(document_number, 9, "document number")
        line2 = number + check_digit(number) + nat + dates
        if format == TD3:
            opt = _fit(optional_data, 14, "optional data")
            line2 += opt + (check_digit(opt) if optional_data else "<")
        else:
            line2 += _fit(optional_data, width - 28, "optional data")
    if format in (TD2, TD3):
        line2 += check_digit(line2[0:10] + line2[13:20] + line2[21:])
    return line1, line2
