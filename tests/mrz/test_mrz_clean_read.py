"""The clean-read path of ``parse_mrz`` (a tuple or list of full-length lines of legal characters) gives
exactly the result of the general path (any text: normalised, every check listed, repairs), and
``MrzResult`` behaves like the frozen value it replaced (equality, hashing, repr, immutability)."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.mrz import MrzResult, parse_mrz
from agent.mrz.checkdigit import MRZ_CHARS, check_digit
from agent.mrz.render import render_mrz
from agent.mrz.result import JSON_KEYS
from agent.mrz.specimens import FORMATS, random_fields, render

TODAY = datetime.date(2026, 11, 23)
TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
LOOK_ALIKES = "OQDILZSGB0125689<"


def _everything(r: MrzResult) -> tuple[object, ...]:
    return (r.to_dict(), r.layout, r.name_truncated, r.lines, r.today, repr(r), r.birth_date_value(),
            r.expiry_date_value(), r.is_expired(TODAY))  # fmt: skip


def assert_same_as_general_path(lines: tuple[str, ...]) -> MrzResult:
    """A text (str) always takes the general path; a tuple or list of clean lines takes the clean-read one."""
    general = parse_mrz("\n".join(lines), today=TODAY)
    for rows in (tuple(lines), list(lines)):
        clean = parse_mrz(rows, today=TODAY)
        assert _everything(clean) == _everything(general)
        assert clean == general and hash(clean) == hash(general)
    assert general.to_dict() == _attributes(
        general
    )  # to_dict cuts in one go what the attributes cut one by one
    return general


def _attributes(r: MrzResult) -> dict[str, object]:
    return {
        k: list(getattr(r, k)) if k in ("failed_checks", "corrections") else getattr(r, k) for k in JSON_KEYS
    }


def _mutate(rng: random.Random, lines: tuple[str, ...]) -> tuple[str, ...]:
    s, width = "".join(lines), len(lines[0])
    for _ in range(rng.randint(0, 3)):
        p = rng.randrange(len(s))
        s = s[:p] + rng.choice(MRZ_CHARS + LOOK_ALIKES) + s[p + 1 :]
    return tuple(s[i : i + width] for i in range(0, len(s), width))


def test_clean_read_matches_general_path_on_thousands_of_valid_and_damaged_documents():
    rng = random.Random(2403)
    valid = invalid = repaired = 0
    for _ in range(3000):
        r = assert_same_as_general_path(_mutate(rng, render(random_fields(rng, rng.choice(FORMATS)))))
        valid += r.valid and not r.corrections
        repaired += r.valid and bool(r.corrections)
        invalid += not r.valid
    assert min(valid, invalid, repaired) > 10, (valid, invalid, repaired)  # all three outcomes exercised


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FORMATS), st.randoms(use_true_random=False), st.data())
def test_clean_read_matches_general_path_for_any_character_anywhere(fmt, rnd, data):
    lines = render(random_fields(rnd, fmt))
    s, width = "".join(lines), len(lines[0])
    p = data.draw(st.integers(0, len(s) - 1), label="position")
    s = s[:p] + data.draw(st.sampled_from(MRZ_CHARS), label="character") + s[p + 1 :]
    assert_same_as_general_path(tuple(s[i : i + width] for i in range(0, len(s), width)))


def _td3(**changes: str) -> tuple[str, ...]:
    fields = dict(format="TD3", document_code="P", issuing_state="UTO", surname="ERIKSSON", given_names="ANNA",
                  document_number="L898902C3", nationality="UTO", birth_date="740812", sex="F",
                  expiry_date="300415")  # fmt: skip
    return render_mrz(**(fields | changes))


def _empty_optional_with_filler_check_digit() -> tuple[str, ...]:
    line2 = TD3[1][:28] + "<" * 15
    return TD3[0], line2 + check_digit(line2[0:10] + line2[13:20] + line2[21:43])


EDGE_CASES = {
    "icao-td3": TD3,
    "td3-empty-optional-filler-check-digit": _empty_optional_with_filler_check_digit(),
    "td3-filled-optional-filler-check-digit": (TD3[0], TD3[1][:42] + "<0"),
    "td1-long-number": (
        "I<UTOD23145890<7349<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    ),  # fmt: skip
    "td1-filler-check-digit-not-continued": (
        "I<UTOD23145890<<<<<<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    ),  # fmt: skip
    "partly-unknown-birth-date": _td3(birth_date="74<<<<"),
    "digit-in-country-code": (TD3[0].replace("UTO", "UT0"), TD3[1]),
    "code-with-fillers": _td3(issuing_state="D", nationality="D"),
    "french-1995-card": ("IDFRADOUEL<<<<<<<<<<<<<<<<<<<<932013", "0506932020438CHRISTIANE<<NI2906209F3"),
    "french-card-letter-in-serial": (
        "IDFRADOUEL<<<<<<<<<<<<<<<<<<<<932013",
        "05069320204O8CHRISTIANE<<NI2906209F3",
    ),
    "idfra-td2-with-birth-date": render_mrz(
        format="TD2",
        document_code="ID",
        issuing_state="FRA",
        surname="A",
        given_names="B",
        document_number="X1",
        nationality="FRA",
        birth_date="900101",
        sex="F",
        expiry_date="300101",
    ),  # fmt: skip
}


@pytest.mark.parametrize("lines", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_clean_read_matches_general_path_on_layout_edge_cases(lines):
    assert_same_as_general_path(lines)


def test_lines_needing_normalisation_take_the_general_path_with_the_same_fields():
    messy = parse_mrz([" " + TD3[0].lower(), TD3[1] + "\t"], today=TODAY)
    assert messy == parse_mrz(TD3, today=TODAY) and messy.lines == TD3


def test_result_is_immutable():
    r = parse_mrz(TD3, today=TODAY)
    with pytest.raises(AttributeError):
        r.valid = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        r.surname = "X"  # type: ignore[misc]


def test_results_compare_by_their_fields_not_by_reference_date():
    a = parse_mrz(TD3, today=TODAY)
    b = parse_mrz(list(TD3), today=datetime.date(2001, 1, 1))
    other = parse_mrz((TD3[0], TD3[1][:-1] + "9"), today=TODAY)
    assert a == b and hash(a) == hash(b) and (a != b) is False
    assert a != other and (a == other) is False
    assert a != tuple(a) and tuple(a) != a and a != a.to_dict()
    with pytest.raises(TypeError):
        _ = a < other  # type: ignore[operator]


def test_repr_names_every_compared_field_and_not_the_reference_date():
    text = repr(parse_mrz(TD3, today=TODAY))
    assert text.startswith(
        "MrzResult(format='TD3', document_code='P', issuing_state='UTO', surname='ERIKSSON'"
    )
    assert all(f"{key}=" in text for key in (*JSON_KEYS, "name_truncated", "lines", "layout"))
    assert "today" not in text


def test_to_dict_has_the_json_keys_in_order_with_the_attribute_values():
    for lines in EDGE_CASES.values():
        r = parse_mrz(lines, today=TODAY)
        out = r.to_dict()
        assert list(out) == list(JSON_KEYS)
        assert out == _attributes(r)


@dataclasses.dataclass(frozen=True)
class _Holder:  # like screening.Decision, which holds the parsed MRZ
    mrz: MrzResult


def test_copy_pickle_and_asdict_of_a_holder_rebuild_an_equal_working_result():
    r = parse_mrz(EDGE_CASES["td1-long-number"], today=TODAY)
    rebuilt = [
        copy.copy(r),
        copy.deepcopy(r),
        pickle.loads(pickle.dumps(r)),
        dataclasses.asdict(_Holder(r))["mrz"],
    ]
    for other in rebuilt:
        assert type(other) is MrzResult and other == r and _everything(other) == _everything(r)
