"""Cross-check against an independent implementation: the PyPI package ``mrz`` (test dependency only).

Thousands of generated documents (fixed seed), half of them with one random character changed, go through
both. Every check digit must get the same verdict, and the overall verdicts must agree, except for the
differences documented in docs/mrz.md ("Peer cross-check"), each recognised here by its own rule.
"""

from __future__ import annotations

import collections
import datetime
import random

from mrz.base.countries_ops import is_code as peer_knows_code
from mrz.checker.mrva import MRVACodeChecker
from mrz.checker.mrvb import MRVBCodeChecker
from mrz.checker.td1 import TD1CodeChecker
from mrz.checker.td2 import TD2CodeChecker
from mrz.checker.td3 import TD3CodeChecker

from agent.mrz import MrzResult, parse_mrz
from agent.mrz.checkdigit import MRZ_CHARS
from agent.mrz.specimens import random_fields, render

PEER = {"TD1": TD1CodeChecker, "TD2": TD2CodeChecker, "TD3": TD3CodeChecker, "MRVA": MRVACodeChecker,
        "MRVB": MRVBCodeChecker}  # fmt: skip
PEER_CHECK_NAMES = {"document number hash": "document_number", "birth date hash": "birth_date",
                    "expiry date hash": "expiry_date", "final hash": "composite",
                    "optional data hash": "optional_data"}  # fmt: skip
NUMERIC = {"birth_date": 6, "expiry_date": 6}

TODAY = datetime.date(2026, 11, 23)


def _peer(result: MrzResult):
    return PEER[result.format]("\n".join(result.lines))


def _field_text(result: MrzResult, check: str) -> str:
    """The characters a date check covers, as read, with its check digit."""
    line2 = result.lines[1]
    start = {"TD1": {"birth_date": 0, "expiry_date": 8}}.get(
        result.format, {"birth_date": 13, "expiry_date": 21}
    )
    a = start[check]
    return line2[a : a + 7]


def check_digit_difference(result: MrzResult, check: str, ours_ok: bool) -> str | None:
    """Name of the documented difference that explains a check-digit disagreement, or None."""
    s = "".join(result.lines)
    if result.format == "TD1" and check == "document_number" and ours_ok and s[14] == "<":
        return "td1-long-document-number"  # the peer checks the 9 characters against the '<'
    if check in NUMERIC and not ours_ok:
        text = _field_text(result, check)
        if not text.isdigit() and not (check == "birth_date" and "<<" in text):
            return "letter-in-numeric-field"  # the peer sums letter values; a letter can match by chance
    return None


def _peer_names_wrong(name_field: str) -> bool:
    """The peer's name-structure rule (no digits; at most one '<<'; no identifier starting with '<')."""
    core = name_field.rstrip("<")
    parts = core.split("<<")
    if not core or any(c.isdigit() for c in core) or len(parts) > 2:
        return True
    return any(not p or p.startswith("<") for p in parts)


def verdict_difference(result: MrzResult, reasons: set[str]) -> set[str]:
    """Documented differences behind the peer's extra field rules; raises AssertionError on an unexplained one."""
    explained = set()
    for reason in reasons:
        if reason == "valid genre format":
            assert result.sex not in ("M", "F", ""), result
            explained.add("sex-x")
        elif reason in ("valid country code", "valid nationality code"):
            s = "".join(result.lines)
            a = (
                2
                if reason == "valid country code"
                else {"TD1": 45, "TD2": 46, "MRVB": 46}.get(result.format, 54)
            )
            printed, reported = s[a : a + 3], result.issuing_state if a == 2 else result.nationality
            if printed.rstrip("<") != reported:  # we repaired a digit in the code against the code list
                assert any(c.startswith(("issuing_state", "nationality")) for c in result.corrections), result
                explained.add("country-code-repair")
            else:
                assert not peer_knows_code(printed.replace("<", "")), result
                explained.add("country-code-list")
        elif reason == "identifier":
            name = result.lines[2] if result.format == "TD1" else result.lines[0][5:]
            assert _peer_names_wrong(name), result
            explained.add("name-structure")
        elif reason in ("birth date", "expiry date"):
            birth = _strptime(result.birth_date)
            if birth is not None and birth > datetime.date.today():  # the peer reads the system clock
                birth = birth.replace(year=birth.year - 100)
            expiry = _strptime(result.expiry_date)
            assert birth is None or expiry is None or expiry < birth, result
            explained.add("date-plausibility")
        elif reason == "document type format":
            code = result.lines[0][:2]
            if result.format in ("TD1", "TD2"):
                peer_ok = code[0] in "IAC" and code[1] != "V" and code != "AC"
            else:
                peer_ok = code[0] == ("P" if result.format == "TD3" else "V")
            assert not peer_ok, result
            explained.add("document-code")
        elif reason == "document number format":
            number = "".join(result.lines)[5:14] if result.format == "TD1" else result.lines[1][:9]
            assert number.startswith("<"), result
            explained.add("document-number-format")
        else:
            raise AssertionError(f"unexplained peer verdict {reason!r} for {result.lines}")
    return explained


def _strptime(printed: str) -> datetime.date | None:
    """The peer's reading of a YYMMDD (Python's %y pivot, birth dates moved back a century if future)."""
    try:
        return datetime.datetime.strptime(printed, "%y%m%d").date()
    except ValueError:
        return None


def _corrupt(rng: random.Random, lines: tuple[str, ...]) -> list[str]:
    s = "".join(lines)
    p = rng.randrange(len(s))
    s = s[:p] + rng.choice(MRZ_CHARS) + s[p + 1 :]
    w = len(lines[0])
    return [s[i : i + w] for i in range(0, len(s), w)]


def test_check_digits_and_verdicts_agree_with_mrz_package_except_documented_differences():
    rng = random.Random(20261123)
    seen: collections.Counter[str] = collections.Counter()
    for _ in range(4000):
        fmt = rng.choice(list(PEER))
        lines = render(random_fields(rng, fmt))
        if rng.random() < 0.5:
            lines = tuple(_corrupt(rng, lines))
        ours = parse_mrz(lines, today=TODAY)
        if ours.layout != "ICAO":
            continue
        peer = _peer(ours)
        for name, ok in peer.report.fields:
            if name in PEER_CHECK_NAMES:
                check = PEER_CHECK_NAMES[name]
                ours_ok = check not in ours.failed_checks
                if ours_ok != ok:
                    why = check_digit_difference(ours, check, ours_ok)
                    assert why, (lines, check, ours_ok, ok)
                    seen[why] += 1
        peer_falses = {name for name, ok in peer.report.fields if not ok and name not in PEER_CHECK_NAMES}
        ours_as_read = not ours.failed_checks
        hashes_agree = all(
            (PEER_CHECK_NAMES[n] not in ours.failed_checks) == ok
            for n, ok in peer.report.fields
            if n in PEER_CHECK_NAMES
        )
        if hashes_agree and bool(peer) != ours_as_read:
            assert ours_as_read and not bool(peer), (lines, ours.failed_checks, peer.report.falses)
            seen.update(verdict_difference(ours, peer_falses))
    # the generator makes these on purpose; if one never shows up, the cross-check lost its teeth
    assert {"td1-long-document-number", "sex-x", "country-code-list"} <= set(seen), seen


def test_peer_rejects_td1_long_document_number_that_doc_9303_allows():
    lines = (
        "I<UTOD23145890<7349<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    )
    assert parse_mrz(lines, today=TODAY).valid
    assert ("document number hash", False) in TD1CodeChecker("\n".join(lines)).report.fields


def test_peer_accepts_letter_in_date_when_its_value_matches_the_digit():
    line2 = "L898902C36UTO7408L22F1204159ZE184226B<<<<<10"  # 'L' counts 21, like '1' modulo 10
    lines = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", line2)
    assert ("birth date hash", True) in TD3CodeChecker("\n".join(lines)).report.fields
    r = parse_mrz(lines, today=TODAY)
    assert r.failed_checks[0] == "birth_date" and r.corrections[0].startswith("birth_date: 'L' -> '1'")


def test_peer_rejects_sex_x_that_doc_9303_allows():
    lines = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122X1204159ZE184226B<<<<<10")
    assert parse_mrz(lines, today=TODAY).valid and parse_mrz(lines, today=TODAY).sex == "X"
    assert not TD3CodeChecker("\n".join(lines))
