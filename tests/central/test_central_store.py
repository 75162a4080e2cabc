"""The central store (tools/central/store.py): events unique per (gate, message id), rejects counted inside
the batch's one transaction, and a version-1 file migrated in place."""

from __future__ import annotations

import sqlite3
import time

from nacl.signing import SigningKey

from agent.protocol import topics
from agent.protocol.envelope import seal
from tests.support.link import Keys
from tools.central.node import CentralConfig, CentralNode
from tools.central.store import VERSION, CentralStore

V1_SCHEMA = """
CREATE TABLE gates (gate_id TEXT PRIMARY KEY, device_pub BLOB NOT NULL, enrolled REAL NOT NULL,
    session INTEGER NOT NULL DEFAULT 0, online INTEGER NOT NULL DEFAULT 0, last_seen REAL, list_version INTEGER,
    last_status BLOB, cmd_seq INTEGER NOT NULL DEFAULT 0);
CREATE TABLE events (rowid INTEGER PRIMARY KEY, msg_id TEXT NOT NULL UNIQUE, gate_id TEXT NOT NULL,
    seq INTEGER NOT NULL, is_hit INTEGER NOT NULL, kind TEXT NOT NULL, created REAL, sent REAL,
    received REAL NOT NULL, body BLOB NOT NULL);
CREATE INDEX events_gate ON events (gate_id, seq);
CREATE TABLE commands (cmd_id TEXT PRIMARY KEY, gate_id TEXT NOT NULL, seq INTEGER NOT NULL, op TEXT NOT NULL,
    sent REAL NOT NULL, ok INTEGER, reason TEXT, detail TEXT);
CREATE TABLE rejects (reason TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""


def _event(gate: str, msg_id: str, seq: int) -> tuple:
    return (msg_id, gate, seq, False, "decision", 1.0, 1.0, 2.0, b"x")


def test_same_message_id_from_two_gates_is_stored_for_both(tmp_path):
    store = CentralStore(tmp_path / "c.db")
    assert store.add_events([_event("gate-a", "m1", 1), _event("gate-b", "m1", 1), _event("gate-a", "m1", 1)]) == 2
    assert sorted(e["gate_id"] for e in store.events()) == ["gate-a", "gate-b"]


def test_version_1_file_is_migrated_keeping_events_and_rejects(tmp_path):
    db = sqlite3.connect(tmp_path / "c.db")
    db.executescript(V1_SCHEMA)
    db.execute("INSERT INTO gates (gate_id, device_pub, enrolled) VALUES ('gate-a', ?, 1.0)", (b"k" * 32,))
    db.executemany("INSERT INTO events (msg_id, gate_id, seq, is_hit, kind, created, sent, received, body)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [_event("gate-a", f"m{i}", i) for i in (1, 2, 3)])
    db.execute("INSERT INTO rejects VALUES ('malformed', 4)")
    db.commit()
    db.close()
    store = CentralStore(tmp_path / "c.db")
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == VERSION
    assert [e["msg_id"] for e in store.events()] == ["m1", "m2", "m3"]
    assert store.rejects() == {"malformed": 4}
    assert store.gates()[0]["seq_high"] == 3 and store.gates()[0]["seq_missing"] == 0
    assert store.add_events([_event("gate-b", "m1", 1)]) == 1  # unique per gate now
    store.close()
    assert CentralStore(tmp_path / "c.db").count_events() == 4  # reopening migrates nothing twice


def test_rejects_counted_inside_the_batch_transaction(tmp_path):
    keys, key = Keys(), SigningKey.generate()
    store = CentralStore(tmp_path / "c.db")
    store.enrol("gate-a", bytes(key.verify_key), time.time())
    node = CentralNode(CentralConfig(), store, keys.node, keys.commands)  # not started: _process is called here
    commits: list[str] = []
    store._db.set_trace_callback(lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None)
    good = seal("event", {"id": "good", "ts": 1.0, "gate": "gate-a", "seq": 1, "kind": "decision", "created": 1.0,
                          "body": b"x"}, [key])
    batch = [(topics.gate("gate-a", topics.EVENT), b"SG\x01\x01" + b"\x00" * 80)] * 100
    node._process([*batch, (topics.gate("gate-a", topics.EVENT), good)])
    assert len(commits) == 1  # one fsync for 100 rejects and the event
    assert store.rejects_by_gate() == {"gate-a": {"signature": 100}}
    assert [e["msg_id"] for e in store.events()] == ["good"]


def test_run_options_set_each_topic_budget_and_the_queue_bound():
    from tools.central.admission import Rate
    from tools.central.cli import _admission, build_parser

    args = build_parser().parse_args(["run", "--db", "x", "--keys", "k", "--rate", "hitlist/req=5/10",
                                      "--rate", "status=1", "--queue-max", "100"])
    cfg = _admission(args)
    assert cfg.rates["hitlist/req"] == Rate(5, 10) and cfg.rates["status"] == Rate(1, 1)
    assert cfg.rates["event"] == Rate(5000, 10000) and cfg.queue_max == 100
