"""RELIABILITY 52: the centre's database down while gates deliver: no ack before commit, nothing lost or
duplicated when it returns. "Down" is the store refusing writes: another process holds its write lock,
so the node's commit waits (a short outage) or fails after the store's lock timeout (a long one, slow)."""

from __future__ import annotations

import logging
import sqlite3
import time

import pytest

from tests.support.link import make_central, make_gate
from tests.support.wait import wait_until


@pytest.mark.parametrize("outage_s", [pytest.param(3.0, id="3s"),
                                      pytest.param(40.0, id="40s-past-lock-timeout", marks=pytest.mark.slow)])
def test_p52_centre_db_down_no_ack_before_commit_nothing_lost_or_duplicated(mq, keys, tmp_path, caplog, outage_s):
    db = tmp_path / "central.db"
    central = make_central(mq, db, keys)
    gate = make_gate(mq, tmp_path / "gate", keys, "gate-a", store=central.store, ack_timeout=2.0)
    try:
        assert gate.link.wait_for_connected(10)
        gate.emit(10)
        assert wait_until(lambda: gate.outbox.depth() == 0, 10)
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # the database stops taking writes
        try:
            during = gate.emit(50) + gate.emit(1, hit=True)
            end = time.monotonic() + outage_s
            while time.monotonic() < end:
                assert gate.outbox.depth() >= 51, "an event left the gate before the centre committed it"
                time.sleep(0.2)
            shown = gate.link.status()["outbox"]  # what the gate's status (and its heartbeat) shows meanwhile
            assert shown["depth"] >= 51 and shown["oldest_age"] >= outage_s - 1
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert wait_until(lambda: gate.outbox.depth() == 0, 60), gate.link.stats
        ids = [e["msg_id"] for e in central.store.events("gate-a")]
        assert len(ids) == len(set(ids)) == 61 and set(during) <= set(ids)
        if outage_s > 30:  # past the store's lock timeout the batch failed, was not acked, and was resent
            assert any("batch of" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    finally:
        gate.stop()
        central.stop()
