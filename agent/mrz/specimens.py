"""Random specimen documents (made-up names and numbers): for simulated readers, demos, benchmarks, tests.

``random_fields(rng, fmt)`` gives the fields of a valid document exactly as ``parse_mrz`` reports them
(except codes, which keep their ``<`` padding: see :func:`expected`); ``render`` prints them.
"""

from __future__ import annotations

import datetime
import random
import string

from agent.mrz.countries import COUNTRY_CODES
from agent.mrz.render import render_mrz

FORMATS = ("TD1", "TD2", "TD3", "MRVA", "MRVB", "FRA_1995")
WIDTH = {"TD1": 30, "TD2": 36, "TD3": 44, "MRVA": 44, "MRVB": 36, "FRA_1995": 36}
NAME_ROOM = {"TD1": 30, "TD2": 31, "TD3": 39, "MRVA": 39, "MRVB": 31}
OPTIONAL_ROOM = {"TD1": 15, "TD2": 7, "TD3": 14, "MRVA": 16, "MRVB": 8, "FRA_1995": 6}
CODES = sorted(COUNTRY_CODES)
ALNUM = string.ascii_uppercase + string.digits


def _word(rng: random.Random, lo: int = 1, hi: int = 9) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(lo, hi)))


def _alnum(rng: random.Random, lo: int, hi: int) -> str:
    return "".join(rng.choice(ALNUM) for _ in range(rng.randint(lo, hi)))


def _date(rng: random.Random, first: datetime.date, last: datetime.date) -> str:
    day = first + datetime.timedelta(days=rng.randint(0, (last - first).days))
    return day.strftime("%y%m%d")


def _birth(printed: str) -> datetime.date:
    year = int(printed[:2])
    return datetime.date(year + (2000 if year <= 25 else 1900), int(printed[2:4]), int(printed[4:6]))


def _names(rng: random.Random, room: int) -> tuple[str, str]:
    """Surname and given names that fit ``room`` characters with at least one filler left."""
    while True:
        surname = " ".join(_word(rng) for _ in range(rng.randint(1, 2)))
        given = " ".join(_word(rng) for _ in range(rng.randint(0, 3)))
        printed = len(surname) + (2 + len(given) if given else 0)
        if printed < room:
            return surname, given


def random_fields(rng: random.Random, fmt: str) -> dict[str, str]:
    """Fields of a valid document of ``fmt`` (``FRA_1995`` for the French card), as parse_mrz reports them."""
    birth = _date(rng, datetime.date(1931, 1, 1), datetime.date(2025, 12, 31))
    if fmt == "FRA_1995":
        issue = _date(rng, datetime.date(1995, 1, 1), datetime.date(2021, 7, 31))[:4]
        office = rng.choice(["75", "93", "2A", "13"]) + rng.choice(string.digits)
        number = issue + office + "".join(rng.choice(string.digits) for _ in range(5))
        surname = " ".join(_word(rng, 1, 8) for _ in range(rng.randint(1, 2)))
        given = " ".join(_word(rng, 1, 5) for _ in range(rng.randint(1, 2)))
        return {
            "format": "TD2", "layout": "FRA_1995", "document_code": "ID", "issuing_state": "FRA",
            "surname": surname, "given_names": given, "document_number": number, "nationality": "FRA",
            "birth_date": birth, "sex": rng.choice("MF"), "expiry_date": "",
            "optional_data": "".join(rng.choice(string.digits) for _ in range(6)), "optional_data_2": "",
        }  # fmt: skip
    code = {"TD3": "P", "MRVA": "V", "MRVB": "V"}.get(fmt) or rng.choice("IAC")
    code += rng.choice(string.ascii_uppercase.replace("V", "") + "<")
    surname, given = _names(rng, NAME_ROOM[fmt])
    long_number = fmt == "TD1" and rng.random() < 0.3
    number = _alnum(rng, 10, 13) if long_number else _alnum(rng, 1, 9)
    room = OPTIONAL_ROOM[fmt] - (len(number) - 9 + 2 if long_number else 0)
    optional = _alnum(rng, 0, room) if room > 0 and rng.random() < 0.6 else ""
    return {
        "format": fmt, "layout": "ICAO", "document_code": code.rstrip("<"), "issuing_state": rng.choice(CODES),
        "surname": surname, "given_names": given, "document_number": number, "nationality": rng.choice(CODES),
        "birth_date": birth, "sex": rng.choice(["M", "F", "X", ""]),
        "expiry_date": _date(rng, max(datetime.date(2012, 1, 1), _birth(birth)), datetime.date(2045, 12, 31)),
        "optional_data": optional,
        "optional_data_2": _alnum(rng, 0, 11) if fmt == "TD1" and rng.random() < 0.5 else "",
    }  # fmt: skip


def render(fields: dict[str, str]) -> tuple[str, ...]:
    """MRZ lines of ``fields`` (from :func:`random_fields`)."""
    return render_mrz(**fields)


def random_document(rng: random.Random, fmt: str | None = None) -> tuple[str, ...]:
    """MRZ lines of a random valid document (of a random layout unless ``fmt`` is given)."""
    return render(random_fields(rng, fmt or rng.choice(FORMATS)))


def expected(fields: dict[str, str]) -> dict[str, str]:
    """The fields as the parser reports them (codes without their '<' padding)."""
    out = dict(fields)
    for key in ("issuing_state", "nationality"):
        out[key] = out[key].rstrip("<")
    return out
