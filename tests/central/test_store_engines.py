"""The central store on both engines (tools/central/store.py, tools/central/pgstore.py): schema migrations
from empty and from the previous schema, uniqueness per (gate, message id) enforced by the database,
retention by day (PostgreSQL: dropping day partitions). PostgreSQL is a real cluster (tests/central/conftest.py)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time

import psycopg
import pytest
from yoyo import get_backend, read_migrations

from agent.screening.events import encode_event
from tools.central.pgstore import PostgresStore
from tools.central.store import MIGRATIONS, VERSION, CentralStore, event_day, open_store

DAY = 86400.0
V2_SCHEMA = """
CREATE TABLE IF NOT EXISTS gates (
    gate_id TEXT PRIMARY KEY,
    device_pub BLOB NOT NULL,
    enrolled REAL NOT NULL,
    session INTEGER NOT NULL DEFAULT 0,
    online INTEGER NOT NULL DEFAULT 0,
    last_seen REAL,
    list_version INTEGER,
    last_status BLOB,
    cmd_seq INTEGER NOT NULL DEFAULT 0,
    seq_gaps TEXT
);
CREATE TABLE IF NOT EXISTS events (
    rowid INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL,
    gate_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    is_hit INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created REAL,
    sent REAL,
    received REAL NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (gate_id, msg_id)
);
CREATE INDEX IF NOT EXISTS events_gate ON events (gate_id, seq);
CREATE TABLE IF NOT EXISTS commands (
    cmd_id TEXT PRIMARY KEY,
    gate_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    op TEXT NOT NULL,
    sent REAL NOT NULL,
    ok INTEGER,
    reason TEXT,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS rejects (
    gate_id TEXT NOT NULL,  -- "" when the topic named no valid gate
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (gate_id, reason)
);
CREATE TABLE IF NOT EXISTS requests (
    gate_id TEXT NOT NULL,
    req_id TEXT NOT NULL,
    received REAL NOT NULL,
    PRIMARY KEY (gate_id, req_id)
);
"""

V2_KEY_SCHEMA = """
CREATE TABLE IF NOT EXISTS key_events (
    rowid INTEGER PRIMARY KEY,
    gate_id TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,  -- enrolled | rotation_requested | rotated | replaced
    old_key TEXT,
    new_key TEXT,
    reason TEXT NOT NULL DEFAULT ''
)
"""


def _event(gate: str, msg_id: str, seq: int, created: float | None = None) -> tuple:
    created = time.time() if created is None else created
    return (msg_id, gate, seq, False, "decision", created, created, created + 0.1, b"x")


def _columns(store: CentralStore, table: str) -> set[str]:
    cur = store._x(f"SELECT * FROM {table} WHERE 1=0")
    return {c[0] for c in cur.description}


def test_previous_schema_file_is_upgraded_in_place_keeping_events(tmp_path):
    db = sqlite3.connect(tmp_path / "c.db")
    db.executescript(V2_SCHEMA + ";" + V2_KEY_SCHEMA)
    db.execute("PRAGMA user_version=2")
    db.execute("INSERT INTO gates (gate_id, device_pub, enrolled) VALUES ('gate-a', ?, 1.0)", (b"k" * 32,))
    db.executemany("INSERT INTO events (msg_id, gate_id, seq, is_hit, kind, created, sent, received, body)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [_event("gate-a", f"m{i}", i, 1.7e9) for i in (1, 2)])
    db.commit()
    db.close()
    store = CentralStore(tmp_path / "c.db")
    assert store._x("PRAGMA user_version").fetchone()[0] == VERSION
    assert [(e["msg_id"], e["seq"]) for e in store.events()] == [("m1", 1), ("m2", 2)]
    assert {r[0] for r in store._x("SELECT day FROM events")} == {event_day(1.7e9)}
    assert store.add_events([_event("gate-a", "m1", 1, 1.7e9)]) == 0  # still unique per gate and message
    assert store.device_key("gate-a") == b"k" * 32 and "pending_pub" in _columns(store, "gates")


def test_store_at_the_previous_migration_is_brought_to_the_newest(tmp_path):
    path = tmp_path / "c.db"
    backend = get_backend(f"sqlite:///{path}")
    with backend.lock():
        todo = backend.to_apply(read_migrations(str(MIGRATIONS / "sqlite")))
        backend.apply_migrations(todo.filter(lambda m: m.id == "0001_baseline"))
    backend.connection.close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO events (msg_id, gate_id, seq, is_hit, kind, created, sent, received, body)"
               " VALUES ('m1', 'gate-a', 1, 0, 'decision', ?, 1.0, 2.0, x'00')", (2.0e9,))
    db.commit()
    db.close()
    store = CentralStore(path)
    assert store._x("SELECT day FROM events").fetchall() == [(event_day(2.0e9),)]
    store.close()
    assert CentralStore(path).count_events() == 1  # reopening applies nothing twice


def test_both_engines_start_from_empty_with_the_same_tables(tmp_path, pg_url):
    lite, pg = CentralStore(tmp_path / "c.db"), open_store(pg_url)
    assert isinstance(pg, PostgresStore)
    for table in ("gates", "events", "commands", "rejects", "requests", "key_events", "federation_items", "audit",
                  "hit_cases", "console_alerts", "pending_commands", "picture_facts", "feed_marks"):
        assert _columns(lite, table) == _columns(pg, table), table


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_federation_item_is_recorded_once_per_origin_on_both_engines(tmp_path, pg_url, engine):
    store = open_store(pg_url if engine == "postgresql" else tmp_path / "c.db")
    row = ("in", "alert", "ref-1", 1.0, 2.0, 1.5, False, b"wire")
    assert store.add_federation_item("ATL", "i1", *row)
    assert not store.add_federation_item("ATL", "i1", *row)  # the replay
    assert store.add_federation_item("BOR", "i1", *row)  # the same id from another centre is another item
    store.set_federation_local_ref("ATL", "i1", "local-1")
    assert [(r["origin"], r["local_ref"], bytes(r["wire"])) for r in store.federation_items("in")] == [
        ("ATL", "local-1", b"wire"), ("BOR", None, b"wire")]


def test_postgres_refuses_a_second_copy_of_a_gates_message(pg_url):
    store = open_store(pg_url)
    assert store.add_events([_event("gate-a", "m1", 1), _event("gate-b", "m1", 1), _event("gate-a", "m1", 1)]) == 2
    row = store._x("SELECT msg_id, gate_id, seq, is_hit, kind, created, sent, received, body, day FROM events"
                   " WHERE gate_id='gate-a'").fetchone()
    with pytest.raises(psycopg.errors.UniqueViolation):  # the database itself, not the insert's ON CONFLICT
        store._x("INSERT INTO events (msg_id, gate_id, seq, is_hit, kind, created, sent, received, body, day)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_batch_insert_tells_each_row_new_or_copy_and_the_first_copy_wins(tmp_path, pg_url, engine):
    """Flags in the given order; SQLite inserts in arrival order, PostgreSQL in (gate, sequence, message id) order
    (the lock order that keeps workers from deadlocking)."""
    store = open_store(pg_url if engine == "postgresql" else tmp_path / "c.db")
    now = int(time.time())  # a whole number of seconds, as msgpack gives it (an int among floats)
    first = _event("gate-a", "m0", 1)
    assert store.add_events([first]) == 1
    rows = [_event("gate-a", "m2", 3, now), first, _event("gate-b", "m2", 1),
            _event("gate-a", "m1", 2), _event("gate-a", "m2", 3, now + 0.5)]  # m0 stored before; m2 twice here
    with store.transaction():
        assert store.insert_events(rows) == [True, False, True, True, False]
    stored = [(e["gate_id"], e["msg_id"], e["created"]) for e in store.events()]
    m2, b_m2, m1 = ("gate-a", "m2", now), ("gate-b", "m2", rows[2][5]), ("gate-a", "m1", rows[3][5])
    assert stored == [("gate-a", "m0", first[5]), *([m2, b_m2, m1] if engine == "sqlite" else [m1, m2, b_m2])]


def test_two_workers_committing_the_same_messages_store_each_once(pg_url):
    rows = [_event(f"gate-{i % 7}", f"m{i}", i) for i in range(300)]
    stores = [open_store(pg_url) for _ in range(3)]
    new: list[int] = []

    def worker(store: CentralStore) -> None:
        for attempt in range(5):  # a deadlock between two copies is retried, as the node does
            try:
                new.append(store.add_events(rows))
                return
            except Exception as exc:
                if not store.is_transient(exc) or attempt == 4:
                    raise

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(new) == 300 and stores[0].count_events() == 300


def _insert_together(stores: list[CentralStore], batches: list[list[tuple]]) -> tuple[list[list[bool]], list]:
    """Each store inserts its batch in a transaction of its own, all starting at once: (flags, errors)."""
    new: list[list[bool]] = [[] for _ in stores]
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def worker(k: int) -> None:
        try:
            start.wait()
            with stores[k].transaction():
                new[k] = stores[k].insert_events(batches[k])
        except BaseException as exc:  # a deadlock is what the test looks for
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return new, errors


def test_workers_inserting_copies_of_the_same_events_in_opposite_orders_do_not_deadlock(pg_url):
    """Gates resend what a slow centre did not ack, so two workers' batches hold copies of the same events in
    different orders; each batch is one insert statement, taking the unique index's locks in (gate, message id)
    order whatever the arrival order, so they wait for each other and never deadlock (found at 2,000 gates:
    a batch of 573 deadlocked three times and was left to the gates' resend)."""
    stores = [open_store(pg_url) for _ in range(2)]
    try:
        for round_ in range(10):
            rows = [_event(f"gate-{i % 5}", f"r{round_}-{i}", i) for i in range(400)]
            new, errors = _insert_together(stores, [rows, rows[::-1]])
            assert errors == [], f"round {round_}: {errors}"
            assert sum(new[0]) + sum(new[1]) == 400  # each event stored once, by one of them
    finally:
        for s in stores:
            s.close()


def test_postgres_retention_drops_old_day_partitions(pg_url):
    now = time.time()
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    store.add_events([_event("gate-a", "old", 1, now - 10 * DAY), _event("gate-a", "new", 2, now)])
    assert store._x("SELECT msg_id FROM events_default").fetchall() == [("old",)]  # outside the made window
    store.maintain(now + 3 * DAY, keep_days=2)  # three days on, keeping two
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    assert today not in store.partitions() and today + dt.timedelta(days=3) in store.partitions()
    assert store.count_events() == 0


def test_a_partition_made_late_takes_over_its_days_rows_from_the_default(pg_url):
    now = time.time()
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    store.add_events([_event("gate-a", "ahead", 1, now + 5 * DAY)])  # a gate clock five days ahead
    store.maintain(now + 4 * DAY)  # its day is now inside the window
    ahead = dt.datetime.fromtimestamp(now + 5 * DAY, dt.UTC).date()
    name = store.partitions()[ahead]
    assert store._x(f"SELECT msg_id FROM {name}").fetchall() == [("ahead",)]
    assert store._x("SELECT count(*) FROM events_default").fetchone()[0] == 0
    assert store.add_events([_event("gate-a", "ahead", 1, now + 5 * DAY)]) == 0  # still unique there


def test_sqlite_retention_deletes_by_day(tmp_path):
    now = time.time()
    store = CentralStore(tmp_path / "c.db")
    store.add_events([_event("gate-a", "old", 1, now - 10 * DAY), _event("gate-a", "new", 2, now)])
    assert store.retain(2, now) == 1
    assert [e["msg_id"] for e in store.events()] == ["new"]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_stale_rotation_request_does_not_replace_a_newer_pending_key(tmp_path, pg_url, engine):
    """Workers take a gate's messages in any order: a rotation request signed earlier, stored after a newer one,
    replaced the newer pending key, so a gate that switched on the newer key's confirmation was refused. Now the
    pending key keeps its request's signed time and an older request changes nothing."""
    store = open_store(pg_url if engine == "postgresql" else tmp_path / "c.db")
    old, stale, newer, newest = (bytes([n]) * 32 for n in (1, 2, 3, 4))
    store.enrol("gate-r", old, 1.0)
    assert store.propose_key("gate-r", newer, now=50.0, signed=20.0)
    assert not store.propose_key("gate-r", stale, now=51.0, signed=10.0)
    assert store.device_keys("gate-r") == [old, newer], "the newer pending key is kept"
    assert [e["kind"] for e in store.key_events("gate-r")] == ["enrolled", "rotation_requested"]
    assert store.propose_key("gate-r", newest, now=52.0, signed=30.0)  # a newer request still replaces it
    assert store.promote_key("gate-r", newest, 53.0) and store.device_keys("gate-r") == [newest]
    assert store.propose_key("gate-r", stale, now=54.0, signed=10.0), "no pending key: nothing to be stale against"


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_alert_events_stored_before_their_alert_id_column_get_it_from_the_migration(tmp_path, pg_url, engine):
    """The receipts a store held before ``events.alert_id`` (sqlite 0008, postgresql 0007) are found by it after
    the migration, as those stored after: the console reads an alert's receipts by that column alone."""
    from tests.support.console import add_alert_receipt
    from tools.central.alerts import alert_receipts

    dialect = "postgresql" if engine == "postgresql" else "sqlite"
    url = pg_url.replace("postgresql://", "postgresql+psycopg://", 1) if engine == "postgresql" \
        else f"sqlite:///{tmp_path / 'c.db'}"
    backend = get_backend(url)
    with backend.lock():
        todo = backend.to_apply(read_migrations(str(MIGRATIONS / dialect)))
        backend.apply_migrations(todo.filter(lambda m: "alert_receipt_ids" not in m.id))
    cur = backend.connection.cursor()
    mark = "%s" if engine == "postgresql" else "?"
    event = encode_event({"v": 2, "type": "alert", "id": "m1", "gate": "gate-a", "wall": 2.0e9, "alert": "a-1",
                          "state": "received"})
    cur.execute("INSERT INTO events (msg_id, gate_id, seq, is_hit, kind, created, sent, received, body, day) VALUES"
                f" ('m1', 'gate-a', 1, 0, 'alert', 2.0e9, 2.0e9, 2.0e9, {mark}, {mark})", (event, event_day(2.0e9)))
    backend.connection.commit()
    backend.connection.close()
    store = open_store(pg_url if engine == "postgresql" else tmp_path / "c.db")
    add_alert_receipt(store, "gate-b", "port-a", "a-1", 2.0e9 + 5)
    assert alert_receipts(store, "a-1") == {"a-1": {"gate-a": {"received": 2.0e9}, "gate-b": {"received": 2.0e9 + 5}}}
    store.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_one_hit_event_is_found_by_its_message_id_without_reading_the_others(tmp_path, pg_url, engine):
    """``events(msg_id=...)`` (what sharing a hit reads: the console's Share action, ``federation share``) gives
    that event alone, filtered by the database, on both engines; another kind or an unknown id gives none."""
    store = open_store(pg_url if engine == "postgresql" else tmp_path / "c.db")
    hit = ("h1", "gate-a", 2, True, "hit", 1.0, 1.0, 1.1, b"hit body")
    store.add_events([_event("gate-a", "d1", 1), hit, _event("gate-b", "d2", 1)])
    found = store.events(hits_only=True, kind="hit", msg_id="h1")
    assert [(e["msg_id"], bytes(e["body"])) for e in found] == [("h1", b"hit body")]
    assert store.events(hits_only=True, kind="hit", msg_id="d1") == []
    assert store.events(hits_only=True, kind="hit", msg_id="nope") == []


def test_a_cluster_stopped_with_a_client_connected_ends_at_once_and_starts_again_on_its_data(pg_cluster, pg_url):
    """The test cluster's outage (tests/support/postgres.py: ``stop(); start()``): the server itself stops at once,
    its sessions cut (as root our child is ``runuser``, which ignored the signal: the server ran on, and each
    test process's last teardown waited 30 s), and starts again with what was committed."""
    conn = psycopg.connect(pg_url, autocommit=True)
    conn.execute("CREATE TABLE kept (n integer)")
    conn.execute("INSERT INTO kept VALUES (1)")
    started = time.monotonic()
    pg_cluster.stop()
    assert time.monotonic() - started < 10
    assert not (pg_cluster.data / "postmaster.pid").exists(), "the server still runs"
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()
    pg_cluster.start()
    with psycopg.connect(pg_url) as again:
        assert again.execute("SELECT n FROM kept").fetchall() == [(1,)]
