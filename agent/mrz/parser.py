"""``parse_mrz``: MRZ text in, checked fields out (ICAO Doc 9303 Parts 3-7, French 1995 identity card).

Hot path (a clean read: a tuple or list of full-length lines of legal characters, every check passing):
the lines are joined as given (nothing to strip or upper-case), one ``bytes.translate`` checks the
character set and three give the character values times 1, 3 and 7; each check digit is then one C-level
gather of precomputed positions and one ``sum``; the result keeps the text and cuts fields on access.
Everything else (text to normalise, a failing check, a digit in a country code) takes the general path:
failure lists, the OCR repair search and the country-code repair. Both give the same result for a clean
read (tests/mrz/test_mrz_clean_read.py).

Repair policy (docs/mrz.md "OCR repair"):
- a letter where only a digit may stand (dates, check digits, the numeric parts of a French card number)
  is read as the digit it is usually confused with (O, Q, D -> 0; I, L -> 1; Z -> 2; S -> 5; G -> 6;
  B -> 8); every letter of a check's digit-only positions at once (each letter has one digit, so there
  is one candidate), and only when that check then passes (``7SIOZS`` -> ``751025``);
- a digit in a country code is read as a letter (0 -> O, D, Q; 1 -> I, L; ...) only when exactly one
  candidate is a known code (``UT0`` -> ``UTO``);
- a digit in a name, where only letters may stand, is read as its look-alike letter when there is only
  one (2 -> Z, 5 -> S, 6 -> G, 8 -> B: ``ERIK55ON`` -> ``ERIKSSON``); 0 and 1 (O D Q, I L) stay. No ICAO
  check digit covers names, so that mapping alone decides; on a French card the composite covers them
  and must pass afterwards;
- alphanumeric fields (document number, optional data) are never changed: there both readings are
  legal, and the composite digit repeats the field's own check, so nothing would confirm a repair.
"""

from __future__ import annotations

import datetime
import itertools
import logging
from collections.abc import Callable, Sequence
from operator import itemgetter

from agent.mrz.checkdigit import ASCII_UPPER, DIGITS, MRZ_BYTES, VALUE_TABLE, WEIGHTED_TABLES, check_value
from agent.mrz.countries import COUNTRY_CODES
from agent.mrz.errors import MrzFormatError
from agent.mrz.layouts import (
    ALL_LAYOUTS,
    LAYOUT_MRVA,
    LAYOUT_MRVB,
    LAYOUT_TD1,
    LAYOUT_TD2,
    LAYOUT_TD3,
    Check,
    Layout,
    detect_layout,
    long_number,
    long_number_check,
    long_number_end,
)
from agent.mrz.result import MrzResult, make_result

logger = logging.getLogger(__name__)

#: Most digits of one country code read as letters (each has up to three look-alikes: a search).
MAX_EDITS = 2
#: OCR confusions of a letter printed where only a digit may stand.
LETTER_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6", "B": "8"}
#: The reverse, for letter-only fields (country codes).
DIGIT_TO_LETTERS = {"0": "ODQ", "1": "IL", "2": "Z", "5": "S", "6": "G", "8": "B"}
#: Digits in a name, which no ICAO check digit covers: only those with one look-alike letter.
NAME_DIGIT_TO_LETTER = {digit: letters for digit, letters in DIGIT_TO_LETTERS.items() if len(letters) == 1}
_DIGIT_BYTES = b"0123456789"


def parse_mrz(text_or_lines: str | Sequence[str], *, today: datetime.date | None = None) -> MrzResult:
    """Parse and check an MRZ given as one text (lines separated by newlines) or as a sequence of lines.

    Surrounding whitespace and lower case are tolerated. ``today`` (default: the system date) fixes the
    century of the dates. Check-digit failures do not raise: they give ``valid=False``.
    Raises MrzFormatError when the text is not an MRZ (line count, line length, illegal characters).
    """
    if today is None:
        today = datetime.date.today()
    rows = text_or_lines
    if rows.__class__ is tuple or rows.__class__ is list:
        # Clean read (how a reader delivers a good document): full-length lines of legal characters, so
        # stripping and upper-casing would change nothing, every check passes as read and the country
        # codes hold no digit. Anything else goes the general way, which gives the same result for it.
        try:
            s = "".join(rows)
        except TypeError:
            s = ""
        by_visa = _CLEAN_SHAPES.get(len(s))
        if by_visa is not None:
            layout, n_rows, width, plan = by_visa[s[0] == "V"]
            if len(rows) == n_rows and len(rows[0]) == width == len(rows[-1]):
                raw = s.encode("ascii", "replace")
                if not raw.translate(None, MRZ_BYTES):
                    number_end = 0
                    if layout is LAYOUT_TD2 and s.startswith("IDFRA"):
                        layout = detect_layout(rows)
                        plan = _PLANS[layout]
                    elif (cd := _LONG_NUMBER_CD.get(layout)) is not None and s[cd] == "<":
                        number_end = long_number_end(s, layout)
                        plan = _LONG_PLANS[layout][number_end] if number_end else plan
                    if _all_pass(plan, s, raw):
                        lines = rows if rows.__class__ is tuple else tuple(rows)
                        return make_result(s, layout, lines, today, True, (), (), number_end)
    return _parse_general(text_or_lines, today)


def _parse_general(text_or_lines: str | Sequence[str], today: datetime.date) -> MrzResult:
    """Normalise, detect, check every digit, repair what the check digits confirm."""
    lines = _normalise(text_or_lines)
    layout = detect_layout(lines)
    try:
        s = "".join(lines)
    except TypeError:
        raise _not_text(lines) from None
    raw = s.encode("ascii", "replace")
    if raw.translate(None, MRZ_BYTES):
        raise _illegal_character(lines)
    number_end = long_number_end(s, layout)
    checks = layout.checks
    if number_end:
        checks = (long_number(layout, number_end), *checks[1:])
    vals = raw.translate(VALUE_TABLE)
    failed = tuple(c.name for c in checks if not _passes(s, vals, c))
    s, corrections = _repair(s, layout, checks, failed)
    still_failed = failed
    if corrections:
        vals = s.encode("ascii").translate(VALUE_TABLE)
        still_failed = tuple(c.name for c in checks if not _passes(s, vals, c))
    return make_result(s, layout, lines, today, not still_failed, failed, corrections, number_end)


def _normalise(text_or_lines: str | Sequence[str]) -> tuple[str, ...]:
    rows = text_or_lines.strip().splitlines() if isinstance(text_or_lines, str) else text_or_lines
    try:
        lines = [row.strip().translate(ASCII_UPPER) for row in rows]  # not str.upper: 'ı' would pass as 'I'
    except (AttributeError, TypeError):
        raise _not_text(rows) from None
    if all(lines):
        return tuple(lines)
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    if not all(lines):
        raise MrzFormatError(f"line {lines.index('') + 1} is blank; the lines of an MRZ follow each other")
    return tuple(lines)


# Clean-read plans: each check is one C-level gather of its weighted character values (``itemgetter`` of
# precomputed positions into v1 + v3 + v7) and a sum; the positions that may hold only digits (dates,
# numeric parts of a French card number) are cut out with one gather and tested with one ``isdigit``.
_Gather = Callable[[bytes], tuple[int, ...]]
_Sums = tuple[tuple[_Gather, int, slice | None], ...]  # gather, check digit position, '<'-able field
# sums, digit-only parts, nationality, names
_Plan = tuple[_Sums, Callable[[str], tuple[str, ...]], slice, tuple[slice, ...]]


def _plan(layout: Layout, checks: Sequence[Check]) -> _Plan:
    n = layout.width * layout.rows
    sums, digit_parts = [], [slice(0, 0)]  # the empty part makes the gather give a tuple even for one part
    for check in checks:
        positions = [p for a, b in check.spans for p in range(a, b)]
        # weight 7, 3, 1 by position in the concatenated spans -> index into v1 + v3 + v7
        index = [p + n * (2, 1, 0)[i % 3] for i, p in enumerate(positions)]
        empty_lt = slice(*check.spans[0]) if check.empty_lt_ok else None
        sums.append((itemgetter(*index), check.digit_pos, empty_lt))
        digit_parts += [slice(a, b) for a, b in check.digit_spans]
    nationality = slice(*layout.nationality) if layout.nationality else slice(0, 0)
    return tuple(sums), itemgetter(*digit_parts), nationality, tuple(slice(*span) for span in layout.names)


_PLANS = {lay: _plan(lay, lay.checks) for lay in ALL_LAYOUTS}
# long document numbers (TD1, TD2), by the position of their check digit in the optional data
_LONG_PLANS = {
    lay: {cd: _plan(lay, (long_number(lay, cd), *lay.checks[1:])) for cd in range(*lay.optional_data)}
    for lay in (LAYOUT_TD1, LAYOUT_TD2)
}
_LONG_NUMBER_CD = {lay: lay.checks[0].digit_pos for lay in _LONG_PLANS}  # '<' there: perhaps a long number
_V1, _V3, _V7 = WEIGHTED_TABLES


#: Clean reads by total length: (layout, rows, width, plan) of a document and of a visa (first character
#: ``V``) of that size. French cards are told apart from TD2 by :func:`detect_layout`.
_CLEAN_SHAPES = {
    n: tuple((lay, lay.rows, lay.width, _PLANS[lay]) for lay in pair)
    for n, pair in (
        (90, (LAYOUT_TD1, LAYOUT_TD1)),
        (88, (LAYOUT_TD3, LAYOUT_MRVA)),
        (72, (LAYOUT_TD2, LAYOUT_MRVB)),
    )
}


def _all_pass(plan: _Plan, s: str, raw: bytes) -> bool:
    """True when every check of the layout passes as read and no country code or name holds a digit."""
    sums, digit_parts, nationality, names = plan
    if not "".join(digit_parts(s)).isdigit():  # a letter or filler in a date: the general path decides
        return False
    weighted = raw.translate(_V1) + raw.translate(_V3) + raw.translate(_V7)
    for gather, pos, empty_lt in sums:
        digit = s[pos]
        if DIGITS[sum(gather(weighted)) % 10] != digit and (
            empty_lt is None or digit != "<" or s[empty_lt].strip("<")
        ):
            return False
    for name in names:
        if len(raw[name].translate(None, _DIGIT_BYTES)) != name.stop - name.start:
            return False
    codes = s[2:5] + s[nationality]
    return codes.isalpha() or not any(ch.isdigit() for ch in codes)


def _not_text(rows: Sequence[object]) -> MrzFormatError:
    i, bad = next((i, row) for i, row in enumerate(rows, 1) if not isinstance(row, str))
    return MrzFormatError(f"line {i} is {type(bad).__name__} {bad!r}; expected text (str)")


def _illegal_character(lines: Sequence[str]) -> MrzFormatError:
    bad = [(i, j, ch) for i, line in enumerate(lines, 1) for j, ch in enumerate(line, 1) if ch not in _LEGAL]
    i, j, ch = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return MrzFormatError(
        f"line {i}, position {j}: illegal character {ch!r}{more}; an MRZ has only A-Z, 0-9 and '<'"
    )


_LEGAL = frozenset(MRZ_BYTES.decode())


def _passes(s: str, vals: bytes, check: Check) -> bool:
    """True when ``check`` holds on ``s``: its digit spans hold digits and its check digit matches."""
    digit = s[check.digit_pos]
    for a, b in check.digit_spans:
        if not s[a:b].isdigit() and not (check.fillers_ok and is_partial_date(s[a:b])):
            return False
    spans = check.spans
    if len(spans) == 1:
        a, b = spans[0]
        field = vals[a:b]
        if digit == "<" and check.empty_lt_ok:
            return s[a:b].strip("<") == ""
    else:
        field = b"".join([vals[a:b] for a, b in spans])
    return digit == DIGITS[check_value(field)]


def is_partial_date(text: str) -> bool:
    """YYMMDD whose unknown parts are ``<<`` (Doc 9303 Part 3: a partly unknown birth date)."""
    return all(text[i : i + 2].isdigit() or text[i : i + 2] == "<<" for i in (0, 2, 4))


def _where(layout: Layout, pos: int) -> str:
    return f"line {pos // layout.width + 1}, position {pos % layout.width + 1}"


def _repair(
    s: str, layout: Layout, checks: tuple[Check, ...], failed: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """The repaired text and the repairs made (see the module docstring for the policy)."""
    chars = list(s)
    notes: list[str] = []
    names = _repair_names(chars, layout)  # first: a French card's composite covers its names
    for check in checks:  # field checks first: the composite covers their repaired digits
        if check.name not in failed:
            continue
        bad = [
            p
            for a, b in check.digit_spans
            for p in range(a, b)
            if not chars[p].isdigit() and not (check.fillers_ok and chars[p] == "<")
        ]
        if not chars[check.digit_pos].isdigit() and not (check.empty_lt_ok and chars[check.digit_pos] == "<"):
            bad.append(check.digit_pos)
        if not bad or any(chars[p] not in LETTER_TO_DIGIT for p in bad):
            continue
        trial = chars.copy()
        for p in bad:
            trial[p] = LETTER_TO_DIGIT[chars[p]]
        text = "".join(trial)
        if _passes(text, text.encode("ascii").translate(VALUE_TABLE), check) and not (
            any(_long_number_reading_passes(text, layout, p) for p in bad)
            or _long_number_may_end_before("".join(chars), layout, check, checks)
        ):
            for p in bad:
                what = f"{check.name} check digit" if p == check.digit_pos else check.name
                notes.append(f"{what}: {chars[p]!r} -> {trial[p]!r} ({_where(layout, p)})")
            chars = trial
    codes = [("issuing_state", (2, 5))]
    if layout.nationality is not None:
        codes.append(("nationality", layout.nationality))
    for name, (a, b) in codes:
        code = "".join(chars[a:b])
        digits = [i for i, ch in enumerate(code) if ch.isdigit()]
        if not digits or len(digits) > MAX_EDITS or code in COUNTRY_CODES:
            continue
        options = [DIGIT_TO_LETTERS.get(code[i], "") for i in digits]
        found = set()
        for letters in itertools.product(*options):
            candidate = list(code)
            for i, letter in zip(digits, letters, strict=True):
                candidate[i] = letter
            if "".join(candidate) in COUNTRY_CODES:
                found.add("".join(candidate))
        if len(found) == 1:
            fixed = found.pop()
            for i in digits:
                notes.append(f"{name}: {code[i]!r} -> {fixed[i]!r} ({_where(layout, a + i)})")
            chars[a:b] = fixed
    if names:
        text = "".join(chars)
        vals = text.encode("ascii").translate(VALUE_TABLE)
        covering = [c for c in checks if any(a <= p < b for a, b in c.spans for p in names)]
        if all(_passes(text, vals, c) for c in covering):
            notes += [f"name: {s[p]!r} -> {chars[p]!r} ({_where(layout, p)})" for p in names]
        else:  # the check digit that covers the names (French card) does not confirm the reading
            for p in names:
                chars[p] = s[p]
    if notes:
        logger.debug("MRZ repaired", extra={"private": {"corrections": str(notes)}})
    return "".join(chars), tuple(notes)


def _long_number_reading_passes(text: str, layout: Layout, pos: int) -> bool:
    """Whether the '0' a repair put at ``pos`` could as well be a '<' of a long document number (Doc 9303 Part 5
    4.2.4, Part 6 note j) whose own check passes: '<' and '0' count the same in every check digit, so no check
    tells the two readings apart and neither is a repair the check digits confirm. Two places: the number's check
    digit position (a '<' there: a long number, not a short one with check digit 0), and in the optional data (a
    '<' there: the long number ends before, its check digit the '0' read before it, not continued by one more)."""
    first, last = layout.optional_data
    if layout not in _LONG_PLANS or text[pos] != "0" or not (pos == layout.checks[0].digit_pos or first <= pos < last):
        return False
    return _long_number_with_filler_at(text, layout, pos) is not None


def _long_number_may_end_before(text: str, layout: Layout, check: Check, checks: tuple[Check, ...]) -> bool:
    """Whether the long number whose check digit ``check`` repairs could as well end earlier, a filler after its
    true check digit misread as a letter: a '<' put back at one position of the continuation gives a shorter
    number whose check and the composite pass on ``text`` as read (``AE9A1<O`` read ``AE9A1GO``: ``O`` is the
    optional data, not the check digit ``0`` of ``AE9A1G``). Two readings, one change each: not a repair."""
    first = layout.optional_data[0]
    if check.name != "document_number" or layout not in _LONG_PLANS or not first <= check.digit_pos:
        return False
    composite = [c for c in checks if c.name == "composite"]
    for q in range(first, check.digit_pos):
        found = _long_number_with_filler_at(text, layout, q)
        if found is not None and found[1] < check.digit_pos and all(_passes(*found[0], c) for c in composite):
            return True
    return False


def _long_number_with_filler_at(text: str, layout: Layout, pos: int) -> tuple[tuple[str, bytes], int] | None:
    """``text`` with a '<' at ``pos`` (and its values) and the check digit position of the long number it then
    holds, when that number's check passes; else None."""
    alt = text[:pos] + "<" + text[pos + 1 :]
    found = long_number_check(alt, layout)
    if found is None:
        return None
    vals = alt.encode("ascii").translate(VALUE_TABLE)
    return ((alt, vals), found[1]) if _passes(alt, vals, found[0]) else None


def _repair_names(chars: list[str], layout: Layout) -> list[int]:
    """Read each digit of the name fields that has one look-alike letter as that letter; its positions."""
    changed = []
    for a, b in layout.names:
        for p in range(a, b):
            letter = NAME_DIGIT_TO_LETTER.get(chars[p])
            if letter is not None:
                chars[p] = letter
                changed.append(p)
    return changed
