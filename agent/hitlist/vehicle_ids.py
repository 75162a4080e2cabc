"""Vehicle identifiers: the VIN (ISO 3779) and the registration plate, as the lists and the gate compare them
(docs/hitlist.md "Vehicles").

    >>> check_vin("1M8GDM9AXKP042788")
    VinCheck(vin='1M8GDM9AXKP042788', check_digit='valid')
    >>> normalise_plate("ab-12 cd")                  # separators out, confusables folded
    'AB12CD'
    >>> normalise_country("ma")
    'MA'

VIN: 17 characters of ``0-9 A-Z`` without ``I``, ``O``, ``Q`` (ISO 3779). In North America (the world
manufacturer identifier starts with 1-5) position 9 is a check digit (49 CFR 565.15): letters are
transliterated (A=1 … Z=9, no I/O/Q), weighted 8 7 6 5 4 3 2 10 0 9 8 7 6 5 4 3 2, summed mod 11, 10
written ``X``. Elsewhere position 9 is the manufacturer's, so it is not checked (``not_applicable``).

Plate: the characters a plate carries, whatever a keyboard or a plate camera made of them: Unicode
compatibility forms folded (NFKC: full-width letters), Arabic-Indic and other decimal digits as ASCII
digits, Cyrillic and Greek letters that look like Latin ones as those Latin letters, upper case, spaces,
dashes, dots and other separators removed, and the characters plate readers confuse folded to one:
``O`` and ``Q`` to ``0``, ``I`` to ``1`` (so ``AB-0I2`` and ``AB O12`` are the same plate). Lists fold
their records the same way (agent/hitlist/fingerprint.py ``plate_fingerprint``), so a fold never loses a
match; it can only merge plates that differ in a confusable character, which the officer then checks.
Country: the international vehicle registration code (1-3 letters: ``D``, ``F``, ``MA``, ``DZ``, ``TN``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from agent.errors import BadDataError

VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"  # ISO 3779: no I, O, Q
_VIN = re.compile(f"[{VIN_CHARS}]{{17}}")
_VALUES = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
           **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
           **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_NORTH_AMERICA = "12345"
_SEPARATORS = re.compile(r"[\s\-‐-―_.·•/|:]+")
# Letters of other scripts that look like Latin capitals on a plate (Cyrillic, Greek).
_LOOKALIKES = str.maketrans("АВЕКМНОРСТУХІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEKMHOPCTYXIJSABEZHIKMNOPTYX")
_CONFUSABLE = str.maketrans("OQI", "001")
_PLATE = re.compile(r"[A-Z0-9]{1,12}")
_COUNTRY = re.compile(r"[A-Z]{1,3}")


@dataclass(frozen=True)
class VinCheck:
    """A VIN in ISO 3779 form and what its check digit says: ``valid``, ``invalid`` or ``not_applicable``."""

    vin: str
    check_digit: str

    @property
    def reasons(self) -> tuple[str, ...]:
        """Decision reasons: ``vin_check_digit`` when a North American check digit fails (REFER: a misread
        or altered VIN; the VIN is still looked up)."""
        return ("vin_check_digit",) if self.check_digit == "invalid" else ()


def vin_check_digit(vin: str) -> str:
    """The North American check digit (``0``-``9`` or ``X``) of a 17-character VIN."""
    total = sum(_VALUES[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    return "X" if total % 11 == 10 else str(total % 11)


def check_vin(vin: str) -> VinCheck:
    """``vin`` upper-cased, spaces and dashes removed, checked against ISO 3779 (17 characters, no I/O/Q)
    and, where it applies, the North American check digit. Raises ``BadDataError`` naming the value and
    the rule it breaks (the check digit does not raise: see ``VinCheck.reasons``)."""
    if not isinstance(vin, str):
        raise BadDataError(f"VIN {vin!r:.60}: expected text")
    value = _SEPARATORS.sub("", vin.upper())
    if len(value) != 17:
        raise BadDataError(f"VIN {vin!r:.60}: {len(value)} characters; expected 17 (ISO 3779)")
    bad = sorted({c for c in value if c not in VIN_CHARS})
    if bad:
        raise BadDataError(f"VIN {vin!r:.60}: {''.join(bad)!r:.60} not allowed; expected 0-9 and A-Z without I, O, Q "
                           "(ISO 3779)")
    if not _VIN.fullmatch(value):  # pragma: no cover - the two checks above are the rule
        raise BadDataError(f"VIN {vin!r:.60}: expected 17 of 0-9 A-Z without I, O, Q")
    if value[0] not in _NORTH_AMERICA:
        return VinCheck(value, "not_applicable")
    return VinCheck(value, "valid" if value[8] == vin_check_digit(value) else "invalid")


def normalise_plate(plate: str) -> str:
    """The plate as lists compare it (module docstring). Raises ``BadDataError`` for a plate without 1-12
    letters or digits once separators are removed, or with characters no plate carries."""
    if not isinstance(plate, str):
        raise BadDataError(f"plate {plate!r:.60}: expected text")
    text = unicodedata.normalize("NFKC", plate)
    text = "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in text)
    value = _SEPARATORS.sub("", text.upper().translate(_LOOKALIKES)).translate(_CONFUSABLE)
    if not _PLATE.fullmatch(value):
        raise BadDataError(f"plate {plate!r:.60}: expected 1-12 letters or digits (spaces and dashes are ignored)")
    return value


def normalise_country(country: str) -> str:
    """The plate's country as its international vehicle registration code, upper case (``ma`` -> ``MA``).
    Raises ``BadDataError`` for anything but 1-3 Latin letters."""
    value = country.strip().upper() if isinstance(country, str) else ""
    if not _COUNTRY.fullmatch(value):
        raise BadDataError(f"plate country {country!r:.60}: expected the 1-3 letter registration code (D, MA, TN)")
    return value
