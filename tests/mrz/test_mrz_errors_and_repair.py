"""Not-an-MRZ errors, OCR repair driven by check digits, and the date rules."""

from __future__ import annotations

import datetime

import pytest

from agent.errors import BadDataError
from agent.mrz import MrzFormatError, parse_mrz
from agent.mrz.render import render_mrz

TODAY = datetime.date(2026, 11, 23)
TD3_1 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
TD3_2 = "L898902C36UTO7408122F1204159ZE184226B<<<<<10"

NOT_MRZ = [
    ("", "got 0 lines"),
    (TD3_1, "got 1 line;"),
    ("\n".join([TD3_1, TD3_2, TD3_2, TD3_2]), "got 4 lines"),
    ("\n".join([TD3_1, TD3_2[:-1]]), "line 2 has 43 characters; expected 44 like line 1"),
    ("\n".join([TD3_1[:40], TD3_2[:40]]), "line 1 has 40 characters"),
    ("\n".join(["I" * 30, "I" * 30, "I" * 29]), "line 3 has 29 characters; a 3-line MRZ"),
    ("\n".join([TD3_1, TD3_2[:7] + "*" + TD3_2[8:]]), r"line 2, position 8: illegal character '\*'"),
    (
        "\n".join([TD3_1.replace("<", " ", 3), TD3_2]),
        r"line 1, position 2: illegal character ' ' \(and 2 more\)",
    ),
    ("\n".join([TD3_1, TD3_2[:10] + "É" + TD3_2[11:]]), "line 2, position 11: illegal character 'É'"),
    ("\n".join([TD3_1, "", TD3_2]), "line 2 is blank"),
]
NOT_MRZ_IDS = ["empty", "one-line", "four-lines", "short-second-line", "40-wide", "td1-short-third",
               "asterisk", "spaces-for-fillers", "non-ascii", "blank-line-inside"]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), NOT_MRZ, ids=NOT_MRZ_IDS)
def test_not_an_mrz_is_rejected_with_what_is_wrong(text, message):
    with pytest.raises(MrzFormatError, match=message) as info:
        parse_mrz(text, today=TODAY)
    assert "ERIKSSON" not in str(info.value) and "L898902" not in str(info.value)  # no line quoted: names, logs


@pytest.mark.parametrize(("line", "char", "message"), [
    (TD3_1.replace("MARIA", "MARıA"), "ı", "illegal character 'ı'"),  # dotless i: upper-cases to I
    (TD3_1.replace("ERIKSSON", "ERIKSſON"), "ſ", "illegal character 'ſ'"),  # long s: upper-cases to S
    (TD3_1.replace("ERIKSSON", "ERIKßON"), "ß", "line 1 has 43 characters"),  # upper-cases to SS: 44 then
], ids=["dotless-i", "long-s", "sharp-s"])
def test_letters_outside_ascii_that_upper_case_to_mrz_letters_are_illegal(line, char, message):
    """``str.upper`` maps these onto MRZ letters; a line holding one was read as a valid MRZ."""
    from agent.mrz.checkdigit import check_digit

    with pytest.raises(MrzFormatError, match=message):
        parse_mrz("\n".join([line, TD3_2]), today=TODAY)
    with pytest.raises(ValueError, match="outside A-Z"):
        check_digit("L898902C" + char)


def test_format_error_is_bad_data_and_value_error():
    with pytest.raises(BadDataError):
        parse_mrz("x")
    with pytest.raises(ValueError):
        parse_mrz("x")


def test_non_text_line_is_rejected():
    with pytest.raises(MrzFormatError, match="line 2 is bytes"):
        parse_mrz([TD3_1, TD3_2.encode()])  # type: ignore[list-item]


def test_letter_o_in_dates_and_check_digit_repaired_and_listed():
    r = parse_mrz([TD3_1, "L898902C36UTO74O8122F12O4159ZE184226B<<<<<1O"], today=TODAY)
    assert r.valid and r.birth_date == "740812" and r.expiry_date == "120415"
    assert r.failed_checks == ("birth_date", "expiry_date", "composite")  # as read
    assert r.corrections == (
        "birth_date: 'O' -> '0' (line 2, position 16)",
        "expiry_date: 'O' -> '0' (line 2, position 24)",
        "composite check digit: 'O' -> '0' (line 2, position 44)",
    )


@pytest.mark.parametrize(("letter", "digit"), [("L", "1"), ("G", "6"), ("B", "8"), ("S", "5"), ("Z", "2"), ("I", "1"),
                                               ("Q", "0"), ("D", "0")],
                         ids=["L-1", "G-6", "B-8", "S-5", "Z-2", "I-1", "Q-0", "D-0"])  # fmt: skip
def test_each_confusion_in_a_date_is_repaired(letter, digit):
    lines = render_mrz(format="TD3", document_code="P", issuing_state="UTO", surname="A", given_names="B",
                       document_number="X1", nationality="UTO", birth_date="561218", sex="F",
                       expiry_date="301256")  # fmt: skip
    clean = parse_mrz(lines, today=TODAY)
    i = next(i for i in [*range(13, 19), *range(21, 27)] if lines[1][i] == digit)
    broken = lines[1][:i] + letter + lines[1][i + 1 :]
    r = parse_mrz([lines[0], broken], today=TODAY)
    assert r.valid and r.lines[1] == broken and len(r.corrections) == 1 and r.failed_checks
    assert (r.birth_date, r.expiry_date) == (clean.birth_date, clean.expiry_date)


def test_letter_check_passing_only_by_chance_is_still_listed_as_failed_as_read():
    # 'L' (21) and '1' weigh the same modulo 10, so the check digit alone cannot see it; the letter is illegal.
    r = parse_mrz([TD3_1, TD3_2[:13] + "7408L2" + TD3_2[19:]], today=TODAY)
    assert r.failed_checks == ("birth_date",) and r.valid and r.birth_date == "740812"


def test_confusion_that_does_not_make_the_check_pass_is_not_applied():
    line2 = TD3_2[:13] + "7408B2" + TD3_2[19:]  # B -> 8 gives 740882, which fails the check
    r = parse_mrz([TD3_1, line2], today=TODAY)
    assert not r.valid and r.birth_date == "7408B2" and r.corrections == ()


def test_letters_whose_digits_fail_the_check_are_not_repaired():
    line2 = TD3_2[:13] + "7OO8I2" + TD3_2[19:]  # read as 700812, which fails the birth date's check digit
    r = parse_mrz([TD3_1, line2], today=TODAY)
    assert not r.valid and r.corrections == () and "birth_date" in r.failed_checks


def _td3(surname="ERIKSSON", birth_date="751025"):
    return render_mrz(format="TD3", document_code="P", issuing_state="UTO", surname=surname, given_names="ANNA",
                      document_number="X1", nationality="UTO", birth_date=birth_date, sex="F", expiry_date="301256")  # fmt: skip


def test_a_date_read_all_in_letters_is_repaired_when_its_check_digit_then_passes():
    line1, line2 = _td3()
    r = parse_mrz([line1, line2.replace("751025", "7SIOZS")], today=TODAY)
    assert r.valid and r.birth_date == "751025" and r.failed_checks == ("birth_date", "composite")
    assert r.corrections == tuple(f"birth_date: {a!r} -> {b!r} (line 2, position {p})"
                                  for a, b, p in zip("SIOZS", "51025", range(15, 20), strict=True))  # fmt: skip


def test_digits_in_a_name_read_as_their_one_look_alike_letter_and_listed():
    line1, line2 = _td3()
    r = parse_mrz([line1.replace("ERIKSSON", "ERIK55ON"), line2], today=TODAY)
    assert r.valid and r.surname == "ERIKSSON" and r.failed_checks == ()
    assert r.corrections == ("name: '5' -> 'S' (line 1, position 10)", "name: '5' -> 'S' (line 1, position 11)")
    assert r.lines[0].startswith("P<UTOERIK55ON")  # the lines stay as read


@pytest.mark.parametrize(("printed", "repaired"), [("8ORG", "BORG"), ("ZA6ER", "ZAGER"), ("2ANE", "ZANE")],
                         ids=["8-B", "6-G", "2-Z"])  # fmt: skip
def test_each_unambiguous_name_digit_is_repaired(printed, repaired):
    r = parse_mrz(_td3(surname=printed), today=TODAY)
    assert r.surname == repaired and len(r.corrections) == 1 and r.valid


@pytest.mark.parametrize("printed", ["ERIK0SON", "ER1KSSON", "ERIK7SON"], ids=["0-O-D-Q", "1-I-L", "7-none"])
def test_name_digit_with_several_or_no_look_alikes_stays_as_read(printed):
    r = parse_mrz(_td3(surname=printed), today=TODAY)
    assert r.surname == printed and r.corrections == ()


def _french_card():
    return render_mrz(format="TD2", layout="FRA_1995", document_code="ID", issuing_state="FRA", surname="BASSE",
                      given_names="GEORGES", document_number="100375212345", nationality="FRA", birth_date="050101",
                      sex="F", optional_data="752001")  # fmt: skip


def test_french_card_name_digits_repaired_only_when_the_composite_then_passes():
    line1, line2 = _french_card()
    r = parse_mrz([line1.replace("BASSE", "BA55E"), line2.replace("GEORGES", "GEOR6ES")], today=TODAY)
    assert r.valid and (r.surname, r.given_names) == ("BASSE", "GEORGES") and len(r.corrections) == 3
    # 8 -> B gives GEORBES, which the composite refuses: no name is changed, the card stays invalid
    r = parse_mrz([line1.replace("BASSE", "BA5SE"), line2.replace("GEORGES", "GEOR8ES")], today=TODAY)
    assert not r.valid and (r.surname, r.given_names) == ("BA5SE", "GEOR8ES") and r.corrections == ()


def test_document_number_is_never_repaired():
    # O for 0 in an alphanumeric field: both are legal there, nothing independent confirms a repair
    r = parse_mrz(["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
                   .replace("L898902C3", "L8989O2C3")], today=TODAY)  # fmt: skip
    assert not r.valid and r.document_number == "L8989O2C3" and r.corrections == ()


def test_digit_in_country_code_repaired_only_against_the_code_list():
    r = parse_mrz([TD3_1.replace("UTO", "UT0"), TD3_2.replace("UTO", "UT0")], today=TODAY)
    assert (r.issuing_state, r.nationality, r.valid) == ("UTO", "UTO", True)
    assert r.corrections == ("issuing_state: '0' -> 'O' (line 1, position 5)",
                             "nationality: '0' -> 'O' (line 2, position 13)")  # fmt: skip


@pytest.mark.parametrize(("printed", "repaired"), [("1SL", "ISL"), ("1RL", "IRL"), ("B0L", "BOL"), ("0MN", "OMN")],
                         ids=["1-I", "1-I-again", "0-O", "0-O-first"])  # fmt: skip
def test_country_code_repair_with_one_candidate(printed, repaired):
    assert parse_mrz([TD3_1.replace("UTO", printed), TD3_2], today=TODAY).issuing_state == repaired


@pytest.mark.parametrize("printed", ["A1A", "GB0", "5V0"], ids=["AIA-or-ALA", "GBO-or-GBD", "no-candidate"])
def test_country_code_with_two_or_no_candidates_is_not_repaired(printed):
    r = parse_mrz([TD3_1.replace("UTO", printed), TD3_2], today=TODAY)
    assert r.issuing_state == printed and r.corrections == ()


@pytest.mark.parametrize(("printed", "expected"), [("740812", datetime.date(1974, 8, 12)), ("261123", datetime.date(2026, 11, 23)),
                                                   ("261124", datetime.date(1926, 11, 24)), ("000229", datetime.date(2000, 2, 29)),
                                                   ("741312", None), ("74<<<<", None)],
                         ids=["1974", "today", "tomorrow-is-last-century", "leap-day", "month-13", "unknown"])  # fmt: skip
def test_birth_date_is_never_in_the_future(printed, expected):
    lines = render_mrz(format="TD3", document_code="P", issuing_state="UTO", surname="A", given_names="B",
                       document_number="X1", nationality="UTO", birth_date=printed, sex="F", expiry_date="300101")  # fmt: skip
    assert parse_mrz(lines, today=TODAY).birth_date_value() == expected


@pytest.mark.parametrize(("printed", "expected"), [("461123", datetime.date(2046, 11, 23)), ("471123", datetime.date(1947, 11, 23)),
                                                   ("120415", datetime.date(2012, 4, 15)), ("991231", datetime.date(1999, 12, 31))],
                         ids=["plus-20-years", "past-window", "2012", "1999"])  # fmt: skip
def test_expiry_date_century_window(printed, expected):
    lines = render_mrz(format="TD3", document_code="P", issuing_state="UTO", surname="A", given_names="B",
                       document_number="X1", nationality="UTO", birth_date="740812", sex="F", expiry_date=printed)  # fmt: skip
    assert parse_mrz(lines, today=TODAY).expiry_date_value() == expected


def test_is_expired_relative_to_the_given_day():
    r = parse_mrz([TD3_1, TD3_2], today=TODAY)  # expires 2012-04-15
    assert not r.is_expired(datetime.date(2012, 4, 15))
    assert r.is_expired(datetime.date(2012, 4, 16))


def test_unreadable_expiry_date_counts_as_expired():
    lines = render_mrz(format="TD3", document_code="P", issuing_state="UTO", surname="A", given_names="B",
                       document_number="X1", nationality="UTO", birth_date="740812", sex="F", expiry_date="301340")  # fmt: skip
    r = parse_mrz(lines, today=TODAY)
    assert r.valid and r.expiry_date_value() is None and r.is_expired(TODAY)


def test_french_card_minor_gets_ten_years():
    lines = render_mrz(format="TD2", layout="FRA_1995", document_code="ID", issuing_state="FRA", surname="PETIT",
                       given_names="LOU", document_number="100375212345", nationality="FRA", birth_date="050101",
                       sex="F", optional_data="752001")  # fmt: skip
    r = parse_mrz(lines, today=TODAY)
    assert r.valid and r.expiry_date_value() == datetime.date(2020, 2, 29)


def test_repairs_are_logged_only_at_debug_level(caplog):
    import logging

    with caplog.at_level(logging.INFO):
        parse_mrz([TD3_1, "L898902C36UTO74O8122F12O4159ZE184226B<<<<<1O"], today=TODAY)
    assert caplog.records == []  # no MRZ contents or names above DEBUG


@pytest.mark.parametrize(("field", "value", "message"), [("document_number", "L898902C3X", "longer than its 9"),
                                                         ("issuing_state", "UTOP", "longer than its 3"),
                                                         ("format", "TD4", "unknown format 'TD4'")],
                         ids=["number-too-long", "state-too-long", "unknown-format"])  # fmt: skip
def test_render_refuses_fields_that_do_not_fit(field, value, message):
    fields = dict(format="TD3", document_code="P", issuing_state="UTO", surname="A", given_names="B",
                  document_number="X1", nationality="UTO", birth_date="740812", sex="F", expiry_date="300101")  # fmt: skip
    fields[field] = value
    with pytest.raises(ValueError, match=message):
        render_mrz(**fields)


def test_check_digit_of_icao_examples_and_illegal_text():
    from agent.mrz.checkdigit import check_digit

    assert [check_digit(x) for x in ("L898902C3", "740812", "120415", "ZE184226B<<<<<")] == [
        "6",
        "2",
        "9",
        "1",
    ]
    with pytest.raises(ValueError, match="outside A-Z"):
        check_digit("74-08")
