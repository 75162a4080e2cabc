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

from tests.faketime import faketime_env, needs_faketime
from tests.support.link import make_central
from tests.support.screening_gate import ScreeningGate, assert_each_decision_stored_once
from tests.support.wait import wait_until


def test_broker_outage_and_restart_gate_screens_on_shows_link_down_and_delivers_each_decision_once(mq, keys,
                                                                                                   tmp_path):
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = ScreeningGate(tmp_path / "gate", mq, keys, central.store)
    try:
        gate.start()
        gate.screen(5)
        assert wait_until(lambda: gate.status()["outbox"]["depth"] == 0, 15)
        mq.stop()
        gate.screen(10)  # decided at once, as with the broker up
        assert wait_until(lambda: gate.status()["link"]["connected"] is False, 15), gate.status()
        shown = gate.status()
        assert shown["outbox"]["depth"] >= 10, shown["outbox"]
        mq.start()
        assert_each_decision_stored_once(central.store, gate)
        assert wait_until(lambda: gate.status()["link"]["connected"] and gate.status()["outbox"]["depth"] == 0, 30)
        assert gate.status()["link"]["connects"] >= 2
        gate.screen(5)
        assert_each_decision_stored_once(central.store, gate)
        assert gate.stop() == 0
    finally:
        gate.close()
        central.stop()


@pytest.mark.slow
def test_kill9_during_a_burst_every_shown_decision_reaches_the_centre_once_and_status_shows_the_crash(mq, keys,
                                                                                                      tmp_path):
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = ScreeningGate(tmp_path / "gate", mq, keys, central.store)
    try:
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
        assert_each_decision_stored_once(central.store, gate, unlogged=1)
        assert gate.status()["state"] == "running"
    finally:
        gate.close()
        central.stop()


@pytest.mark.slow
def test_centre_database_down_gate_screens_on_keeps_events_until_committed_and_status_shows_the_backlog(mq, keys,
                                                                                                          tmp_path):
    db = tmp_path / "central.db"
    central = make_central(mq, db, keys)
    gate = ScreeningGate(tmp_path / "gate", mq, keys, central.store)
    try:
        gate.start()
        gate.screen(3)
        assert wait_until(lambda: gate.status()["outbox"]["depth"] == 0, 15)
        locker = sqlite3.connect(db, isolation_level=None)
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
        assert_each_decision_stored_once(central.store, gate)
        assert wait_until(lambda: gate.status()["outbox"]["depth"] == 0, 30)
    finally:
        gate.close()
        central.stop()


@pytest.mark.slow
@needs_faketime
def test_wall_clock_steps_back_and_ahead_decisions_unchanged_each_delivered_once_status_shows_the_offset(
        mq, keys, tmp_path):
    central = make_central(mq, tmp_path / "central.db", keys)
    clock = tmp_path / "clock"
    gate = ScreeningGate(tmp_path / "gate", mq, keys, central.store, env=faketime_env("+0", control=clock))
    try:
        gate.start()
        gate.screen(5)
        assert wait_until(lambda: gate.status()["time"]["last_signed"], 20)  # the centre's acks: signed time
        for step, shown in (("-1d", "behind"), ("+1y", "ahead")):
            clock.write_text(step)
            gate.screen(5)  # the same travellers, the same decisions
            assert wait_until(lambda shown=shown: gate.status()["time"]["wall"] == shown, 15), gate.status()["time"]
        assert_each_decision_stored_once(central.store, gate)
        assert gate.status()["link"]["connects"] == 1, "a clock step made the link reconnect"
    finally:
        gate.close()
        central.stop()
