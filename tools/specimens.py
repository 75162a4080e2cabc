"""Specimen travel documents for tests, benchmarks and the demo (ICAO Doc 9303 layout, made-up people).

    >>> td3("UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "740812", "F", "120415", optional="ZE184226B")
    ('P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10')

Check digits are computed (7-3-1 weights); ``break_check`` corrupts one on purpose.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

_WEIGHTS = (7, 3, 1)


def check_digit(field: str) -> str:
    """ICAO 9303 check digit of ``field`` (digits, A-Z, ``<``)."""
    total = 0
    for i, ch in enumerate(field):
        value = int(ch) if ch.isdigit() else 0 if ch == "<" else ord(ch) - 55
        total += value * _WEIGHTS[i % 3]
    return str(total % 10)


def _pad(text: str, width: int) -> str:
    text = text.upper().replace(" ", "<").replace("-", "<")
    if len(text) > width:
        raise ValueError(f"{text!r} longer than {width} characters")
    return text + "<" * (width - len(text))


def td3(
    state: str,
    surname: str,
    given_names: str,
    number: str,
    birth: str,
    sex: str,
    expiry: str,
    *,
    nationality: str | None = None,
    optional: str = "",
    code: str = "P",
) -> tuple[str, str]:
    """A passport MRZ (TD3, 2x44) with correct check digits."""
    name = _pad(f"{surname}<<{given_names.replace(' ', '<')}", 39)
    line1 = _pad(code, 2) + _pad(state, 3) + name
    num = _pad(number, 9)
    opt = _pad(optional, 14)
    opt_cd = check_digit(opt) if optional else "<"
    nat = _pad(nationality or state, 3)
    body = f"{num}{check_digit(num)}{nat}{birth}{check_digit(birth)}{sex}{expiry}{check_digit(expiry)}{opt}{opt_cd}"
    composite = body[0:10] + body[13:20] + body[21:43]
    return line1, body + check_digit(composite)


def break_check(lines: tuple[str, str]) -> tuple[str, str]:
    """The same MRZ with the document number's check digit wrong (a misprint or a misread)."""
    line2 = lines[1]
    wrong = str((int(line2[9]) + 1) % 10) if line2[9].isdigit() else "0"
    return lines[0], line2[:9] + wrong + line2[10:]


def years_from_now(years: int, *, today: dt.date | None = None) -> str:
    """The date ``years`` after ``today`` (default: the real date) as an MRZ prints it (YYMMDD).

    Specimens that must be valid (or expired) when screened against the real clock take their expiry
    from here, so that no test or demo starts failing the year a fixed date passes."""
    today = today or dt.date.today()
    try:
        day = today.replace(year=today.year + years)
    except ValueError:  # 29 February
        day = today.replace(year=today.year + years, day=28)
    return day.strftime("%y%m%d")


_SURNAMES = ("ERIKSSON", "MUSTERMANN", "SPECIMEN", "SAMPLE", "NORDMANN", "MEIKALAINEN", "PUBLIC", "DOE")
_GIVEN = ("ANNA MARIA", "ERIKA", "JOHN", "JANE", "OLA", "MATTI", "JOHN Q", "ALEX")


def stream(
    count: int, *, seed: int = 1, state: str = "UTO", expiry: str | None = None
) -> Iterator[tuple[str, str]]:
    """``count`` distinct valid TD3 specimens (document numbers differ), reproducible from ``seed``; they
    expire on ``expiry`` (default: five years from today)."""
    rng = random.Random(seed)
    expiry = expiry or years_from_now(5)
    for i in range(count):
        birth = f"{rng.randrange(40, 100):02d}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
        yield td3(state, rng.choice(_SURNAMES), rng.choice(_GIVEN), f"X{i:08d}", birth,
                  rng.choice("MF"), expiry)
