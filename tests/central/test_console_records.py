"""The operators' console's records and regional picture (tools/central/console/records.py, picture.py) on both
engines, SQLite and a real PostgreSQL: hit workflow, audit, the second supervisor, the picture's counts, the
unusual-rate rule and the CSV."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from agent.screening.events import decode_event, encode_event
from tests.support.clock import FakeClock
from tests.support.console import add_alert_receipt, add_search
from tools.central.console.picture import FACTOR, MIN_SEARCHES, Picture
from tools.central.console.records import ConsoleRecords
from tools.central.pgstore import PostgresStore
from tools.central.store import CentralStore, open_store

DAY = 86400.0
NOW = 1_796_000_000.0 + 12 * 3600  # midday UTC


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Iterator[CentralStore]:  # type: ignore[no-untyped-def]
    target = tmp_path / "central.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = open_store(target)
    s.enrol("gate-1", bytes(32), NOW - 30 * DAY)
    s.enrol("gate-2", bytes(range(32)), NOW - 30 * DAY)
    yield s
    s.close()


def test_hit_workflow_is_recorded_with_its_audit_and_refuses_an_unknown_hit_or_outcome(store):
    clock = FakeClock(NOW)
    records = ConsoleRecords(store, clock=clock)
    msg = add_search(store, "gate-1", "port-a", NOW, hit=True)
    records.update_case("gate-1", msg, "omar", acknowledge=True)
    clock.sleep(5)
    records.update_case("gate-1", msg, "sara", acknowledge=True)  # a second acknowledgement keeps the first
    records.update_case("gate-1", msg, "sara", assign="omar")
    records.update_case("gate-1", msg, "omar", outcome="intercepted")
    hit = records.hits()[0]
    assert (hit["acknowledged_by"], hit["acknowledged_at"], hit["assigned_to"], hit["outcome"], hit["outcome_by"]) == \
        ("omar", NOW, "omar", "intercepted", "omar")
    assert (hit["reason"], hit["list_id"], hit["ref"], hit["site"]) == ("stolen", "sltd", "SLTD-0001", "port-a")
    for bad in ({"outcome": "shot"}, {"acknowledge": True, "msg": "0" * 32}):
        with pytest.raises(ValueError):
            records.update_case("gate-1", bad.pop("msg", msg), "omar", **bad)  # type: ignore[arg-type]
    assert records.hits()[0]["outcome"] == "intercepted", "a refused change altered the case"
    log = [(e["operator"], e["action"], e["target"]) for e in reversed(records.audit_log())]
    assert log == [("omar", "hit_acknowledge", f"gate-1/{msg}"), ("sara", "hit_acknowledge", f"gate-1/{msg}"),
                   ("sara", "hit_assign", f"gate-1/{msg}"), ("omar", "hit_outcome", f"gate-1/{msg}")]
    assert "L898902C3" not in repr(records.audit_log()) and "ERIKSSON" not in repr(records.audit_log())


def test_high_impact_command_needs_a_second_supervisor_who_is_not_the_proposer(store):
    clock = FakeClock(NOW)
    records = ConsoleRecords(store, clock=clock)
    records.propose_command("c1", "gate-1", "pulse_relay", {"seconds": 2}, b"wire", "sara", NOW + 600)
    with pytest.raises(ValueError, match="second supervisor"):
        records.take_pending("c1", "sara", "approved")
    assert [c["cmd_id"] for c in records.pending_commands()] == ["c1"], "the proposer's refused approval decided it"
    row = records.take_pending("c1", "samir", "approved")
    assert row["wire"] == b"wire" and records.pending_commands() == []
    with pytest.raises(ValueError, match="No command"):
        records.take_pending("c1", "samir", "approved")  # approved once only
    records.propose_command("c2", "gate-1", "wipe", {}, b"w2", "sara", NOW + 600)
    clock.sleep(601)
    with pytest.raises(ValueError, match="expired"):
        records.take_pending("c2", "samir", "approved")
    assert [e["action"] for e in reversed(records.audit_log())] == \
        ["command_propose", "command_approved", "command_propose"]


def test_a_proposal_two_supervisors_decide_at_once_on_two_consoles_is_decided_once(pg_url):
    """Two consoles on one PostgreSQL, two supervisors deciding the same proposal at the same moment (one rejects,
    one approves): each read it undecided before either wrote, as the row lock of a third connection makes
    certain. Only one decision stands and is audited; the other is refused. Before, both were written and
    audited, the approval published: a supervisor's rejection could be overwritten by a command already sent."""
    import threading

    import psycopg

    from tests.support.wait import wait_until

    first, second, holder = open_store(pg_url), open_store(pg_url), open_store(pg_url)
    outcomes: dict[str, object] = {}

    def decide(store: CentralStore, who: str, decision: str) -> None:
        try:
            ConsoleRecords(store).take_pending("c1", who, decision)
            outcomes[who] = decision
        except ValueError as exc:
            outcomes[who] = exc

    def waiting_on_the_lock() -> int:
        with psycopg.connect(pg_url) as watch:
            return watch.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                 " AND datname = current_database()").fetchone()[0]  # type: ignore[index]

    try:
        ConsoleRecords(holder).propose_command("c1", "gate-1", "wipe", {}, b"wire", "sara", 4e9)
        with holder.transaction():
            holder.query("SELECT cmd_id FROM pending_commands WHERE cmd_id = ? FOR UPDATE", ("c1",))
            deciders = [threading.Thread(target=decide, args=(first, "samir", "rejected")),
                        threading.Thread(target=decide, args=(second, "sami", "approved"))]
            for t in deciders:
                t.start()
            assert wait_until(lambda: waiting_on_the_lock() == 2, 10), "both decisions read the proposal and wait"
        for t in deciders:
            t.join(10)
        decided = [v for v in outcomes.values() if isinstance(v, str)]
        refused = [v for v in outcomes.values() if isinstance(v, ValueError)]
        assert len(decided) == 1 and len(refused) == 1, outcomes
        audit = [e["action"] for e in ConsoleRecords(holder).audit_log() if e["action"].startswith("command_")]
        assert sorted(audit) == sorted(["command_propose", f"command_{decided[0]}"]), audit
    finally:
        for s in (first, second, holder):
            s.close()


def test_picture_counts_searches_and_hits_per_point_day_hour_list_reason_and_state(store):
    picture = Picture(store, clock=FakeClock(NOW))
    for i in range(4):
        add_search(store, "gate-1", "port-a", NOW - i * 3600)
    add_search(store, "gate-1", "port-a", NOW - DAY, hit=True, state="ZZA", reason="lost")
    add_search(store, "gate-2", "desert-b", NOW, hit=True)
    assert picture.rollup() == 6
    assert picture.rollup() == 0, "a rescan counted an event twice"
    s = picture.summary(days=7)
    assert json.loads(json.dumps(s)) == s, "the summary is not plain JSON (the page embeds it)"
    assert [(r["site"], r["searches"], r["hits"]) for r in s["per_site"]] == [("desert-b", 1, 1), ("port-a", 5, 1)]
    assert [(r["day"], r["searches"], r["hits"]) for r in s["per_day"]] == [
        ("2026-11-29", 1, 1), ("2026-11-30", 5, 1)]
    assert {(r["hour"], r["searches"]) for r in s["per_hour"]} == {(9, 1), (10, 1), (11, 1), (12, 3)}
    assert [(r["list_id"], r["reason"], r["hits"]) for r in s["per_list_reason"]] == [
        ("sltd", "lost", 1), ("sltd", "stolen", 1)]
    assert [(r["issuing_state"], r["searches"], r["hits"]) for r in s["per_state"]] == [("UTO", 5, 1), ("ZZA", 1, 1)]
    assert [r["site"] for r in picture.summary(days=1)["per_site"]] == ["desert-b", "port-a"]
    rows = list(csv.DictReader(io.StringIO(picture.csv(days=7))))
    assert sum(int(r["searches"]) for r in rows) == 6 and sum(int(r["hits"]) for r in rows) == 2
    assert {r["site"] for r in rows} == {"port-a", "desert-b"}


def test_unusual_hit_rate_is_flagged_against_the_points_own_baseline_and_the_region(store):
    picture = Picture(store, clock=FakeClock(NOW))
    # port-a: 2 % hits for the last 28 days and this week (usual); desert-b: 0 % before, 20 % this week
    for day in range(1, 35):
        for n in range(40):
            add_search(store, "gate-1", "port-a", NOW - day * DAY + n, hit=(day * 40 + n) % 50 == 0)
    for day in range(8, 30):
        add_search(store, "gate-2", "desert-b", NOW - day * DAY)
    for n in range(MIN_SEARCHES + 10):
        add_search(store, "gate-2", "desert-b", NOW - n * 600, hit=n % 5 == 0)
    picture.rollup()
    unusual = picture.unusual(7, NOW)
    assert [u["site"] for u in unusual] == ["desert-b"]
    u = unusual[0]
    assert u["rate"] >= FACTOR * max(u["baseline_rate"], u["regional_rate"]) and u["baseline_rate"] == 0.0


def test_csv_cells_cannot_run_as_spreadsheet_formulas(store):
    picture = Picture(store, clock=FakeClock(NOW))
    add_search(store, "gate-1", "=HYPERLINK(\"http://evil\")", NOW, hit=True)
    picture.rollup()
    text = picture.csv(days=1)
    assert "'=HYPERLINK" in text and "\r\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_csv_cells_show_bidi_controls_in_sight_and_reorder_nothing(store):
    """A right-to-left override in a site or a hit's reason (a gate writes both) would show a spreadsheet's row
    reordered, as it would a page (docs/central.md): the export shows it as U+FFFD, as the pages do."""
    picture = Picture(store, clock=FakeClock(NOW))
    add_search(store, "gate-1", "port\u202eA-TROP", NOW, hit=True, reason="stolen\u2067\u200f")
    picture.rollup()
    text = picture.csv(days=1)
    assert "port\ufffdA-TROP" in text and "stolen\ufffd\ufffd" in text
    assert not any(ch in text for ch in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_gates_by_site_and_list_versions_come_from_each_gates_signed_status(store):
    from nacl.signing import SigningKey

    from agent.protocol.envelope import seal

    records = ConsoleRecords(store, clock=FakeClock(NOW))
    store.add_token("t1", "gate-1", "port-a", b"k" * 32, NOW - DAY, NOW)
    store.enrol("gate-3", bytes(range(1, 33)), NOW - DAY)
    store.add_token("t3", "gate-3", "port-a", b"l" * 32, NOW - DAY, NOW)
    key = SigningKey.generate()
    sltd = {"governs": ["document"], "on_match": "hit", "on_weak": "refer", "on_stale": "screening", "acknowledge": True}
    watch = {"governs": ["person"], "on_match": "refer", "on_weak": "refer", "on_stale": "clear-flag",
             "acknowledge": False}
    for gate, version, faults, depth, policy in (("gate-1", 42, {"reader": "unplugged"}, 17, sltd),
                                                  ("gate-2", 41, {}, 0, None), ("gate-3", 42, {}, 0, watch)):
        body = {"id": uuid.uuid4().hex, "ts": NOW, "gate": gate, "session": 3, "state": "online", "kind": "heartbeat",
                "versions": {"agent": "0.1.0"}, "outbox": {"depth": depth, "oldest_age": 12.5, "dropped": 0},
                "alarms": ["publish_refused"] if depth else [], "faults": faults,
                "hitlist": {"list_id": "sltd", "version": version, "stale": version < 42,
                            **({"policy": policy} if policy else {})}}  # gate-2: an older gate, no policy
        assert store.record_status(gate, 3, True, NOW - 10, version, seal("status", body, [key]))
    add_search(store, "gate-2", "desert-b", NOW)
    Picture(store, clock=FakeClock(NOW)).rollup()
    sites = records.gates_by_site()
    assert list(sites) == ["desert-b", "port-a"]  # gate-1's from its token, gate-2's from its events
    g1 = sites["port-a"][0]
    assert (g1["online"], g1["backlog"], g1["oldest_age"], g1["faults"], g1["alarms"]) == \
        (True, 17, 12.5, {"reader": "unplugged"}, ["publish_refused"])
    assert g1["lists"] == [{"list_id": "sltd", "version": 42, "stale": False, "stale_reason": "",
                           "expires": None, "policy": sltd}]
    assert sites["desert-b"][0]["lists"][0]["stale"] is True
    # the list's kind and policy as each gate screens by it: gates that disagree apart, an older gate's as unknown
    assert records.list_versions() == {"sltd": {"versions": {42: ["gate-1", "gate-3"], 41: ["gate-2"]},
                                                "policies": [(sltd, ["gate-1"]), (watch, ["gate-3"]), (None, ["gate-2"])]}}
    later = ConsoleRecords(store, clock=FakeClock(NOW + 600))
    assert not later.gates_by_site()["port-a"][0]["online"], "a gate silent for 10 min is shown online"


def test_hit_shows_the_face_crop_the_event_carries(store):
    records = ConsoleRecords(store, clock=FakeClock(NOW))
    add_search(store, "gate-1", "port-a", NOW, hit=True, face=b"\xff\xd8\xff\xe0 a jpeg")
    add_search(store, "gate-1", "port-a", NOW + 1, hit=True)
    newest, older = records.hits()
    assert newest["face"] is None and older["face"] == "data:image/jpeg;base64,/9j/4CBhIGpwZWc="


def test_a_hit_committed_late_with_an_earlier_receipt_time_still_changes_the_live_mark(store):
    """With several workers a hit can be committed after one received later: the feed must still see it."""
    add_search(store, "gate-1", "port-a", NOW, hit=True)
    mark = store.feed_marks()["hits"]
    add_search(store, "gate-2", "port-a", NOW - 10, hit=True)  # received earlier, committed now by another worker
    assert store.feed_marks()["hits"] != mark


def _reads_events(store: CentralStore, read: Callable[[], object]) -> bool:
    """Whether ``read`` reads rows of ``events``: on PostgreSQL by the table statistics of the transaction it runs
    in (every day partition), on SQLite by the statements it runs (traced on the store's connection)."""
    if isinstance(store, PostgresStore):
        def rows_read() -> int:  # this session's counts not yet flushed, of this transaction and earlier ones
            return int(store.query("SELECT COALESCE(SUM(seq_tup_read + COALESCE(idx_tup_fetch, 0)), 0) AS n"
                                   " FROM pg_stat_xact_user_tables WHERE relname LIKE 'events%'")[0]["n"])

        with store.transaction():
            before = rows_read()
            read()
            return rows_read() > before
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        read()
    finally:
        store._db.set_trace_callback(None)
    return any(re.search(r"\bevents\b", q) for q in statements)


def test_the_live_marks_change_exactly_when_a_hit_or_an_alert_receipt_is_stored_and_read_no_event(store):
    """The console's feed reads its hit and alert-receipt marks four times a second: they change when a hit or a
    receipt is stored (also one committed late with an earlier receipt time), not for other events, a resent
    copy or a write undone, and reading them reads no event, however long the history."""
    for i in range(50):
        add_alert_receipt(store, f"gate-{i % 2 + 1}", "port-a", "a-old", NOW - DAY + i)
        add_search(store, "gate-1", "port-a", NOW - DAY + i, hit=i % 10 == 0)
    marks = store.feed_marks()
    add_search(store, "gate-1", "port-a", NOW)
    assert store.feed_marks() == marks, "a search that is no hit moved a mark"
    receipt = ("r1", "gate-2", 9, False, "alert", NOW, NOW, NOW + 0.1,
               encode_event({"v": 2, "type": "alert", "id": "r1", "gate": "gate-2", "alert": "a-1",
                             "state": "received"}))
    store.add_event(receipt)
    assert store.feed_marks() == {**marks, "alerts": marks["alerts"] + 1}
    store.add_event(receipt)  # the gate resends it: stored once, no change
    assert store.feed_marks() == {**marks, "alerts": marks["alerts"] + 1}
    with pytest.raises(RuntimeError), store.transaction(), store.each():
        add_alert_receipt(store, "gate-1", "port-a", "a-1", NOW)
        raise RuntimeError("this message's writes are undone")
    assert store.feed_marks() == {**marks, "alerts": marks["alerts"] + 1}, "an undone receipt moved the mark"
    add_alert_receipt(store, "gate-1", "port-a", "a-1", NOW - 10)  # received earlier, committed late
    add_search(store, "gate-2", "port-a", NOW, hit=True)
    assert store.feed_marks() == {"hits": marks["hits"] + 1, "alerts": marks["alerts"] + 2}
    assert not _reads_events(store, store.feed_marks)
    assert _reads_events(store, lambda: store.query("SELECT COUNT(*) FROM events WHERE kind = 'alert'")), \
        "the measure cannot see a count of the receipts"


def test_hit_shows_the_version_of_the_list_that_matched(store):
    """A gate screening by several lists records in clear what each answered and at which version: the hit shows
    the version of the list that matched (not another list's, not the gate's first list's), and none when the
    event does not say."""
    records = ConsoleRecords(store, clock=FakeClock(NOW))
    add_search(store, "gate-1", "port-a", NOW, hit=True, list_version=42)
    add_search(store, "gate-1", "port-a", NOW + 1, hit=True)
    newest, older = records.hits()
    assert (older["list_id"], older["list_version"]) == ("sltd", 42)
    assert (newest["list_id"], newest["list_version"]) == ("sltd", None)


def test_alert_receipts_count_and_list_only_the_gates_the_alert_was_addressed_to(store):
    """An alert to one site counts the gates of that site (by their enrolment token), one to named gates those
    gates (one not enrolled too: it was addressed, it did not receive), one to all every gate not retired; no
    alert lists a gate it was never sent to."""
    records = ConsoleRecords(store, clock=FakeClock(NOW))
    store.enrol("gate-3", bytes(range(1, 33)), NOW - DAY)
    store.enrol("gate-4", bytes(range(2, 34)), NOW - DAY)
    for token, gate, site in (("t1", "gate-1", "port-a"), ("t2", "gate-2", "desert-b"), ("t3", "gate-3", "port-a"),
                              ("t4", "gate-4", "desert-b")):
        store.add_token(token, gate, site, bytes([len(token)]) * 32, NOW - DAY, NOW)
    store.retire("gate-4", NOW - 60, "wiped")
    records.record_alert("a-site", "sara", "urgent", "site", "Watch port-a", NOW + 3600, sites=["port-a"])
    records.record_alert("a-gates", "sara", "info", "gates", "Watch two", NOW + 3600, gates=["gate-2", "gate-9"])
    records.record_alert("a-all", "sara", "warning", "all", "Watch all", NOW + 3600)
    add_alert_receipt(store, "gate-1", "port-a", "a-site", NOW + 1)
    add_alert_receipt(store, "gate-1", "port-a", "a-site", NOW + 5, "acknowledged", "amina")
    add_alert_receipt(store, "gate-2", "desert-b", "a-gates", NOW + 2)
    add_alert_receipt(store, "gate-2", "desert-b", "a-all", NOW + 2)
    board = {a["alert_id"]: a for a in records.alert_board()}
    assert {a: (b["addressees"], b["received"], b["acknowledged"]) for a, b in board.items()} == {
        "a-site": (["gate-1", "gate-3"], 1, 1), "a-gates": (["gate-2", "gate-9"], 1, 0),
        "a-all": (["gate-1", "gate-2", "gate-3"], 1, 0)}
    assert board["a-site"]["receipts"]["gate-1"] == {"received": NOW + 1, "acknowledged": NOW + 5, "officer": "amina"}
    assert (board["a-site"]["sites"], board["a-gates"]["gates"]) == (["port-a"], ["gate-2", "gate-9"])


def test_a_command_with_no_answer_is_expired_once_its_signed_not_after_passed(store):
    """A command with no result is waiting until its signed ``not_after``, expired after it; one answered stays
    answered; one recorded without its ``not_after`` (before schema 8) expires after the longest lifetime a gate
    accepts."""
    from nacl.signing import SigningKey

    from agent.protocol.commands import MAX_LIFETIME
    from tools.central.node import sign_command

    clock = FakeClock(NOW)
    records = ConsoleRecords(store, clock=clock)
    cmd_id, _ = sign_command(store, [SigningKey.generate()], "gate-1", "rebirth", {}, 600, NOW)  # as the console and `cmd` send one
    store.add_command("answered", "gate-1", 50, "pulse_relay", NOW, NOW + 60)
    store.command_result("answered", "gate-1", False, "replay", "")
    store.add_command("older", "gate-2", 1, "rebirth", NOW - MAX_LIFETIME + 30)  # no not_after recorded

    def expired() -> dict[str, bool]:
        return {c["cmd_id"]: c["expired"] for c in records.commands()}

    assert expired() == {cmd_id: False, "answered": False, "older": False}
    clock.sleep(300)
    assert expired() == {cmd_id: False, "answered": False, "older": True}
    clock.sleep(301)
    assert expired() == {cmd_id: True, "answered": False, "older": True}
    assert [c["not_after"] for c in store.commands("gate-1") if c["cmd_id"] == cmd_id] == [NOW + 600]


def test_a_proposal_with_no_second_supervisor_lapses_at_its_not_after_and_is_shown_and_audited_once(store):
    """A high-impact proposal nobody approved lapses at its ``not_after``: it leaves the pending list for the
    lapsed one (shown for ``LAPSED_SHOWN_S``, at most ``LAPSED_SHOWN``), the audit log says so once however often
    it is looked at, and it can no longer be approved."""
    from tools.central.console.records import LAPSED_SHOWN, LAPSED_SHOWN_S

    clock = FakeClock(NOW)
    records = ConsoleRecords(store, clock=clock)
    records.propose_command("c1", "gate-1", "wipe", {}, b"w1", "sara", NOW + 600)
    records.propose_command("c2", "gate-2", "pulse_relay", {"seconds": 2}, b"w2", "sara", NOW + 60)
    assert records.lapse_pending() == 0 and records.lapsed_commands() == []
    clock.sleep(120)
    assert records.lapse_pending() == 1 and records.lapse_pending() == 0
    assert [c["cmd_id"] for c in records.pending_commands()] == ["c1"]
    assert [(c["cmd_id"], c["proposed_by"], c["not_after"]) for c in records.lapsed_commands()] == \
        [("c2", "sara", NOW + 60)]
    lapsed = [e for e in records.audit_log() if e["action"] == "command_lapsed"]
    assert [(e["operator"], e["target"], json.loads(e["detail"])) for e in lapsed] == \
        [("", "gate-2/c2", {"op": "pulse_relay", "proposed_by": "sara", "not_after": NOW + 60})]
    with pytest.raises(ValueError, match="expired"):
        records.take_pending("c2", "samir", "approved")
    for i in range(LAPSED_SHOWN + 5):
        records.propose_command(f"x{i}", "gate-1", "wipe", {}, b"w", "sara", NOW + 700 + i)
    clock.sleep(1200)
    records.lapse_pending()
    assert len(records.lapsed_commands()) == LAPSED_SHOWN and records.lapsed_commands()[0]["cmd_id"] == f"x{LAPSED_SHOWN + 4}"
    clock.sleep(LAPSED_SHOWN_S)
    assert records.lapsed_commands() == [], "a lapse is shown for ever"


def test_the_alert_board_shows_the_newest_alerts_and_a_bounded_number_of_gates_each(store):
    """The Alerts page's board holds the newest ``ALERTS_SHOWN`` alerts (the count of all is known apart) and, per
    alert, the counts of the whole fleet it was addressed to but at most ``GATE_ROWS`` gates not received and as
    many that reported it, with how many more of each."""
    from tools.central.console.records import ALERTS_SHOWN, GATE_ROWS

    clock = FakeClock(NOW)
    records = ConsoleRecords(store, clock=clock)
    fleet = [f"gate-{i}" for i in range(1, GATE_ROWS + 13)]
    for i, gate in enumerate(fleet[2:], start=3):
        store.enrol(gate, bytes([i]) * 32, NOW - DAY)
    for i in range(ALERTS_SHOWN + 3):
        records.record_alert(f"a-{i:02d}", "sara", "info", "all", f"notice {i}", NOW + 3600)
        clock.sleep(1)
    for gate in fleet[:GATE_ROWS + 2]:
        add_alert_receipt(store, gate, "port-a", f"a-{ALERTS_SHOWN + 2:02d}", NOW + 100)
    board = records.alert_board()
    assert records.count_alerts() == ALERTS_SHOWN + 3
    assert [a["alert_id"] for a in board] == [f"a-{i:02d}" for i in range(ALERTS_SHOWN + 2, 2, -1)]
    newest, other = board[0], board[1]
    assert (newest["received"], len(newest["addressees"])) == (GATE_ROWS + 2, len(fleet))
    assert (len(newest["reported"]), newest["more_reported"], newest["missing"], newest["more_missing"]) == \
        (GATE_ROWS, 2, sorted(fleet[GATE_ROWS + 2:]), 0)
    assert (other["received"], len(other["missing"]), other["more_missing"], other["reported"]) == \
        (0, GATE_ROWS, len(fleet) - GATE_ROWS, [])


def test_the_alert_board_decodes_only_the_receipts_of_the_alerts_it_shows(store, monkeypatch):
    """The Alerts page reads the receipts of its ``ALERTS_SHOWN`` alerts by their stored alert id, not every receipt
    ever stored: the receipts of older alerts (not shown) are neither read nor decoded, and the figures shown are
    the same as when every receipt was decoded."""
    import tools.central.alerts as alerts
    from tools.central.console.records import ALERTS_SHOWN

    clock = FakeClock(NOW)
    records = ConsoleRecords(store, clock=clock)
    for i in range(ALERTS_SHOWN + 5):
        records.record_alert(f"a-{i:02d}", "sara", "info", "all", f"notice {i}", NOW + 3600)
        clock.sleep(1)
    for i in range(5):  # the five oldest alerts, not on the page: many receipts each
        for _ in range(20):
            add_alert_receipt(store, "gate-1", "port-a", f"a-{i:02d}", NOW + 10)
    newest = f"a-{ALERTS_SHOWN + 4:02d}"
    add_alert_receipt(store, "gate-1", "port-a", newest, NOW + 100)
    add_alert_receipt(store, "gate-1", "port-a", newest, NOW + 105, "acknowledged", "amina")
    decoded: list[bytes] = []

    def counting(body: bytes) -> dict:  # type: ignore[type-arg]
        decoded.append(body)
        return decode_event(body)

    monkeypatch.setattr(alerts, "decode_event", counting)
    board = records.alert_board()
    assert len(decoded) == 2, f"{len(decoded)} receipts decoded for a page that shows 2"
    assert (board[0]["alert_id"], board[0]["received"], board[0]["acknowledged"], board[0]["receipts"]) == \
        (newest, 1, 1, {"gate-1": {"received": NOW + 100, "acknowledged": NOW + 105, "officer": "amina"}})
    assert alerts.alert_receipts(store, "a-00")["a-00"]["gate-1"] == {"received": NOW + 10}


def test_an_alert_counts_the_fleet_of_its_time_even_one_recorded_before_its_addressees(store):
    """An alert to all gates, and one to a site recorded before the addressees were stored (its sites unknown: the
    signed alert was not kept), count the gates enrolled before the alert expired and not retired before it was
    issued: a gate enrolled after it is not shown missing it, one retired after it was addressed."""
    clock = FakeClock(NOW)
    records = ConsoleRecords(store, clock=clock)
    store.enrol("gate-3", bytes(range(1, 33)), NOW - DAY)
    records.record_alert("a-all", "sara", "warning", "all", "Watch all", NOW + 3600)
    store.execute("INSERT INTO console_alerts (alert_id, issued, operator, severity, target, notice, expires)"
                  " VALUES ('a-old', ?, 'sara', 'info', 'site', 'Watch port-a', ?)", (NOW, NOW + 3600))
    store.retire("gate-3", NOW + 60, "wiped")  # after the alerts went out: it was addressed
    store.enrol("gate-9", bytes(range(9, 41)), NOW + 2 * 3600)  # after they expired: it was not
    board = {a["alert_id"]: a for a in records.alert_board()}
    assert {a: b["addressees"] for a, b in board.items()} == {"a-all": ["gate-1", "gate-2", "gate-3"],
                                                              "a-old": ["gate-1", "gate-2", "gate-3"]}
