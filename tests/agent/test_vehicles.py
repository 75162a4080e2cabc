"""Vehicles at a land crossing (docs/config.md "Vehicles"): VIN and plate rules, the officer's entry and the
plate camera on the same decision path as a swipe; the real screener, register-level indicators, a real
outbox, the simulated ANPR camera behind the real plate-reader code."""

from __future__ import annotations

import json
import time

import pytest

import hal
from agent.config import HitListConfig
from agent.errors import BadDataError
from agent.hitlist.memory import MemoryHitList
from agent.hitlist.store import HitListStore
from agent.hitlist.vehicle_ids import check_vin, normalise_country, normalise_plate, vin_check_digit
from agent.screening.sources import ListSource
from agent.vehicles import PlateFeed, VehicleCheck
from hal.errors import BadUrlError, DeviceUnavailableError
from tests.support.gatesim import CLEAR_DOC, RECORDS
from tests.support.lists import Lists

STOLEN_VIN = "1M8GDM9AXKP042788"  # North American, check digit X
VEHICLE_RECORDS = [
    {"kind": "vehicle", "vin": STOLEN_VIN, "reason": "stolen", "ref": "SMV-1"},
    {"kind": "vehicle", "plate": "AB-102-CD", "country": "F", "reason": "stolen", "ref": "SMV-2"},
    {"kind": "vehicle", "vin": "WVWZZZ1JZXW000001", "plate": "12345 A 6", "country": "MA", "reason": "stolen",
     "ref": "SMV-3"},
]
VEHICLES = HitListConfig(list_id="vehicles", governs=("vehicle",))
SLTD = HitListConfig(list_id="sltd", governs=("document", "person"))


@pytest.mark.parametrize(("vin", "check_digit"), [
    (STOLEN_VIN, "valid"),
    ("1m8gdm9a-xkp 042788", "valid"),
    ("1M8GDM9A1KP042788", "invalid"),
    ("WVWZZZ1JZXW000001", "not_applicable"),  # European: position 9 is the maker's
    ("11111111111111111", "valid"),
], ids=["na_valid", "separators_and_case", "na_bad_check_digit", "european", "all_ones"])
def test_vin_form_and_north_american_check_digit(vin, check_digit):
    assert check_vin(vin).check_digit == check_digit
    assert check_vin(vin).reasons == (("vin_check_digit",) if check_digit == "invalid" else ())


@pytest.mark.parametrize(("vin", "expected"), [
    ("1M8GDM9AXKP04278", "16 characters; expected 17"),
    ("1M8GDM9AXKP0427888", "18 characters; expected 17"),
    ("1M8GDM9AXKP04278O", "'O' not allowed"),
    ("IM8GDM9AXKP042788", "'I' not allowed"),
    ("1M8GDM9AXKQ042788", "'Q' not allowed"),
    ("1M8GDM9AXKP04278*", "'*' not allowed"),
], ids=["short", "long", "letter_o", "letter_i", "letter_q", "symbol"])
def test_malformed_vin_is_refused_naming_the_rule(vin, expected):
    with pytest.raises(BadDataError) as err:
        check_vin(vin)
    assert expected in str(err.value) and vin in str(err.value)


def test_check_digit_weights_match_the_published_example():
    assert vin_check_digit("1M8GDM9A0KP042788") == "X"  # 49 CFR 565: the digit in position 9 does not count


@pytest.mark.parametrize(("plate", "normal"), [
    ("AB-102-CD", "AB102CD"),
    ("ab 102 cd", "AB102CD"),
    ("AB-1O2-CD", "AB102CD"),  # a camera's O for 0
    ("AB-I02-CD", "AB102CD"),  # I for 1
    ("АВ-102-СD", "AB102CD"),  # Cyrillic А, В, С
    ("ＡＢ１０２ＣＤ", "AB102CD"),  # full-width
    ("١٢٣٤٥", "12345"),  # Arabic-Indic digits
    ("12345.A.6", "12345A6"),
], ids=["dashes", "spaces_lower", "o_for_zero", "i_for_one", "cyrillic", "fullwidth", "arabic_digits", "dots"])
def test_plate_normalisation(plate, normal):
    assert normalise_plate(plate) == normal


@pytest.mark.parametrize("plate", ["", "---", "AB*12", "ABCDEFGHJKLMN", "أ 12345"],
                         ids=["empty", "only_separators", "symbol", "too_long", "arabic_letter"])
def test_bad_plate_is_refused(plate):
    with pytest.raises(BadDataError):
        normalise_plate(plate)


def test_country_code_rules():
    assert normalise_country(" ma ") == "MA"
    with pytest.raises(BadDataError):
        normalise_country("MAR1")


def _gate(make_gate, vehicles=None):
    return make_gate(lists=[ListSource(MemoryHitList([r for r in RECORDS], version=4, list_id="sltd"), SLTD),
                            ListSource(vehicles or MemoryHitList(VEHICLE_RECORDS, version=2, list_id="vehicles"),
                                       VEHICLES)])


def test_stolen_vin_entered_by_the_officer_is_a_hit_with_its_event(make_gate):
    gate = _gate(make_gate)
    decision = VehicleCheck(gate.screener)(vin=STOLEN_VIN.lower())
    assert decision.verdict == "HIT" and decision.reasons == ("listed_vehicle:stolen",)
    assert gate.board()["colour"][0] > 0 and not gate.board()["relay_energised"]  # red, gate shut
    event = gate.events()[-1]
    assert event["decision"] == "HIT" and event["reader"] == "officer"
    assert event["entry"] == {"vin": STOLEN_VIN}
    assert [(m["list"], m["ref"]) for m in event["matches"]] == [("vehicles", "SMV-1")]


def test_plate_with_confusable_characters_is_a_hit(make_gate):
    decision = VehicleCheck(_gate(make_gate).screener)(plate="ab 1O2 cd", country="f")
    assert decision.verdict == "HIT" and decision.hit.ref == "SMV-2"


def test_unlisted_vehicle_clears_and_the_document_lists_are_not_asked(make_gate):
    decision = VehicleCheck(_gate(make_gate).screener)(plate="ZZ-999-ZZ", country="F")
    assert decision.verdict == "CLEAR"
    assert {a.source: a.answered for a in decision.answers} == {"sltd": True, "vehicles": True}
    assert {a.source: a.hits for a in decision.answers} == {"sltd": (), "vehicles": ()}


def test_bad_check_digit_refers_but_a_listed_vin_stays_a_hit(make_gate):
    check = VehicleCheck(_gate(make_gate).screener)
    assert check(vin="1M8GDM9A1KP042788").reasons == ("vin_check_digit",)
    assert check(vin="1M8GDM9A1KP042788").verdict == "REFER"
    listed = MemoryHitList([{"kind": "vehicle", "vin": "1M8GDM9A1KP042788", "reason": "cloned", "ref": "C"}],
                           list_id="vehicles")
    decision = VehicleCheck(_gate(make_gate, listed).screener)(vin="1M8GDM9A1KP042788")
    assert decision.verdict == "HIT" and decision.reasons == ("vin_check_digit", "listed_vehicle:cloned")


@pytest.mark.parametrize(("entry", "field"), [
    ({}, "vin"), ({"vin": "123"}, "VIN '123'"), ({"plate": "AB-102-CD"}, "country"),
    ({"plate": "AB*1", "country": "F"}, "plate"),
], ids=["nothing", "short_vin", "plate_without_country", "bad_plate"])
def test_bad_vehicle_entry_is_refused_and_nothing_is_committed(make_gate, entry, field):
    gate = _gate(make_gate)
    with pytest.raises(ValueError) as err:
        VehicleCheck(gate.screener)(**entry)
    assert str(err.value).startswith(field)
    assert gate.events() == []


def test_vehicle_and_traveller_share_the_decision_path(make_gate):
    gate = _gate(make_gate)
    gate.swipe(CLEAR_DOC)
    VehicleCheck(gate.screener)(vin=STOLEN_VIN)
    events = gate.events()
    assert [e["seq"] for e in events] == [1, 2] and [e["decision"] for e in events] == ["CLEAR", "HIT"]
    assert gate.screener.counts["HIT"] == 1


def test_plate_camera_passage_is_screened_once(make_gate):
    gate = _gate(make_gate)
    reader = hal.open_plate_reader("sim://plate?seed=3&confuse=1&min_confidence=0.6")
    feed = PlateFeed(reader, VehicleCheck(gate.screener), reader_id="lane1")
    try:
        reader.device.show("AB-102-CD", country="F", confidence=0.9, frames=4)  # one frame reads 1O2
        decisions = [d for d in (feed.step(0.5) for _ in range(4)) if d is not None]
        assert [d.verdict for d in decisions] == ["HIT"]
        assert gate.events()[-1]["reader"] == "plate:lane1" and feed.repeats == 3
        reader.device.show("ZZ-999-ZZ", country="F", confidence=0.3)  # too unsure to screen
        assert feed.step(0.3) is None and reader.low_confidence >= 1
        assert len(gate.events()) == 1
    finally:
        reader.close()


def test_plate_read_without_country_uses_the_crossings_code(make_gate):
    gate = _gate(make_gate)
    reader = hal.open_plate_reader("sim://plate")
    feed = PlateFeed(reader, VehicleCheck(gate.screener), default_country="MA")
    try:
        reader.device.show("12345-A-6", frames=1)
        assert feed.step(0.5).verdict == "HIT"
    finally:
        reader.close()


def test_unplugged_plate_camera_is_a_fault_not_a_crash(make_gate):
    reader = hal.open_plate_reader("sim://plate")
    feed = PlateFeed(reader, VehicleCheck(_gate(make_gate).screener))
    reader.device.unplug()
    feed._stop.set()  # no back-off sleep in the test
    assert feed.step(0.2) is None and "unplugged" in feed.fault
    reader.close()
    reader.close()  # idempotent
    with pytest.raises(DeviceUnavailableError):
        reader.read(0.1)


def test_replayed_capture_yields_each_passage_and_counts_broken_lines(tmp_path):
    capture = tmp_path / "lane.jsonl"
    capture.write_text("# lane 1, 02:14\n"
                       '{"plate": "AB-102-CD", "country": "F", "confidence": 0.91, "t": 0.0}\n'
                       '{"plate": "AB-102-CD", "country": "F", "confidence": 0.93, "t": 0.1}\n'
                       "not json\n"
                       '{"plate": "", "confidence": 0.9}\n'
                       '{"plate": "12345-A-6", "country": "MA", "confidence": 2}\n'
                       '{"plate": "12345-A-6", "country": "MA", "confidence": 0.8, "t": 0.4}')
    reader = hal.open_plate_reader(f"file://{capture}")
    reads = [reader.read(0.5) for _ in range(4)]
    assert [(r.plate, r.country) for r in reads if r] == [("AB-102-CD", "F"), ("AB-102-CD", "F"), ("12345-A-6", "MA")]
    assert reader.eof and reader.misreads == 3
    reader.close()


def _over_the_line_limit(plate: str) -> bytes:
    """A read whose JSON, valid, runs past the 1024 bytes a line may hold (hal.plate.MAX_LINE)."""
    return json.dumps({"plate": plate, "country": "F", "confidence": 0.9, "note": "x" * 1100}).encode() + b"\n"


def test_a_line_over_1024_bytes_is_dropped_whole_however_it_arrives(tmp_path):
    """docs/readers.md "Plate readers": a line over 1024 bytes is a device fault, dropped and counted; it was read
    when its end came in the same chunk (a capture's line, a socket's large read), and a line cut at the limit had
    its tail read as a line of its own."""
    tail = b'{"plate": "ZZ-999-ZZ", "country": "F", "confidence": 0.9}\n'
    good = {"plate": "AB-102-CD", "country": "F", "confidence": 0.9}
    reader = hal.open_plate_reader("sim://plate")
    reader.device.send(_over_the_line_limit("XX-111-XX"))  # whole in one chunk
    reader.device.send(b"x" * 1100)  # past the limit with no end yet...
    assert reader.read(0.1) is None
    reader.device.send(tail)  # ...then a tail that would read as a plate of its own
    reader.device.send(good)
    assert [r.plate for r in iter(lambda: reader.read(0.2), None)] == ["AB-102-CD"] and reader.misreads == 2
    reader.close()
    capture = tmp_path / "lane.jsonl"
    capture.write_bytes(_over_the_line_limit("XX-111-XX") + json.dumps(good).encode() + b"\n")
    replay = hal.open_plate_reader(f"file://{capture}")
    assert [r.plate for r in iter(lambda: replay.read(0.2), None)] == ["AB-102-CD"] and replay.misreads == 1
    replay.close()


@pytest.mark.parametrize("url", ["sim://plate?colour=red", "sim://plate?min_confidence=2", "sim://lane",
                                 "file://", "sim://plate?jitter=x", "usb://cam"],
                         ids=["unknown_option", "confidence_range", "wrong_device", "no_path", "bad_window",
                              "unknown_scheme"])
def test_bad_plate_reader_url_is_refused_without_opening_anything(url):
    with pytest.raises(BadUrlError):
        hal.check_url("plate", url)


def test_signed_list_finds_vehicles_by_vin_and_plate(tmp_path):
    lists = Lists(tmp_path)
    store = HitListStore(tmp_path / "gate-vehicles", lists.root_pub)
    store.install(lists.build("vehicles", 1, VEHICLE_RECORDS).read_bytes(), now=time.time())
    assert store.lookup_vehicle(STOLEN_VIN).ref == "SMV-1"
    assert store.lookup_plate("F", "AB 1O2 CD").ref == "SMV-2"
    assert store.lookup_plate("MA", "12345A6").ref == "SMV-3" and store.lookup_vehicle("WVWZZZ1JZXW000001")
    assert store.lookup_plate("D", "AB-102-CD") is None  # another country's plate


def test_gate_config_wires_the_plate_camera_and_the_officers_vehicle_entry(tmp_path):
    import json

    from agent.app import GateApp
    from agent.config import load_config
    from agent.gate_toml import write_gate_config

    (tmp_path / "v.jsonl").write_text("".join(json.dumps(r) + "\n" for r in VEHICLE_RECORDS))
    (tmp_path / "d.jsonl").write_text("")
    path = write_gate_config(tmp_path, gate_id="g1", site="s1", screening={"lab_gate": True},
                             devices={"plate_reader": "sim://plate", "plate_reader_id": "lane2",
                                      "plate_country": "MA"},
                             hitlist={"records": "d.jsonl", "governs": ["document", "person"]},
                             **{"lists.vehicles": {"records": "v.jsonl", "governs": ["vehicle"]}})
    app = GateApp(load_config(path))
    app.open()
    try:
        assert app.vehicles is not None and app.plates is not None
        app.plates.reader.device.show("12345-A-6", frames=2)
        assert app.plates.step(0.5).verdict == "HIT"
        assert app.vehicles(vin=STOLEN_VIN).verdict == "HIT"
        assert app.screener.counts["HIT"] == 2
    finally:
        app.plates.reader.close()
        app.close()
