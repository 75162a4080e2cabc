"""Known specimens: ICAO Doc 9303 examples and specimens written for this project."""

from __future__ import annotations

import datetime

import pytest

from agent.mrz import MrzResult, parse_mrz
from agent.mrz.specimens import render

TODAY = datetime.date(2026, 11, 23)

# ICAO Doc 9303 Part 4 (TD3), Part 5 (TD1), Part 6 (TD2), Part 7 (MRV-A, MRV-B) specimens.
TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
TD1 = ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
TD1_LONG = (
    "I<UTOD23145890<7349<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
)
TD2 = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")
# Part 6 note j: the specimen's number three characters longer, continued in the optional data (positions 29-35)
TD2_LONG = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D23145890<UTO7408122F12041591233<<<4")
MRVA = ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L8988901C4XXX4009078F96121096ZE184226B<<<<<<")
MRVB = ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<")
# French national identity card, 1995-2021 layout (a published specimen of the layout).
FRA = ("IDFRADOUEL<<<<<<<<<<<<<<<<<<<<932013", "0506932020438CHRISTIANE<<NI2906209F3")


def parse(lines: tuple[str, ...]) -> MrzResult:
    return parse_mrz(lines, today=TODAY)


def test_icao_td3_specimen_fields_and_checks():
    r = parse(TD3)
    assert r.to_dict() == {
        "format": "TD3", "document_code": "P", "issuing_state": "UTO", "surname": "ERIKSSON",
        "given_names": "ANNA MARIA", "document_number": "L898902C3", "nationality": "UTO",
        "birth_date": "740812", "sex": "F", "expiry_date": "120415", "optional_data": "ZE184226B",
        "optional_data_2": "", "valid": True, "failed_checks": [], "corrections": [],
    }  # fmt: skip
    assert r.lines == TD3 and r.layout == "ICAO" and not r.name_truncated


# Each specimen's fields as parsed (the ICAO ones from Doc 9303; the French card is full to the last
# given-names character, so the name is reported as truncated).
SPECIMEN_FIELDS = {
    "icao-td1": (TD1, {"format": "TD1", "document_code": "I", "document_number": "D23145890", "nationality": "UTO",
                       "sex": "F", "surname": "ERIKSSON", "given_names": "ANNA MARIA", "optional_data": "",
                       "optional_data_2": "", "valid": True, "failed_checks": ()}),
    "icao-td2": (TD2, {"format": "TD2", "document_number": "D23145890", "birth_date": "740812",
                       "expiry_date": "120415", "valid": True}),
    "fra-1995": (FRA, {"format": "TD2", "layout": "FRA_1995", "document_code": "ID", "issuing_state": "FRA",
                       "nationality": "FRA", "surname": "DOUEL", "given_names": "CHRISTIANE NI",
                       "document_number": "050693202043", "birth_date": "290620", "sex": "F", "expiry_date": "",
                       "optional_data": "932013", "valid": True, "name_truncated": True}),
}  # fmt: skip


@pytest.mark.parametrize(("lines", "expected"), SPECIMEN_FIELDS.values(), ids=SPECIMEN_FIELDS.keys())
def test_specimen_fields_and_all_check_digits(lines, expected):
    r = parse(lines)
    assert {name: getattr(r, name) for name in expected} == expected


def test_td1_long_document_number_continues_in_optional_data():
    r = parse(TD1_LONG)
    assert r.valid and r.document_number == "D23145890734" and r.optional_data == ""


def test_td1_long_document_number_with_wrong_tail_check_fails():
    lines = (TD1_LONG[0].replace("7349", "7348"), *TD1_LONG[1:])
    r = parse(lines)
    assert not r.valid and "document_number" in r.failed_checks


def test_filler_after_a_long_numbers_check_digit_misread_as_o_is_not_repaired_into_a_longer_number():
    # the mirror case (found by Hypothesis): the '<' after long number AAAAAAAAAA's check digit 0 read 'O' would
    # pass, repaired to '0', as the number AAAAAAAAAA0 with check digit 0: '<' and '0' count the same everywhere
    fields = {"format": "TD1", "layout": "ICAO", "document_code": "IA", "issuing_state": "UTO", "surname": "A",
              "given_names": "", "document_number": "AAAAAAAAAA", "nationality": "UTO", "birth_date": "310101",
              "sex": "M", "expiry_date": "320101", "optional_data": "", "optional_data_2": ""}  # fmt: skip
    printed = render(fields)
    assert printed[0][14:18] == "<A0<" and parse(printed).document_number == "AAAAAAAAAA"
    for letter in "OQD":
        r = parse((printed[0][:17] + letter + printed[0][18:], *printed[1:]))
        assert not r.valid and "document_number" in r.failed_checks and not r.corrections, letter


def test_filler_after_a_long_numbers_check_digit_misread_as_a_letter_makes_no_repair_of_the_optional_data():
    # found by Hypothesis: long number AAAAAAAAAAE9A (check digit 1), then '<' and optional data 'O'; the '<' read
    # 'G' made the number run on to AAAAAAAAAAE9A1G, its "check digit" the 'O', which repaired to '0' passed both
    # its check and the composite: one misread repaired by a change elsewhere, into another document number
    fields = {"format": "TD1", "layout": "ICAO", "document_code": "IA", "issuing_state": "ABW", "surname": "A",
              "given_names": "", "document_number": "AAAAAAAAAAE9A", "nationality": "ABW", "birth_date": "310101",
              "sex": "M", "expiry_date": "120101", "optional_data": "O", "optional_data_2": ""}  # fmt: skip
    printed = render(fields)
    assert printed[0][14:23] == "<AE9A1<O<" and parse(printed).document_number == "AAAAAAAAAAE9A"
    r = parse((printed[0][:20] + "G" + printed[0][21:], *printed[1:]))
    assert not r.valid and "document_number" in r.failed_checks and not r.corrections


def test_td2_long_document_number_continues_in_optional_data():
    r = parse(TD2_LONG)
    assert r.valid and r.failed_checks == () and r.document_number == "D23145890123" and r.optional_data == ""
    assert r.to_dict()["document_number"] == "D23145890123"
    wrong_tail = (TD2_LONG[0], TD2_LONG[1].replace("1233<", "1234<"))
    assert "document_number" in parse(wrong_tail).failed_checks


def test_td1_long_number_filler_misread_as_o_is_not_repaired_into_a_short_number():
    # '<' and '0' count the same in every check digit: nine A's check to 0, so the 'O' read where this long
    # number's '<' is printed would pass as the short number AAAAAAAAA with check digit '0' (found by Hypothesis)
    fields = {"format": "TD1", "layout": "ICAO", "document_code": "IA", "issuing_state": "UTO", "surname": "A",
              "given_names": "", "document_number": "AAAAAAAAAA", "nationality": "UTO", "birth_date": "310101",
              "sex": "M", "expiry_date": "320101", "optional_data": "", "optional_data_2": ""}  # fmt: skip
    printed = render(fields)
    assert parse(printed).valid and parse(printed).document_number == "AAAAAAAAAA"
    misread = (printed[0][:14] + "O" + printed[0][15:], *printed[1:])
    r = parse(misread)
    assert not r.valid and "document_number" in r.failed_checks and not r.corrections


@pytest.mark.parametrize(("lines", "fmt", "optional"), [(MRVA, "MRVA", "6ZE184226B"), (MRVB, "MRVB", "")],
                         ids=["mrv-a", "mrv-b"])  # fmt: skip
def test_icao_visa_specimens_have_no_composite(lines, fmt, optional):
    r = parse(lines)
    assert (r.format, r.document_code, r.nationality, r.optional_data) == (fmt, "V", "XXX", optional)
    assert r.valid
    # a visa has no composite digit: changing optional data changes nothing checked
    changed = parse((lines[0], lines[1][:28] + "X" + lines[1][29:]))
    assert changed.valid


def test_french_card_composite_covers_names_on_both_lines():
    r = parse((FRA[0].replace("DOUEL", "DOUEM"), FRA[1]))
    assert r.failed_checks == ("composite",) and not r.valid


def test_french_card_expiry_derived_from_issue_month_and_age():
    r = parse(FRA)  # issued 2005-06 to an adult: 15 years
    assert r.expiry_date_value() == datetime.date(2020, 5, 31)
    assert r.is_expired(datetime.date(2020, 6, 1)) and not r.is_expired(datetime.date(2020, 5, 31))


@pytest.mark.parametrize("code", ["I<", "AC", "X9"])
def test_a_td3_whose_code_is_not_p_still_parses_as_td3_and_its_code_enters_no_check(code):
    """docs/mrz.md "Layouts": the document code is covered by no check digit; the screening stage judges it."""
    r = parse((code + TD3[0][2:], TD3[1]))
    assert (r.format, r.document_code, r.valid, r.corrections) == ("TD3", code.rstrip("<"), True, ())


def test_td2_with_idfra_prefix_and_birth_date_is_plain_td2():
    from agent.mrz.render import render_mrz

    lines = render_mrz(format="TD2", document_code="ID", issuing_state="FRA", surname="MARTIN", given_names="LEA",
                       document_number="X4RTBPFW4", nationality="FRA", birth_date="900101", sex="F",
                       expiry_date="300101")  # fmt: skip
    r = parse(lines)
    assert (r.layout, r.birth_date, r.valid) == ("ICAO", "900101", True)


@pytest.mark.parametrize("digit", ["<", "0"], ids=["filler", "zero"])
def test_td3_empty_optional_data_accepts_filler_or_zero_check_digit(digit):
    line2 = "L898902C36UTO7408122F1204159<<<<<<<<<<<<<<" + digit
    from agent.mrz.checkdigit import check_digit

    line2 += check_digit(line2[0:10] + line2[13:20] + line2[21:43])
    r = parse((TD3[0], line2))
    assert r.valid and r.optional_data == ""


def test_td3_filled_optional_data_rejects_filler_check_digit():
    line2 = TD3[1][:42] + "<"
    r = parse((TD3[0], line2 + "0"))
    assert "optional_data" in r.failed_checks and not r.valid


def test_surrounding_whitespace_and_lower_case_are_tolerated():
    text = "\n  " + TD3[0].lower() + "  \r\n\t" + TD3[1].lower() + " \n\n"
    assert parse_mrz(text, today=TODAY) == parse(TD3)


def test_names_fillers_removed_and_single_spaces():
    line1 = "P<UTOVAN<DER<BERG<<MARIE<<ANNE<<<<<<<<<<<<<<"
    r = parse((line1, TD3[1]))
    assert (r.surname, r.given_names) == ("VAN DER BERG", "MARIE ANNE")


def test_name_filling_the_whole_field_is_flagged_truncated():
    line1 = "P<UTO" + "ERIKSSONSDOTTIRSO<<ANNAMARIALOUISEKAREN"
    assert len(line1) == 44
    r = parse((line1, TD3[1]))
    assert r.name_truncated and r.given_names == "ANNAMARIALOUISEKAREN"


def test_sex_filler_reported_empty():
    line2 = TD3[1][:20] + "<" + TD3[1][21:]
    r = parse((TD3[0], line2))
    assert r.sex == "" and r.valid  # sex is not covered by any check digit


def test_partly_unknown_birth_date_with_filler_pairs_is_valid():
    from agent.mrz.render import render_mrz

    lines = render_mrz(format="TD3", document_code="P", issuing_state="UTO", surname="ERIKSSON", given_names="ANNA",
                       document_number="L898902C3", nationality="UTO", birth_date="74<<<<", sex="F",
                       expiry_date="300415")  # fmt: skip
    r = parse(lines)
    assert r.valid and r.birth_date == "74<<<<" and r.birth_date_value() is None


def test_single_filler_inside_birth_date_fails():
    from agent.mrz.render import render_mrz

    lines = render_mrz(format="TD3", document_code="P", issuing_state="UTO", surname="ERIKSSON", given_names="ANNA",
                       document_number="L898902C3", nationality="UTO", birth_date="7408<0", sex="F",
                       expiry_date="300415")  # fmt: skip
    assert parse(lines).failed_checks == ("birth_date",)
