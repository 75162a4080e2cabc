"""Screening on simulated hardware: each decision, its event and the exact indicator registers."""

from __future__ import annotations

import dataclasses
import sqlite3
import time

import pytest

from agent.config import ScreeningConfig
from agent.hitlist.memory import MemoryHitList
from agent.outbox import PRIORITY_HIT, PRIORITY_ROUTINE
from tests.support.gatesim import (
    BAD_CHECK_DOC,
    CLEAR_DOC,
    EXPIRED_DOC,
    LISTED_DOC,
    LISTED_PERSON,
    PCA,
    RECORDS,
    TRUNCATED_NAME_DOC,
    VALID_UNTIL,
)
from tests.support.paths import DATA
from tools.specimens import td3

FRAMES = DATA / "frames"
AMBER = (255, 120, 0)
BOARD_CLEAR = {"colour": (0, 255, 0), "buzzer_duty": 0.0, "relay_energised": True}
BOARD_HIT = {"colour": (255, 0, 0), "buzzer_duty": 0.5, "relay_energised": False}
BOARD_REFER = {"colour": AMBER, "buzzer_duty": 0.0, "relay_energised": False}


def board_without_pwm(gate):
    return {k: v for k, v in gate.board().items() if k != "pwm_hz"}


def test_clear_shows_green_and_pulses_the_relay_open(make_gate):
    gate = make_gate()
    decision = gate.swipe(CLEAR_DOC)
    assert (decision.verdict, decision.reasons) == ("CLEAR", ())
    assert board_without_pwm(gate) == BOARD_CLEAR
    (event,) = gate.events()
    assert event["decision"] == "CLEAR" and event["mrz"]["document_number"] == "C01X00T47"
    assert (event["gate"], event["site"], event["reader"], event["seq"]) == ("gate-t", "site-t", "desk", 1)
    assert event["list_version"] == 4 and event["list_stale"] is False
    assert "hit" not in event


def test_listed_document_is_hit_red_buzzer_relay_shut(make_gate):
    gate = make_gate()
    decision = gate.swipe(LISTED_DOC)
    assert decision.verdict == "HIT" and decision.reasons == ("listed_document:stolen",)
    board = gate.board()
    assert board_without_pwm(gate) == BOARD_HIT
    assert board["pwm_hz"] == pytest.approx(1000, rel=0.03)  # the buzzer's tone is the PWM frequency
    (event,) = gate.events()
    assert event["hit"] == {"kind": "document", "reason": "stolen", "ref": "SLTD-0001", "strength": "exact"}
    assert gate.outbox.pending(1)[0].priority == PRIORITY_HIT


def test_listed_person_on_another_document_is_hit(make_gate):
    gate = make_gate()
    decision = gate.swipe(LISTED_PERSON)
    assert decision.verdict == "HIT" and decision.reasons == ("listed_person:wanted",)
    assert gate.events()[0]["hit"]["ref"] == "NOTICE-7"


def test_listed_person_with_day_and_month_swapped_is_refer_never_hit(make_gate):
    """NAMES.md rule 5: NORDMANN OLA is listed born 820304; a document that says 820403 is a possible match, REFER,
    and the officer is told why (birth_date_transposed, shown in words: agent/web/codes.py)."""
    gate = make_gate()
    decision = gate.swipe(td3("UTO", "NORDMANN", "OLA", "N76543210", "820403", "M", VALID_UNTIL))
    assert decision.verdict == "REFER"
    assert decision.reasons == ("possible_person_match:wanted", "birth_date_transposed")
    assert (decision.hit.ref, decision.hit.strength, decision.hit.basis) == ("NOTICE-7", "weak", "birth_date_transposed")
    assert board_without_pwm(gate) == BOARD_REFER
    (event,) = gate.events()
    assert event["decision"] == "REFER" and event["reasons"] == list(decision.reasons)


# A wanted person a police source knows only by the year of birth (its XX as << per digit, docs/hitlist.md)
YEAR_ONLY = {"kind": "person", "surname": "VIRTANEN", "given_names": "AINO", "birth_date": "91<<<<", "reason": "wanted",
             "ref": "NOTICE-11"}


@pytest.mark.parametrize("signed", [True, False], ids=["signed-store", "memory"])
def test_person_listed_with_only_the_birth_year_is_refer_never_hit(make_gate, tmp_path, signed):
    """NAMES.md rule 5: VIRTANEN AINO is listed born in 1991 only; a document that gives 910517 is a possible
    match, REFER, never HIT (a year is weak evidence), and the officer is told so (birth_date_partial, in words:
    agent/web/codes.py). The signed store built by tools/hitlist and the memory list answer alike."""
    from agent.hitlist.store import HitListStore
    from tests.support.gatesim import TODAY_WALL
    from tests.support.hitlist_central import Central

    records = [*RECORDS, YEAR_ONLY]
    hitlist: MemoryHitList | HitListStore = MemoryHitList(records, version=4)
    if signed:
        central = Central(now=TODAY_WALL)  # fresh on the gate's clock
        hitlist = HitListStore(tmp_path / "store", central.root_pub)
        hitlist.install(central.snapshot(records, 1), now=central.now)
        hitlist.accept_head(central.head(1), now=central.now)
    gate = make_gate(hitlist=hitlist)
    decision = gate.swipe(td3("UTO", "VIRTANEN", "AINO", "V76543210", "910517", "F", VALID_UNTIL))
    assert decision.verdict == "REFER"
    assert decision.reasons == ("possible_person_match:wanted", "birth_date_partial")
    assert (decision.hit.ref, decision.hit.strength, decision.hit.basis) == ("NOTICE-11", "weak", "birth_date_partial")
    assert board_without_pwm(gate) == BOARD_REFER
    (event,) = gate.events()
    assert event["decision"] == "REFER" and event["reasons"] == list(decision.reasons)
    assert gate.swipe(LISTED_PERSON).verdict == "HIT"  # a listed full date still HITs
    assert gate.swipe(td3("UTO", "VIRTANEN", "AINO", "V76543210", "920517", "F", VALID_UNTIL)).verdict == "CLEAR"


def test_truncated_name_possibly_matching_a_listed_person_is_refer_never_hit(make_gate):
    gate = make_gate()
    decision = gate.swipe(TRUNCATED_NAME_DOC)
    assert decision.mrz.name_truncated
    assert decision.verdict == "REFER" and decision.reasons == ("possible_person_match:wanted",)
    assert gate.events()[0]["hit"]["strength"] == "weak"
    assert board_without_pwm(gate) == BOARD_REFER


def test_truncated_name_of_a_listed_person_cut_the_same_way_is_hit(make_gate):
    record = {"kind": "person", "surname": "MEIKALAINEN", "given_names": "MATTI JUHANI KALERVO SAKARIAS",
              "birth_date": "690505", "reason": "wanted", "ref": "NOTICE-10"}
    decision = make_gate(hitlist=MemoryHitList([record], version=1)).swipe(TRUNCATED_NAME_DOC)
    assert decision.verdict == "HIT" and decision.hit.ref == "NOTICE-10"


REFERRED = [
    ("expired", EXPIRED_DOC, ScreeningConfig(), ("expired",)),
    ("bad_check_digit", BAD_CHECK_DOC, ScreeningConfig(), ("check_digit:document_number", "check_digit:composite")),
    ("refused_state", td3("XXA", "SAMPLE", "JANE", "G56789012", "800101", "F", "301231"),
     ScreeningConfig(refused_issuing_states=("XXA",)), ("issuing_state_refused",)),
    ("state_not_accepted", CLEAR_DOC, ScreeningConfig(accepted_issuing_states=("D<<",)),
     ("issuing_state_not_accepted",)),
    ("refused_document_code", td3("UTO", "SAMPLE", "JANE", "G56789012", "800101", "F", "301231", code="PD"),
     ScreeningConfig(accepted_document_codes=("PP", "I")), ("document_code_refused",)),
]


@pytest.mark.parametrize("lines,rules,reasons", [r[1:] for r in REFERRED], ids=[r[0] for r in REFERRED])
def test_document_failing_a_site_rule_is_refer_amber_relay_shut(make_gate, lines, rules, reasons):
    gate = make_gate(rules)
    decision = gate.swipe(lines)
    assert (decision.verdict, decision.reasons) == ("REFER", reasons)
    assert board_without_pwm(gate) == BOARD_REFER
    (event,) = gate.events()
    assert event["reasons"] == list(reasons) and "mrz" in event


def test_expired_document_within_grace_or_ignored_policy_is_clear(make_gate):
    gate = make_gate(ScreeningConfig(expiry_policy="ignore"))
    assert gate.swipe(EXPIRED_DOC).verdict == "CLEAR"
    gate = make_gate(ScreeningConfig(expiry_grace_days=700))  # expired 2025-01-01, today 2026-11-23
    assert gate.swipe(EXPIRED_DOC).verdict == "CLEAR"


def test_listed_document_is_hit_even_when_expired_and_invalid(make_gate):
    lines = (LISTED_DOC[0], LISTED_DOC[1][:21] + "2001011" + LISTED_DOC[1][28:])  # expiry 2020, check broken
    decision = make_gate().swipe(lines)
    assert decision.verdict == "HIT"
    assert "listed_document:stolen" in decision.reasons and "expired" in decision.reasons


@pytest.mark.parametrize("verdict,lines", [("CLEAR", CLEAR_DOC), ("HIT", LISTED_DOC), ("REFER", EXPIRED_DOC)],
                         ids=["clear", "hit", "refer"])
def test_event_is_committed_before_the_first_indicator_register_write(make_gate, verdict, lines):
    gate = make_gate()
    gate.swipe(CLEAR_DOC if verdict != "CLEAR" else EXPIRED_DOC)  # some other state shown first
    seen: list[int] = []

    def on_write(addr, reg, value):
        if not seen:  # the very first register write of this decision
            db = sqlite3.connect(gate.path)
            seen.append(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
            db.close()

    gate.indicators.bus.on_write = on_write
    assert gate.swipe(lines).verdict == verdict
    assert seen == [2], "the board was written before the event was durable"


def test_duplicate_read_within_window_is_one_passage_and_shows_its_state_again(make_gate):
    gate = make_gate(ScreeningConfig(duplicate_window_s=10))
    assert gate.swipe(LISTED_DOC).verdict == "HIT"
    gate.indicators.apply(dataclasses.replace(gate.indicators.desired, colour=(0, 0, 255)))  # something else
    gate.clock.advance(4)
    assert gate.swipe(LISTED_DOC) is None
    assert len(gate.events()) == 1
    assert board_without_pwm(gate) == BOARD_HIT  # the passage's state again
    gate.clock.advance(8)  # 8 s after the last read: still the same passage (the window slides)
    assert gate.swipe(LISTED_DOC) is None
    gate.clock.advance(10.5)
    assert gate.swipe(LISTED_DOC).verdict == "HIT"
    assert [e["seq"] for e in gate.events()] == [1, 2]


def test_same_document_after_another_one_is_a_new_passage(make_gate):
    gate = make_gate()
    for lines in (CLEAR_DOC, EXPIRED_DOC, CLEAR_DOC):
        assert gate.swipe(lines) is not None
    assert [e["decision"] for e in gate.events()] == ["CLEAR", "REFER", "CLEAR"]


def test_on_committed_is_called_once_per_committed_event_only(make_gate):
    calls = []
    gate = make_gate(on_committed=lambda: calls.append(len(gate.events())))
    gate.swipe(CLEAR_DOC)
    gate.swipe(CLEAR_DOC)  # duplicate: no event, no call
    gate.swipe(LISTED_DOC)
    assert calls == [1, 2]  # each call sees its event already durable


def test_next_decision_shuts_a_relay_opened_for_the_previous_clear(make_gate):
    gate = make_gate()
    gate.swipe(CLEAR_DOC)
    assert gate.board()["relay_energised"] is True
    gate.swipe(LISTED_DOC)  # the next traveller is listed, 1 s later
    assert board_without_pwm(gate) == BOARD_HIT


def test_clear_goes_dark_after_its_show_time_while_hit_and_refer_stay_until_the_next_read(make_gate):
    gate = make_gate(ScreeningConfig(relay_pulse_s=3.0, clear_show_s=5.0))
    gate.swipe(CLEAR_DOC)
    gate.clock.advance(3.0)
    gate.screener.tick()
    assert board_without_pwm(gate) == {**BOARD_CLEAR, "relay_energised": False}  # shut, still green
    gate.clock.advance(2.0)
    gate.screener.tick()
    assert board_without_pwm(gate) == {"colour": (0, 0, 0), "buzzer_duty": 0.0, "relay_energised": False}
    for lines, board in ((LISTED_DOC, BOARD_HIT), (EXPIRED_DOC, BOARD_REFER)):
        gate.swipe(lines)
        gate.clock.advance(600)
        gate.screener.tick()
        assert board_without_pwm(gate) == board


def test_duplicate_clear_does_not_open_the_relay_again(make_gate):
    gate = make_gate()
    gate.swipe(CLEAR_DOC)
    gate.clock.advance(1.0)
    assert gate.swipe(CLEAR_DOC) is None  # during the opening: it stays open, not restarted
    gate.screener.tick()
    assert gate.board()["relay_energised"] is True
    gate.clock.advance(2.0)  # relay_pulse_s = 3 after the first read
    gate.screener.tick()
    assert gate.board()["relay_energised"] is False
    assert gate.swipe(CLEAR_DOC) is None
    assert gate.board()["relay_energised"] is False and gate.board()["colour"] == (0, 255, 0)


def test_misread_is_one_refer_event_unreadable(make_gate):
    gate = make_gate()
    gate.device.write(b"P<UTOERIKSSON<<ANNA\xff\xfe<<<<<<<<<<<<<<<<<<<<<<<\r\n" + CLEAR_DOC[1].encode() + b"\r\n\r\n")
    decision = gate.screen_next()
    assert (decision.verdict, decision.reasons) == ("REFER", ("unreadable",))
    assert board_without_pwm(gate) == BOARD_REFER
    (event,) = gate.events()
    assert event["reasons"] == ["unreadable"] and event["detail"] and "mrz" not in event


def test_a_reader_sending_garbage_is_one_refer_passage_not_one_per_fragment(make_gate):
    """A jabbering reader: a fragment every 6 bytes, each a misread. The first is a REFER and its event; the rest,
    within ``duplicate_window_s`` of the last, are that passage (counted as duplicates, its state shown again). A
    document read after them is decided, and a misread after the window is a new REFER."""
    gate = make_gate(ScreeningConfig(duplicate_window_s=10))
    gate.device.write(b"A<\r\n\r\n" * 40)
    decisions = []
    while (item := gate.reader.read(timeout=1.0)) is not None:
        decisions.append(gate.screener.handle(item))
    assert len(decisions) >= 20 and decisions[0].verdict == "REFER" and not any(decisions[1:])
    assert len(gate.events()) == 1 and gate.screener.counts["duplicate"] == len(decisions) - 1
    assert board_without_pwm(gate) == BOARD_REFER
    assert gate.swipe(CLEAR_DOC).verdict == "CLEAR"
    gate.device.write(b"A<\r\n\r\n")
    assert gate.screen_next().verdict == "REFER"  # after another passage: a new one
    gate.clock.advance(10.5)
    gate.device.write(b"A<\r\n\r\n")
    assert gate.screen_next().verdict == "REFER"  # the window passed
    assert [e["decision"] for e in gate.events()] == ["REFER", "CLEAR", "REFER", "REFER"]


def test_stale_list_refers_by_policy(make_gate):
    stale = MemoryHitList(RECORDS, version=9, expires_at=0.0)
    gate = make_gate(ScreeningConfig(stale_policy="refer"), hitlist=stale)
    decision = gate.swipe(CLEAR_DOC)
    assert (decision.verdict, decision.reasons, decision.list_stale) == ("REFER", ("list_stale",), True)
    assert gate.swipe(LISTED_DOC).verdict == "HIT"  # a hit stays a hit
    assert [e["list_stale"] for e in gate.events()] == [True, True]


def test_stale_list_clears_with_flag_by_policy(make_gate):
    stale = MemoryHitList(RECORDS, version=9, expires_at=0.0)
    gate = make_gate(ScreeningConfig(stale_policy="clear-flag"), hitlist=stale)
    decision = gate.swipe(CLEAR_DOC)
    assert (decision.verdict, decision.list_stale) == ("CLEAR", True)
    assert gate.events()[0]["list_stale"] is True


def test_fingerprint_policy_keeps_identity_out_of_clear_events_only(make_gate):
    gate = make_gate(ScreeningConfig(clear_event_detail="fingerprint"))
    gate.swipe(CLEAR_DOC)
    gate.swipe(LISTED_DOC)
    clear, hit = gate.events()
    assert "mrz" not in clear and len(clear["fingerprint"]) == 32
    raw = gate.path.read_bytes() + gate.path.with_name(gate.path.name + "-wal").read_bytes()
    assert b"MUSTERMANN" not in raw and b"C01X00T47" not in raw
    assert hit["mrz"]["surname"] == "ERIKSSON"  # a hit carries what the officer needs
    again = make_gate(ScreeningConfig(clear_event_detail="fingerprint"))
    again.swipe(CLEAR_DOC)
    assert again.events()[0]["fingerprint"] == clear["fingerprint"]  # same key, same document


def test_i2c_fault_screening_continues_clear_becomes_refer_and_events_record_it(make_gate):
    gate = make_gate()
    gate.indicators.bus.fail()  # every transfer NACKs
    first = gate.swipe(CLEAR_DOC)  # the fault shows up while showing this one
    assert first.verdict == "CLEAR"
    assert gate.indicators.fault is not None
    second = gate.swipe(EXPIRED_DOC)
    third = gate.swipe(td3("UTO", "SAMPLE", "JANE", "G56789012", "800101", "F", "301231"))
    assert second.verdict == "REFER"
    assert (third.verdict, third.reasons) == ("REFER", ("indicator_fault",))
    events = gate.events()
    assert len(events) == 3 and "indicators" in events[2]["faults"]
    gate.indicators.bus.heal()
    gate.indicators.tick(time.monotonic() + 1.0)  # the board's retry, due 0.5 s after the fault (its clock: monotonic)
    assert gate.indicators.fault is None
    assert board_without_pwm(gate) == BOARD_REFER  # the desired state, re-applied


def test_outbox_that_cannot_commit_shows_refer_never_clear(make_gate):
    gate = make_gate()
    gate.swipe(EXPIRED_DOC)
    pages = gate.outbox._db.execute("PRAGMA page_count").fetchone()[0]
    gate.outbox._db.execute(f"PRAGMA max_page_count={pages}")  # the disk is full from now on
    blob = td3("UTO", "SAMPLE", "JANE", "G56789012", "800101", "F", "301231")
    for i in range(40):  # fill the last free page until commits fail
        if gate.screener.faults.get("outbox"):
            break
        gate.swipe(td3("UTO", "SAMPLE", "JANE", f"G{i:08d}", "800101", "F", "301231"))
    assert "full" in gate.screener.faults["outbox"]
    committed = len(gate.events())
    decision = gate.swipe(blob)
    assert (decision.verdict, decision.reasons) == ("REFER", ("event_log_unavailable",))
    assert board_without_pwm(gate) == BOARD_REFER
    assert len(gate.events()) == committed  # nothing committed is lost or corrupted
    gate.outbox._db.execute("PRAGMA max_page_count=1073741823")  # space returns
    assert gate.swipe(CLEAR_DOC).verdict == "CLEAR" and "outbox" not in gate.screener.faults
    assert gate.board()["colour"] == (0, 255, 0)
    assert gate.indicators.bus.device(PCA) is not None
    assert gate.outbox.pending(1)[0].priority == PRIORITY_ROUTINE


def test_camera_frame_reference_is_in_the_event_and_the_frame_is_kept(make_gate):
    import hal

    camera = hal.open_camera(f"file://{FRAMES}/?loop=1")
    try:
        gate = make_gate(camera=camera)
        gate.swipe(CLEAR_DOC)
        (event,) = gate.events()
        assert event["frame"] in gate.screener.frames
        assert gate.screener.frames[event["frame"]].image.ndim == 3
    finally:
        camera.close()


def test_camera_failure_is_a_recorded_fault_and_screening_goes_on(make_gate):
    import hal

    camera = hal.open_camera(f"file://{FRAMES}/?loop=0")  # a few frames, then EndOfFramesError
    frames = sum(p.suffix in {".ppm", ".pgm", ".pnm", ".npy"} for p in FRAMES.iterdir())
    try:
        gate = make_gate(camera=camera)
        docs = [td3("UTO", "SAMPLE", "JANE", f"G{i:08d}", "800101", "F", "301231") for i in range(frames)]
        for lines in (*docs, LISTED_DOC):
            gate.swipe(lines)
        events = gate.events()
        assert all("frame" in e for e in events[:frames])
        assert events[-1]["decision"] == "HIT" and "frame" not in events[-1]
        assert "no more frames" in events[-1]["faults"]["camera"]
    finally:
        camera.close()


def test_reswipe_after_an_uncommitted_event_is_decided_again(make_gate):
    gate = make_gate()
    gate.swipe(EXPIRED_DOC)
    pages = gate.outbox._db.execute("PRAGMA page_count").fetchone()[0]
    gate.outbox._db.execute(f"PRAGMA max_page_count={pages}")
    for i in range(40):
        if gate.screener.faults.get("outbox"):
            break
        gate.swipe(td3("UTO", "SAMPLE", "JANE", f"G{i:08d}", "800101", "F", "301231"))
    assert gate.swipe(CLEAR_DOC).reasons == ("event_log_unavailable",)
    gate.outbox._db.execute("PRAGMA max_page_count=1073741823")
    gate.clock.advance(1)
    assert gate.swipe(CLEAR_DOC).verdict == "CLEAR"  # not swallowed as a duplicate of a lost passage
    assert gate.events()[-1]["mrz"]["document_number"] == "C01X00T47"


class UnreadableDocumentIndex(MemoryHitList):
    """A list whose document index sits on a failed SD card: that lookup raises EIO, the rest works."""

    def lookup_document(self, issuing_state, document_number):
        raise OSError(5, "Input/output error")


def test_hitlist_that_cannot_answer_never_clears_but_still_finds_a_listed_person(make_gate):
    gate = make_gate(hitlist=UnreadableDocumentIndex(RECORDS, version=4))
    clear = gate.swipe(CLEAR_DOC)
    assert (clear.verdict, clear.reasons) == ("REFER", ("hitlist_unavailable",))
    person = gate.swipe(LISTED_PERSON)
    assert person.verdict == "HIT" and person.reasons == ("hitlist_unavailable", "listed_person:wanted")
