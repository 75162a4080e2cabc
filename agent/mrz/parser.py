"""``parse_mrz``: MRZ text in, checked fields out (ICAO Doc 9303 Parts 3-7, French 1995 identity card).

Hot path (a clean read): normalise, detect the layout, one ``bytes.translate`` to check the character
set and three to get the character values times 1, 3 and 7; each check digit is then one C-level gather
of precomputed positions and one ``sum``. Failure lists, the OCR repair search and the country-code
repair run only when a check fails or a country code holds a digit.

Repair policy (docs/mrz.md "OCR repair"):
- a letter where only a digit may stand (dates, check digits, the numeric parts of a French card number)
  is read as the digit it is usually confused with (O, Q, D -> 0; I, L -> 1; Z -> 2; S -> 5; G -> 6;
  B -> 8); at most ``MAX_EDITS`` per check, and only when that check then passes;
- a digit in a country code is read as a letter (0 -> O, D, Q; 1 -> I, L; ...) only when exactly one
  candidate is a known code;
- alphanumeric fields (document number, optional data) are never changed: there both readings are
  legal, and the composite digit repeats the field's own check, so nothing would confirm a repair.
"""

from __future__ import annotations

import datetime
import itertools
import logging
from collections.abc import Callable, Sequence
from operator import itemgetter

from agent.mrz.checkdigit import DIGITS, MRZ_BYTES, VALUE_TABLE, WEIGHTED_TABLES, check_value
from agent.mrz.countries import COUNTRY_CODES
from agent.mrz.errors import MrzFormatError
from agent.mrz.layouts import ALL_LAYOUTS, LAYOUT_TD1, Check, Layout, detect_layout, td1_long_number_check
from agent.mrz.result import MrzResult, result_from_fields

logger = logging.getLogger(__name__)

#: Most OCR repairs accepted for one check (its digits plus its check digit) or one country code.
MAX_EDITS = 2
#: OCR confusions of a letter printed where only a digit may stand.
LETTER_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6", "B": "8"}
#: The reverse, for letter-only fields (country codes).
DIGIT_TO_LETTERS = {"0": "ODQ", "1": "IL", "2": "Z", "5": "S", "6": "G", "8": "B"}


def parse_mrz(text_or_lines: str | Sequence[str], *, today: datetime.date | None = None) -> MrzResult:
    """Parse and check an MRZ given as one text (lines separated by newlines) or as a sequence of lines.

    Surrounding whitespace and lower case are tolerated. ``today`` (default: the system date) fixes the
    century of the dates. Check-digit failures do not raise: they give ``valid=False``.
    Raises MrzFormatError when the text is not an MRZ (line count, line length, illegal characters).
    """
    lines = _normalise(text_or_lines)
    layout = detect_layout(lines)
    try:
        s = "".join(lines)
    except TypeError:
        raise _not_text(lines) from None
    raw = s.encode("ascii", "replace")
    if raw.translate(None, MRZ_BYTES):
        raise _illegal_character(lines)
    plan = _PLANS[layout]
    long_number = td1_long_number_check(s) if layout is LAYOUT_TD1 and s[14] == "<" else None
    if long_number is not None:
        plan = _TD1_LONG_PLANS[long_number[1]]
    if _all_pass(plan, s, raw) and _codes_are_letters(s, layout):
        return _result(s, layout, long_number, (), (), (), lines, today or datetime.date.today())
    vals = raw.translate(VALUE_TABLE)
    checks = layout.checks
    if long_number is not None:
        checks = (long_number[0],) + checks[1:]
    failed = tuple(c.name for c in checks if not _passes(s, vals, c))
    s, corrections = _repair(s, layout, checks, failed)
    still_failed = failed
    if corrections:
        vals = s.encode("ascii").translate(VALUE_TABLE)
        still_failed = tuple(c.name for c in checks if not _passes(s, vals, c))
    return _result(
        s, layout, long_number, failed, still_failed, corrections, lines, today or datetime.date.today()
    )


def _normalise(text_or_lines: str | Sequence[str]) -> tuple[str, ...]:
    rows = text_or_lines.strip().splitlines() if isinstance(text_or_lines, str) else text_or_lines
    try:
        lines = [row.strip().upper() for row in rows]
    except AttributeError:
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


# Fast path: every check of a layout compiled to (gather of weighted values, check digit position,
# slices that must be digits, slice of a field whose check digit may be '<' when it is empty).
_Plan = tuple[tuple[Callable[[bytes], tuple[int, ...]], int, tuple[slice, ...], slice | None], ...]


def _plan(checks: Sequence[Check], n: int) -> _Plan:
    plan = []
    for check in checks:
        positions = [p for a, b in check.spans for p in range(a, b)]
        # weight 7, 3, 1 by position in the concatenated spans -> index into v1 + v3 + v7
        index = [p + n * (2, 1, 0)[i % 3] for i, p in enumerate(positions)]
        digits = tuple(slice(a, b) for a, b in check.digit_spans)
        empty_lt = slice(*check.spans[0]) if check.empty_lt_ok else None
        plan.append((itemgetter(*index), check.digit_pos, digits, empty_lt))
    return tuple(plan)


_PLANS = {lay: _plan(lay.checks, lay.width * lay.rows) for lay in ALL_LAYOUTS}
# TD1 long document numbers, by the position of their check digit (line 1, positions 16-30)
_TD1_LONG_PLANS = {
    cd: _plan((Check("document_number", ((5, 14), (15, cd)), cd), *LAYOUT_TD1.checks[1:]), 90)
    for cd in range(15, 30)
}
_V1, _V3, _V7 = WEIGHTED_TABLES


def _all_pass(plan: _Plan, s: str, raw: bytes) -> bool:
    """True when every check of the layout passes as read (birth dates with '<' go the slow way)."""
    weighted = raw.translate(_V1) + raw.translate(_V3) + raw.translate(_V7)
    for gather, pos, digit_slices, empty_lt in plan:
        digit = s[pos]
        if DIGITS[sum(gather(weighted)) % 10] != digit and (
            empty_lt is None or digit != "<" or s[empty_lt].strip("<")
        ):
            return False
        for part in digit_slices:
            if not s[part].isdigit():
                return False
    return True


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
        if not s[a:b].isdigit() and not (check.fillers_ok and _is_partial_date(s[a:b])):
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


def _is_partial_date(text: str) -> bool:
    """YYMMDD whose unknown parts are ``<<`` (Doc 9303 Part 3: a partly unknown birth date)."""
    return all(text[i : i + 2].isdigit() or text[i : i + 2] == "<<" for i in (0, 2, 4))


def _codes_are_letters(s: str, layout: Layout) -> bool:
    if layout.nationality is None:
        return not any(ch.isdigit() for ch in s[2:5])
    a, b = layout.nationality
    return (s[2:5].isalpha() and s[a:b].isalpha()) or not any(ch.isdigit() for ch in s[2:5] + s[a:b])


def _where(layout: Layout, pos: int) -> str:
    return f"line {pos // layout.width + 1}, position {pos % layout.width + 1}"


def _repair(
    s: str, layout: Layout, checks: tuple[Check, ...], failed: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """The repaired text and the repairs made (see the module docstring for the policy)."""
    chars = list(s)
    notes: list[str] = []
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
        if not bad or len(bad) > MAX_EDITS or any(chars[p] not in LETTER_TO_DIGIT for p in bad):
            continue
        trial = chars.copy()
        for p in bad:
            trial[p] = LETTER_TO_DIGIT[chars[p]]
        text = "".join(trial)
        if _passes(text, text.encode("ascii").translate(VALUE_TABLE), check):
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
    if notes:
        logger.debug("MRZ repaired: %s", notes)
    return "".join(chars), tuple(notes)


def _clean_name(text: str) -> str:
    if "<<" in text or text[:1] == "<" or text[-1:] == "<":
        return " ".join(text.replace("<", " ").split())
    return text.replace("<", " ")


def _field_getter(layout: Layout) -> Callable[[str], tuple[str, ...]]:
    """One C-level gather of the raw fields of ``layout`` (an absent field reads as ``""``)."""
    none = slice(0, 0)

    def cut(span: tuple[int, int] | None) -> slice:
        return slice(*span) if span is not None else none

    return itemgetter(
        slice(0, 2), slice(2, 5), cut(layout.document_number), cut(layout.nationality), cut(layout.birth_date),
        slice(layout.sex, layout.sex + 1), cut(layout.expiry_date), cut(layout.optional_data),
        cut(layout.optional_data_2),
    )  # fmt: skip


_FIELDS = {lay: _field_getter(lay) for lay in ALL_LAYOUTS}


def _result(
    s: str,
    layout: Layout,
    long_number: tuple[Check, int] | None,
    failed: tuple[str, ...],
    still_failed: tuple[str, ...],
    corrections: tuple[str, ...],
    lines: tuple[str, ...],
    today: datetime.date,
) -> MrzResult:
    if len(layout.names) == 1:
        a, b = layout.names[0]
        name = s[a:b]
        truncated = name[-1] != "<"
        primary, _, secondary = name.rstrip("<").partition("<<")
        surname, given = _clean_name(primary), _clean_name(secondary)
    else:  # French card: surname on line 1, given names on line 2
        (a, b), (c, d) = layout.names
        surname, given = _clean_name(s[a:b].rstrip("<")), _clean_name(s[c:d].rstrip("<"))
        truncated = s[b - 1] != "<" or s[d - 1] != "<"
    code, state, number, nat, birth, sex, expiry, optional, optional_2 = _FIELDS[layout](s)
    if long_number is not None:
        cd = long_number[1]
        number = s[5:14] + s[15:cd]
        optional = s[cd + 1 : 30].strip("<")
    return result_from_fields(
        {
            "format": layout.format,
            "document_code": code.rstrip("<"),
            "issuing_state": state.rstrip("<"),
            "surname": surname,
            "given_names": given,
            "document_number": number.rstrip("<"),
            "nationality": nat.rstrip("<") if layout.nationality is not None else "FRA",
            "birth_date": birth,
            "sex": sex.rstrip("<"),
            "expiry_date": expiry,
            "optional_data": optional.rstrip("<"),
            "optional_data_2": optional_2.rstrip("<"),
            "valid": not still_failed,
            "failed_checks": failed,
            "corrections": corrections,
            "name_truncated": truncated,
            "lines": lines,
            "layout": layout.layout,
            "today": today,
        }
    )
