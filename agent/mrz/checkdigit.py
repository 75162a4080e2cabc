"""ICAO Doc 9303 Part 3 section 4.9 check digits (weights 7, 3, 1; ``<`` counts 0, A-Z count 10-35).

Fast path: a whole MRZ is translated once into a bytes object of character values with
``bytes.translate``; the check digit of any slice is then three C-level ``sum`` calls over strided
slices, with no Python loop per character.
"""

from __future__ import annotations

MRZ_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
DIGITS = "0123456789"

_values = bytearray(256)
for _i, _c in enumerate(DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
    _values[ord(_c)] = _i
#: ``ascii_bytes.translate(VALUE_TABLE)`` maps each MRZ character to its check-digit value.
VALUE_TABLE = bytes(_values)
#: The same values times 3 and times 7 (at most 245, so still one byte): with these, the check sum of
#: any set of positions is one gather and one ``sum`` over ``v1 + v3 + v7`` (see parser's fast path).
WEIGHTED_TABLES = (VALUE_TABLE, bytes(3 * v for v in _values), bytes(7 * v for v in _values))
#: ``ascii_bytes.translate(None, MRZ_BYTES)`` is empty exactly when every character is legal.
MRZ_BYTES = MRZ_CHARS.encode("ascii")
#: ``text.translate(ASCII_UPPER)`` upper-cases a-z only: ``str.upper`` also maps characters outside ASCII onto
#: MRZ letters (``ı`` -> ``I``, ``ſ`` -> ``S``, ``ß`` -> ``SS``), which would pass the character check after it.
ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def values(text: str) -> bytes:
    """Check-digit values of ``text`` (ASCII MRZ characters) as a bytes object."""
    return text.encode("ascii").translate(VALUE_TABLE)


def check_value(vals: bytes) -> int:
    """Check digit (0-9) of a field given as values (see :func:`values`)."""
    return (7 * sum(vals[0::3]) + 3 * sum(vals[1::3]) + sum(vals[2::3])) % 10


def check_digit(text: str) -> str:
    """Check digit character of ``text``; raises ValueError on a character outside A-Z, 0-9, ``<``."""
    raw = text.translate(ASCII_UPPER).encode("ascii", "replace")
    if raw.translate(None, MRZ_BYTES):
        raise ValueError(f"{text!r} has characters outside A-Z, 0-9 and '<'")
    return DIGITS[check_value(raw.translate(VALUE_TABLE))]


#: Characters that look alike in OCR-B and weigh the same modulo 10 (``L`` 21 and ``1``, ``G`` 16 and ``6``,
#: ``S`` 28 and ``8``): swapping one for the other changes no check digit, so a check digit never tells a
#: misread of one as the other (tests/agent/test_lookalike_numbers.py proves it; docs/config.md "Reasons").
CHECK_BLIND_TWINS = {"L": "1", "1": "L", "G": "6", "6": "G", "S": "8", "8": "S"}
TWIN_POSITIONS = 8  # lookalike_numbers varies at most this many positions (255 other numbers)
#: Every character's others of the same value modulo 10 (``3``, ``D``, ``N``, ``X``; ``<``, ``0``, ``A``,
#: ``K``, ``U``): one read as another changes no check digit at any weight. They do not look alike, but a
#: character partly covered (a glare over a line's first character, in docs/vision.md) is read as whatever its
#: visible part suggests, and surely: of 30 pages whose last line's first character was half covered, 3 were
#: trusted with that character read as such a twin (``F``/``P``, ``X``/``D``, ``8``/``S``; docs/vision.md,
#: session of 21:08).
SAME_VALUE = {ch: tuple(o for o in MRZ_CHARS if o != ch and VALUE_TABLE[ord(o)] % 10 == VALUE_TABLE[ord(ch)] % 10)
              for ch in MRZ_CHARS}  # fmt: skip
_MRZ_SET = frozenset(MRZ_CHARS)


def lookalike_numbers(number: str) -> tuple[str, ...]:
    """Every other document number that an OCR misread could have turned a listed number into with every check
    digit still passing: the look-alike CHECK_BLIND_TWINS swapped at any of the first TWIN_POSITIONS places they
    stand (several misread at once), then every number one SAME_VALUE swap away (one character misread, as a
    partly covered one is). A text longer than an MRZ line (44) is no document number and has none (a hostile
    online query must not make hundreds of copies of it), nor is one of fillers alone (``0``'s ``<``: a list
    refuses to look it up, and the source would be taken as unavailable)."""
    if len(number) > 44 or not _MRZ_SET.issuperset(number):
        return ()
    spots = [i for i, ch in enumerate(number) if ch in CHECK_BLIND_TWINS][:TWIN_POSITIONS]
    out = []
    for mask in range(1, 1 << len(spots)):
        chars = list(number)
        for bit, i in enumerate(spots):
            if mask >> bit & 1:
                chars[i] = CHECK_BLIND_TWINS[chars[i]]
        out.append("".join(chars))
    seen = set(out)
    for i, ch in enumerate(number):
        for other in SAME_VALUE[ch]:
            swapped = number[:i] + other + number[i + 1 :]
            if swapped not in seen and swapped.strip("<"):
                seen.add(swapped)
                out.append(swapped)
    return tuple(out)
