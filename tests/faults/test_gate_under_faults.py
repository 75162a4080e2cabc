"""The real gate process under the faults a border post sees, each checked three ways: the gate's decisions
stay those of a healthy gate, every decision reaches the central store exactly once, and the fault shows in
the gate's status (`sharaka-gate status --json`). tests/support/screening_gate.py runs the gate.

The broker outage runs by default; the others are `slow` (about 10 s each here) because the default run
already holds their link-level versions (tests/link/test_delivery.py: p19 kill -9 and p25 clock steps,
tests/faults/test_centre_db_down.py); `./tools/dev faults -m slow` runs them."""

from __future__ import annotations

import sqlite3
import time

import pytest

from agent.screening.events import decode_event
from tests.faketime import faketime_env, needs_faketime
from tests.support.gatesim import CLEAR_DOC, EXPIRED_DOC, LISTED_DOC
from tests.support.screening_gate import (
    TRAVELLERS,
    ScreeningGate,
    assert_each_decision_stored_once,
    linked_app,
)
from tests.support.wait import wait_until


def test_broker_outage_and_restart_gate_screens_on_shows_link_down_and_delivers_each_decision_once(mq, centre, gate):
    gate.start()
    gate.screen(5)
    assert wait_until(lambda: gate.status()["outbox"]["depth"] == 0, 15)
    mq.stop()
    gate.screen(10)  # decided at once, as with the broker up
    assert wait_until(lambda: gate.status()["link"]["connected"] is False, 15), gate.status()
    shown = gate.status()
    assert shown["outbox"]["depth"] >= 10, shown["outbox"]
    mq.start()
    assert_each_decision_stored_once(centre.store, gate)
    assert wait_until(lambda: gate.status()["link"]["connected"] and gate.status()["outbox"]["depth"] == 0, 30)
    assert gate.status()["link"]["connects"] >= 2
    gate.screen(5)
    assert_each_decision_stored_once(centre.store, gate)
    assert gate.stop() == 0


@pytest.mark.slow
def test_kill9_during_a_burst_every_shown_decision_reaches_the_centre_once_and_status_shows_the_crash(mq, centre,
                                                                                                      gate):
    gate.start()
    gate.screen(3)
    mq.stop()  # the broker down too: what was decided is only in the outbox when the process dies
    gate.swipe(20)
    assert wait_until(lambda: len(gate.decisions()) >= 8, 15)
    gate.kill9()  # mid-burst
    assert gate.status()["state"].startswith("dead"), gate.status()["state"]
    mq.start()
    gate.start()
    gate.wait_until_quiet()
    gate.screen(5)  # decisions as before the crash
    assert_each_decision_stored_once(centre.store, gate, unlogged=1)
    assert gate.status()["state"] == "running"


@pytest.mark.slow
def test_centre_database_down_gate_screens_on_keeps_events_until_committed_and_status_shows_the_backlog(
        centre, gate, tmp_path):
    gate.start()
    gate.screen(3)
    assert wait_until(lambda: gate.status()["outbox"]["depth"] == 0, 15)
    locker = sqlite3.connect(tmp_path / "central.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # the centre's database takes no writes
    try:
        gate.screen(10)
        time.sleep(3)
        shown = gate.status()
        assert shown["outbox"]["depth"] >= 10, "an event left the gate before the centre committed it"
        assert shown["outbox"]["oldest_age_s"] >= 2 and shown["link"]["connected"], shown
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert_each_decision_stored_once(centre.store, gate)
    assert wait_until(lambda: gate.status()["outbox"]["depth"] == 0, 30)


@pytest.mark.slow
@needs_faketime
def test_wall_clock_steps_back_and_ahead_decisions_unchanged_each_delivered_once_status_shows_the_offset(
        mq, keys, tmp_path, centre):
    clock = tmp_path / "clock"
    gate = ScreeningGate(tmp_path / "gate", mq, keys, centre.store, env=faketime_env("+0", control=clock))
    try:
        gate.start()
        gate.screen(5)
        assert wait_until(lambda: gate.status()["time"]["last_signed"], 20)  # the centre's acks: signed time
        for step, shown in (("-1d", "behind"), ("+1y", "ahead")):
            clock.write_text(step)
            gate.screen(5)  # the same travellers, the same decisions
            assert wait_until(lambda shown=shown: gate.status()["time"]["wall"] == shown, 15), gate.status()["time"]
        assert_each_decision_stored_once(centre.store, gate)
        assert gate.status()["link"]["connects"] == 1, "a clock step made the link reconnect"
    finally:
        gate.close()


@pytest.mark.slow
def test_reader_unplugged_mid_block_no_partial_decision_status_shows_it_and_every_decision_reaches_the_centre(
        centre, gate):
    gate.start()
    gate.screen(2)
    line1, line2 = TRAVELLERS[0][0]
    gate.reader.write(f"{line1}\r\n{line2[:20]}".encode())  # half a document, then the cable comes out
    time.sleep(0.2)
    gate.reader.unplug()
    assert wait_until(lambda: "reader" in gate.status().get("faults", {}), 10), gate.status()
    gate.reader.replug()
    assert wait_until(lambda: "reader" not in gate.status().get("faults", {}), 15), gate.status()
    gate.screen(5)  # the half document never became a decision: the next ones are exactly these
    assert_each_decision_stored_once(centre.store, gate)
    assert len(gate.decisions()) == 7


@pytest.mark.slow
def test_i2c_bus_lost_screening_refers_or_hits_status_shows_it_and_every_decision_reaches_the_centre(
        mq, keys, tmp_path, centre):
    """In process (the chip models' bus is failed from the test), through the real link and broker."""
    with linked_app(tmp_path, mq, keys, centre.store) as app:
        screener = app.screener
        assert screener is not None and app.outbox is not None

        def screen(lines, verdict, reasons=None):
            before = screener.last.seq if screener.last is not None else 0
            app.reader.device.swipe(lines)
            assert wait_until(lambda: screener.last is not None and screener.last.seq == before + 1, 10)
            assert screener.last.decision.verdict == verdict, screener.last.decision
            if reasons is not None:
                assert screener.last.decision.reasons == reasons
            return screener.last.event_id

        expected = {screen(CLEAR_DOC, "CLEAR"): "CLEAR"}
        app.indicators.bus.fail()  # every I2C transfer fails from now on (seen at the next write)
        expected[screen(EXPIRED_DOC, "REFER")] = "REFER"
        assert wait_until(lambda: "indicators" in app.status()["faults"], 5)
        expected[screen(LISTED_DOC, "HIT")] = "HIT"
        # with the light known broken nobody is waved through unseen: a clear traveller is referred
        expected[screen(CLEAR_DOC, "REFER", ("indicator_fault",))] = "REFER"
        app.indicators.bus.heal()
        assert app.indicators.wait_for_recovery(2.0)
        expected[screen(CLEAR_DOC, "CLEAR")] = "CLEAR"
        assert wait_until(lambda: app.outbox.depth() == 0, 30)
    stored = {e["msg_id"]: decode_event(e["body"])["decision"] for kind in ("decision", "hit")
              for e in centre.store.events("gate-a", kind=kind)}
    assert stored == expected  # each once, with the decision the gate showed
