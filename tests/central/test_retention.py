"""Retention destroys what it purges: after the centre's upkeep drops old events, the database's files hold
no trace of a purged traveller's passport number, MRZ or face crop (SQLite: the file, its WAL and shared
memory; PostgreSQL: the database's table files). docs/central.md "Retention"."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import msgpack

from tools.central.pgstore import PostgresStore
from tools.central.store import PURGE_BUSY_S, CentralStore, open_store

DAY = 86400.0
NUMBER = b"L898902C3"
MRZ = b"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
FACE = os.urandom(6000)  # a face crop: larger than a page, so it sits in overflow pages / TOAST


def _event(msg_id: str, seq: int, created: float, *, kept: bool = False, face: bool = True) -> tuple:
    """A hit carrying the purged traveller's data (``face``: with the face crop), or (``kept``) another
    traveller's, without a face: small, so several share a page with the purged one."""
    body: dict = {"id": msg_id, "decision": "HIT", "mrz": {"document_number": "C01X00T47", "lines": [
        "P<UTOMUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<"]}} if kept else {
        "id": msg_id, "decision": "HIT", "mrz": {"document_number": NUMBER.decode(), "lines": [MRZ.decode()]}}
    if face and not kept:
        body["face"] = {"jpeg": FACE}
    return (msg_id, "gate-a", seq, True, "hit", created, created, created + 0.1, msgpack.packb(body))


def _traces(files: list[Path]) -> list[str]:
    """Which of the purged traveller's data any of ``files`` still holds."""
    found = []
    for f in files:
        data = f.read_bytes() if f.exists() else b""
        found += [f"{what} in {f.name}" for what, needle in (("number", NUMBER), ("MRZ", MRZ), ("face", FACE[:64]),
                                                              ("face", FACE[-64:])) if needle in data]
    return found


def _sqlite_files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def test_sqlite_retention_leaves_no_trace_of_a_purged_passport_in_the_database_files(tmp_path):
    db = tmp_path / "central.db"
    now = time.time()
    store = CentralStore(db)
    kept = [f"kept-{i}" for i in range(10)]
    # the purged traveller's events between kept ones, on the same pages (a page that stays full enough is
    # not rebuilt by the delete: without secure_delete the cell's bytes would stay in its free space)
    store.add_events([_event(k, i + 1, now, kept=True) for i, k in enumerate(kept[:5])])
    store.add_events([_event("old", 6, now - 10 * DAY, face=False), _event("old-face", 7, now - 10 * DAY)])
    store.add_events([_event(k, i + 8, now, kept=True) for i, k in enumerate(kept[5:])])
    assert _traces(_sqlite_files(db)), "the stored event is not in the files: the scan would prove nothing"
    store.maintain(now, keep_days=2)
    assert [e["msg_id"] for e in store.events()] == kept
    assert not _traces(_sqlite_files(db))
    assert b"C01X00T47" in db.read_bytes()  # the kept travellers are still there, in the main file
    assert db.with_name(db.name + "-wal").stat().st_size == 0


def test_sqlite_purge_waits_for_a_reader_and_completes_at_the_next_upkeep(tmp_path):
    db = tmp_path / "central.db"
    now = time.time()
    store = CentralStore(db)
    store.add_events([_event("old", 1, now - 10 * DAY)])
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()  # an operator's query holds an old snapshot
    try:
        started = time.monotonic()
        store.maintain(now, keep_days=2)
        assert time.monotonic() - started < PURGE_BUSY_S + 5, "the purge held the store while the reader read"
        assert store.count_events() == 0
        assert _traces(_sqlite_files(db)), "the WAL was emptied under a reader's snapshot"
    finally:
        reader.execute("COMMIT")
        reader.close()
    store.maintain(now + 3600, keep_days=2)  # nothing new to delete: the pending WAL purge is retried
    assert not _traces(_sqlite_files(db))


def test_a_plain_delete_would_leave_the_passport_in_the_file(tmp_path):
    """Why the store zeroes what it deletes: the same rows deleted without ``secure_delete`` stay readable."""
    db = tmp_path / "plain.db"
    store = CentralStore(db)
    store._x("PRAGMA secure_delete=OFF")
    store.add_events([_event("old", 1, time.time() - 10 * DAY)])
    store.purge_wal()
    store._x("DELETE FROM events")
    store.purge_wal()
    assert "number in plain.db" in _traces([db])


def test_postgres_retention_leaves_no_trace_of_a_purged_passport_in_the_table_files(pg_cluster, pg_url):
    now = time.time()
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    store.maintain(now)
    store.add_events([_event("today", 1, now), _event("stray", 2, now - 10 * DAY)])  # a partition; the default
    # a gate clock four days ahead: the default first, moved to its partition when that is made
    store.add_events([_event("ahead", 3, now + 4 * DAY), _event("later", 4, now + 7 * DAY, kept=True)])
    store.maintain(now + 2 * DAY)
    assert store._x("SELECT msg_id FROM events_default ORDER BY msg_id").fetchall() == [("later",), ("stray",)]
    oid = store._x("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
    tables = pg_cluster.data / "base" / str(oid)

    def traces() -> list[str]:
        store._x("CHECKPOINT")  # table files written, and dropped ones unlinked
        return _traces(sorted(p for p in tables.iterdir() if p.is_file()))

    assert traces(), "the stored events are not in the table files: the scan would prove nothing"
    store.maintain(now + 7 * DAY, keep_days=2)
    assert [e["msg_id"] for e in store.events()] == ["later"]
    assert not traces()
