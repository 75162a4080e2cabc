"""Several lists at once, each judged by its own policy (docs/config.md "Several lists", RELIABILITY 49).

The gate runs the real screener over register-level indicators and a real outbox; the lists are the
in-memory stand-ins (the signed lists' sync is in tests/link/test_several_lists_sync.py)."""

from __future__ import annotations

import pytest

from agent.config import HitListConfig, ScreeningConfig, load_config
from agent.errors import ConfigError
from agent.gate_toml import write_gate_config
from agent.hitlist.memory import MemoryHitList
from agent.screening.listcheck import HITLIST_MISSING, AbsentHitList, ListProblem
from agent.screening.sources import HIT, REFER, ListSource, Query, SourceAnswer, combine
from tests.support.gatesim import CLEAR_DOC, LISTED_DOC, LISTED_PERSON, RECORDS, TRUNCATED_NAME_DOC

SLTD = HitListConfig(list_id="sltd", governs=("document",))
NOMINAL = HitListConfig(list_id="nominal", governs=("person",))
WATCH = HitListConfig(list_id="watch", governs=("person",), on_match="refer", acknowledge=True)
VEHICLES = HitListConfig(list_id="vehicles", governs=("vehicle",))
DOCS = [r for r in RECORDS if r["kind"] == "document"]
PERSONS = [r for r in RECORDS if r["kind"] == "person"]


def lists(*pairs) -> list[ListSource]:
    return [ListSource(hl, policy) for hl, policy in pairs]


def three_lists(watch=None, vehicles=None) -> list[ListSource]:
    return lists((MemoryHitList(DOCS, version=7, list_id="sltd"), SLTD),
                 (MemoryHitList(PERSONS, version=3, list_id="nominal"), NOMINAL),
                 (watch or MemoryHitList([], version=1, list_id="watch"), WATCH),
                 (vehicles or MemoryHitList([], version=2, list_id="vehicles"), VEHICLES))


def test_listed_person_is_a_hit_from_the_nominal_list_and_the_event_names_each_list(make_gate):
    gate = make_gate(lists=three_lists())
    decision = gate.swipe(LISTED_PERSON)
    assert decision.verdict == HIT and decision.reasons == ("listed_person:wanted",)
    event = gate.events()[-1]
    assert event["v"] == 2
    by_list = {s["list"]: s for s in event["lists"]}
    assert set(by_list) == {"sltd", "nominal", "watch", "vehicles"}
    assert by_list["nominal"]["decided"] == HIT and by_list["nominal"]["version"] == 3
    assert by_list["sltd"]["decided"] == "CLEAR"
    assert [(m["list"], m["ref"]) for m in event["matches"]] == [("nominal", "NOTICE-7")]
    assert event["acknowledge"] is True  # the nominal list's policy: an officer acknowledges a match


def test_listed_document_is_a_hit_from_sltd_and_not_the_nominal_list(make_gate):
    decision = make_gate(lists=three_lists()).swipe(LISTED_DOC)
    assert decision.verdict == HIT
    decided = {a.source: a.decided for a in decision.answers}
    assert decided["sltd"] == HIT and decided["nominal"] == "CLEAR"


def test_weak_name_match_on_the_nominal_list_refers(make_gate):
    decision = make_gate(lists=three_lists()).swipe(TRUNCATED_NAME_DOC)
    assert decision.verdict == REFER
    assert decision.reasons == ("possible_person_match:wanted",)


def test_weak_name_match_ignored_by_a_list_whose_policy_ignores_it(make_gate):
    nominal = HitListConfig(list_id="nominal", governs=("person",), on_weak="ignore")
    decision = make_gate(lists=lists((MemoryHitList(PERSONS, list_id="nominal"), nominal))).swipe(TRUNCATED_NAME_DOC)
    assert decision.verdict == "CLEAR"
    assert decision.answers[0].hits and decision.answers[0].decided == "CLEAR"  # recorded, no effect


def test_watchlist_match_refers_and_asks_the_officer_to_acknowledge(make_gate):
    watch = MemoryHitList([{"kind": "person", "surname": "MUSTERMANN", "given_names": "ERIKA", "birth_date": "640812",
                            "reason": "watch", "ref": "NAT-1"}], version=1, list_id="watch")
    gate = make_gate(lists=three_lists(watch=watch))
    decision = gate.swipe(CLEAR_DOC)
    assert decision.verdict == REFER and decision.reasons == ("listed_person:watch",)
    assert decision.acknowledge and gate.events()[-1]["acknowledge"] is True


def test_missing_vehicle_list_does_not_refer_travellers(make_gate):
    """RELIABILITY 49: a problem with one list affects only the decisions that list governs."""
    absent = AbsentHitList(ListProblem(HITLIST_MISSING, "no vehicle list installed"))
    gate = make_gate(lists=three_lists(vehicles=absent))
    assert gate.swipe(CLEAR_DOC).verdict == "CLEAR"
    assert gate.screener.faults["hitlist:vehicles"] == "no vehicle list installed"
    vehicle = gate.screener.handle_query(Query(vin="1M8GDM9AXKP042788"))
    assert vehicle.verdict == REFER and vehicle.reasons == (HITLIST_MISSING,)


def test_stale_nominal_list_refers_under_its_own_policy_only(make_gate):
    stale = MemoryHitList(PERSONS, version=3, list_id="nominal", expires_at=0.0)  # stale at any time
    relaxed = HitListConfig(list_id="nominal", governs=("person",), on_stale="clear-flag")
    strict = HitListConfig(list_id="nominal", governs=("person",), on_stale="refer")
    sltd = MemoryHitList(DOCS, version=7, list_id="sltd")
    gate = make_gate(ScreeningConfig(stale_policy="refer", duplicate_window_s=0),
                     lists=lists((sltd, SLTD), (stale, relaxed)))
    decision = gate.swipe(CLEAR_DOC)
    assert decision.verdict == "CLEAR" and decision.answers[1].stale
    gate = make_gate(ScreeningConfig(stale_policy="clear-flag", duplicate_window_s=0),
                     lists=lists((sltd, SLTD), (stale, strict)))
    assert gate.swipe(CLEAR_DOC).reasons == ("list_stale",)


def test_hit_on_one_list_is_a_hit_even_when_another_is_stale():
    answers = [SourceAnswer("sltd", 7, decided=HIT, reasons=("listed_document:stolen",)),
               SourceAnswer("nominal", 3, decided=REFER, reasons=("list_stale",), stale=True)]
    assert combine(["expired"], answers) == (HIT, ("expired", "listed_document:stolen"))


def test_another_source_is_one_more_answer_in_the_same_combination():
    """The centre's answer (or an early warning) joins as one more SourceAnswer: combine is the one rule."""
    local = SourceAnswer("sltd", 7)
    central = SourceAnswer("central", 9, decided=HIT, reasons=("listed_document:stolen",))
    assert combine([], [local]) == ("CLEAR", ())
    assert combine([], [local, central]) == (HIT, ("listed_document:stolen",))
    late = SourceAnswer("central", answered=False)
    assert combine([], [local, late]) == ("CLEAR", ())


def test_single_list_gate_decides_as_before(make_gate):
    """One list is the simplest case of several: the old constructor, the old reasons."""
    gate = make_gate(hitlist=MemoryHitList(RECORDS, version=4))
    assert gate.swipe(LISTED_DOC).reasons == ("listed_document:stolen",)
    assert [a.source for a in gate.screener.handle_query(Query(document=("UTO", "C01X00T47"))).answers] == ["records"]


def _config(tmp_path, **sections):
    (tmp_path / "n.jsonl").write_text("")
    return write_gate_config(tmp_path, gate_id="g1", site="s1", screening={"lab_gate": True},
                             hitlist={"records": "n.jsonl"}, **sections)


def test_config_reads_each_list_with_its_policy(tmp_path):
    path = _config(tmp_path, **{"lists.nominal": {"records": "n.jsonl", "governs": ["person"], "on_weak": "refer"},
                                "lists.watch": {"records": "n.jsonl", "governs": ["person"], "on_match": "refer"}})
    config = load_config(path)
    assert [lc.list_id for lc in config.lists] == ["nominal", "watch"]
    assert config.lists[1].on_match == "refer" and config.lists[0].governs == ("person",)
    assert [lc.list_id for lc in config.screening_lists()] == [None, "nominal", "watch"]


@pytest.mark.parametrize(("table", "expected"), [
    ({"governs": ["person"]}, "expected store_dir (the signed list) or, on a lab gate, records"),
    ({"records": "n.jsonl", "governs": ["boats"]}, "governs = ['boats']: expected a non-empty list"),
    ({"records": "n.jsonl", "on_match": "maybe"}, "on_match = 'maybe': expected one of 'hit', 'refer'"),
    ({"records": "n.jsonl", "list_id": "other"}, "list_id = 'other': expected 'nominal'"),
    ({"records": "n.jsonl", "colour": 1}, "[lists.nominal] colour = 1: unknown key"),
], ids=["no_source", "unknown_kind", "bad_policy", "other_id", "unknown_key"])
def test_bad_list_table_is_a_config_error_naming_the_table(tmp_path, table, expected):
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, **{"lists.nominal": table}))
    assert expected in str(err.value)


def test_hitlist_status_by_config_shows_each_list_and_its_policy(tmp_path, capsys):
    from agent.cli import main

    path = _config(tmp_path, **{"lists.nominal": {"records": "n.jsonl", "governs": ["person"]},
                                "lists.vehicles": {"store_dir": "vehicles", "governs": ["vehicle"]}})
    assert main(["hitlist", "status", "--config", str(path), "--json"]) == 1  # the vehicle list is missing
    import json

    lists = json.loads(capsys.readouterr().out)["lists"]
    assert set(lists) == {"records", "nominal", "vehicles"}
    assert lists["nominal"]["policy"]["governs"] == ["person"] and "problem" not in lists["nominal"]
    assert lists["vehicles"]["problem"]["reason"] == HITLIST_MISSING


def test_gate_app_status_shows_each_list(tmp_path):
    from agent.app import GateApp

    app = GateApp(load_config(_config(tmp_path, **{"lists.nominal": {"records": "n.jsonl", "governs": ["person"]}})))
    app.open()
    try:
        status = app.status()
        assert list(status["lists"]) == ["records", "nominal"]
        assert status["lists"]["nominal"]["policy"]["on_match"] == "hit"
    finally:
        app.close()


def test_person_entered_by_hand_is_screened_by_the_lists_that_govern_persons(make_gate):
    gate = make_gate(lists=three_lists())
    decision = gate.screener.handle_person("NORDMANN", "OLA", "820304")
    assert decision.verdict == HIT and [a.source for a in decision.answers if a.decided == HIT] == ["nominal"]
    event = gate.events()[-1]
    assert event["reader"] == "officer" and event["entry"]["surname"] == "NORDMANN"
    with pytest.raises(ValueError):
        gate.screener.handle_person("NORDMANN", "OLA", "1982-03-04")
    assert len(gate.events()) == 1  # a refused entry commits nothing


def test_the_links_status_carries_each_synced_lists_kind_and_policy(tmp_path):
    """The link's signed status (what the centre stores and its Lists page shows) names each signed list's kind
    and policy as this gate's config gives them, keyed as the list is synced (docs/central.md "Operators' console")."""
    from nacl.signing import SigningKey

    from agent.app import GateApp
    from tests.support.screen import signed_list

    (tmp_path / "node.pub").write_bytes(bytes(SigningKey.generate().verify_key))
    _, watch = signed_list(tmp_path / "w", "watch", [], governs=["person"])
    _, vehicles = signed_list(tmp_path / "v", "vehicles", [], governs=["vehicle"])
    path = _config(tmp_path, link={"enabled": True, "node_pub": "node.pub"},
                   **{"lists.watch": {**watch, "store_dir": "w/watch", "on_match": "refer", "acknowledge": False},
                      "lists.vehicles": {**vehicles, "store_dir": "v/vehicles"}})
    app = GateApp(load_config(path))
    app.open()
    try:
        lists = app.link.status()["lists"]
        assert lists["watch"]["policy"] == {"governs": ["person"], "on_match": "refer", "on_weak": "refer",
                                            "on_stale": "screening", "acknowledge": False}
        assert lists["vehicles"]["policy"]["governs"] == ["vehicle"]
        assert "records" not in lists  # an in-memory stand-in is not synced, so not the centre's to show
    finally:
        app.close()
