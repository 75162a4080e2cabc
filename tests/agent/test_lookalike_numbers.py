"""Document numbers a misread could hide a listed one behind with every check digit passing (docs/config.md
"Reasons": ``possible_document_match``). The camera's line model read a document number's ``S`` as ``8`` at
0.97 on an evaluation page (seed 2579000, page 14): ``S`` weighs 28 and ``8`` 8, the same modulo 10, so the
check digit passed and the listed number was never asked about."""

from __future__ import annotations

import json
import random

from agent.hitlist.memory import MemoryHitList
from agent.hitlist.store import HitListStore
from agent.mrz.checkdigit import (
    CHECK_BLIND_TWINS,
    MRZ_CHARS,
    SAME_VALUE,
    TWIN_POSITIONS,
    check_digit,
    lookalike_numbers,
)
from agent.mrz.parser import LETTER_TO_DIGIT
from agent.screening.sources import HIT, REFER
from tests.support.gatesim import CLEAR_DOC, LISTED_DOC, RECORDS, VALID_UNTIL
from tests.support.hitlist_central import Central
from tools.central.online import OnlineLists
from tools.specimens import td3


def test_twins_change_no_check_digit_wherever_they_stand():
    rng = random.Random(3)
    for _ in range(300):
        text = "".join(rng.choice(MRZ_CHARS) for _ in range(rng.randint(1, 14)))
        i = rng.randrange(len(text))
        for a, b in CHECK_BLIND_TWINS.items():
            assert check_digit(text[:i] + a + text[i + 1 :]) == check_digit(text[:i] + b + text[i + 1 :])


def test_the_readers_other_confusions_are_caught_by_the_check_digit_so_they_are_no_twins():
    """O/0, Q/0, D/0, I/1, Z/2, S/5, B/8 (the parser's repairs) change the check digit at every weight; of them only
    G/6 and L/1 do not, and they and S/8, the camera's confusion, are the twins."""
    blind = {(a, b) for a, b in LETTER_TO_DIGIT.items() if all(
        check_digit(a + "<" * k) == check_digit(b + "<" * k) for k in range(3))}
    assert blind == {("G", "6"), ("L", "1")}
    assert {(a, b) for a, b in CHECK_BLIND_TWINS.items() if a.isalpha()} == {("G", "6"), ("L", "1"), ("S", "8")}
    assert all(CHECK_BLIND_TWINS[b] == a for a, b in CHECK_BLIND_TWINS.items())


def test_lookalike_numbers_vary_every_twin_position_together_and_any_one_character_by_its_value():
    others = lookalike_numbers("L898902C3")
    assert "L898902C3" not in others and len(set(others)) == len(others)
    together = [n for n in others if sum(a != b for a, b in zip(n, "L898902C3", strict=True)) > 1]
    assert len(together) == 2**3 - 1 - 3 and "1S9S902C3" in together  # the look-alike twins, several at once
    assert all(n[2] == "9" and n[4:] == "902C3" for n in together)
    singles = set(others) - set(together)  # one character swapped for any of its value modulo 10
    assert singles == {"L898902C3"[:i] + o + "L898902C3"[i + 1 :] for i, c in enumerate("L898902C3") for o in SAME_VALUE[c]}
    assert {"1898902C3", "L898902M3", "L8989U2C3", "L898902CD"} <= singles
    assert all(check_digit(n) == check_digit("L898902C3") for n in others)
    assert lookalike_numbers("") == () and lookalike_numbers("l898902c3") == ()  # no MRZ text, no look-alikes
    # bounded: the combinations, and the singles (8 as I or S) less the S at the combinations' places
    assert len(lookalike_numbers("8" * 12)) == 2**TWIN_POSITIONS - 1 + 12 * 2 - TWIN_POSITIONS


def test_same_value_characters_change_no_check_digit_and_every_character_has_some():
    assert SAME_VALUE["3"] == ("D", "N", "X") and set(SAME_VALUE["<"]) == {"0", "A", "K", "U"}
    assert all(2 <= len(SAME_VALUE[c]) <= 4 for c in MRZ_CHARS)
    for c in MRZ_CHARS:
        for o in SAME_VALUE[c]:
            assert all(check_digit("A" * k + c + "<") == check_digit("A" * k + o + "<") for k in range(3))
            assert c in SAME_VALUE[o]


def test_a_read_one_check_blind_character_away_from_a_listed_number_refers(make_gate):
    """A partly covered character read as another of its value modulo 10 (``C`` 12 as ``M`` 22): every check
    digit passes, and the listed number is asked about as a look-alike."""
    gate = make_gate()
    misread = td3("UTO", "ERIKSSON", "ANNA MARIA", "L898902M3", "740812", "F", VALID_UNTIL, optional="ZE184226B")
    decision = gate.swipe(misread)
    assert decision.verdict == REFER and decision.reasons == ("possible_document_match:stolen",)


def test_a_read_hiding_a_listed_number_behind_a_twin_refers_never_clears(make_gate):
    gate = make_gate()
    misread = td3("UTO", "ERIKSSON", "ANNA MARIA", "LS98902C3", "740812", "F", VALID_UNTIL, optional="ZE184226B")
    decision = gate.swipe(misread)
    assert decision.verdict == REFER and decision.reasons == ("possible_document_match:stolen",)
    event = gate.events()[-1]
    assert [(m["kind"], m["ref"], m["strength"]) for m in event["matches"]] == [("document", "SLTD-0001", "weak")]
    assert make_gate().swipe(LISTED_DOC).verdict == HIT  # the exact number: still a HIT
    assert make_gate().swipe(CLEAR_DOC).verdict == "CLEAR"  # C01X00T47's twin C0LX00T47 is not listed


def test_the_signed_store_and_the_memory_list_give_the_same_possible_match(make_gate, tmp_path):
    central = Central(list_id="sltd")
    store = HitListStore(tmp_path / "store", central.root_pub)
    store.install(central.snapshot(RECORDS, 1), now=central.now)
    misread = td3("UTO", "ERIKSSON", "ANNA MARIA", "1898902C3", "740812", "F", VALID_UNTIL, optional="ZE184226B")
    for hitlist in (store, MemoryHitList(RECORDS, version=1)):
        decision = make_gate(hitlist=hitlist).swipe(misread)
        assert decision.verdict == REFER and decision.reasons[0] == "possible_document_match:stolen"
        assert not any(r.startswith("listed_") for r in decision.reasons)


def test_the_centres_online_lookup_finds_the_same_possible_match(tmp_path):
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    online = OnlineLists(extra={"records": tmp_path / "records.jsonl"})
    found = online.lookup({"document": ["UTO", "LS98902C3"]}).hit
    assert found is not None and (found.kind, found.reason, found.strength) == ("document", "stolen", "weak")
    exact = online.lookup({"document": ["UTO", "L898902C3"]}).hit
    assert exact is not None and exact.strength == "exact"
    assert online.lookup({"document": ["UTO", "C01X00T47"]}).hit is None
    assert online.lookup({"document": ["UTO", "8" * 100_000]}).hit is None  # hostile: no 255 copies made
    assert lookalike_numbers("8" * 45) == ()


def test_a_one_character_number_has_no_look_alike_of_fillers_alone_and_is_screened_clear(make_gate, caplog):
    """``0`` is worth what ``<`` is: swapped, it would leave no number to look up, the list would refuse it and
    the gate would refer the document as if the list were unavailable (seen on camera gate frames)."""
    assert "<" not in lookalike_numbers("0") and set(lookalike_numbers("0")) == {"A", "K", "U"}
    short = td3("UTO", "ERIKSSON", "ANNA MARIA", "0", "740812", "F", VALID_UNTIL)
    decision = make_gate().swipe(short)
    assert decision.verdict == "CLEAR" and decision.reasons == ()
    assert "hit-list lookup failed" not in caplog.text
