"""Baseline (schema 2): create the store, or bring a file of the pre-migration code to it in place.

A file written before migrations were managed (``PRAGMA user_version`` 1 or 2, with or without the
device-key columns) has no yoyo bookkeeping, so this step runs on it: version 1 (events unique by message id
alone, rejects without a gate) is converted, version 2 only gains what is missing. Everything is
``IF NOT EXISTS`` or checked first, so the step is right from empty and from either old version.
"""

from typing import Any

from yoyo import step

from tools.central.gaps import SeqGaps

__depends__: set[str] = set()

TABLES = """
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
    gate_id TEXT NOT NULL,
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
CREATE INDEX IF NOT EXISTS requests_age ON requests (gate_id, received);
CREATE TABLE IF NOT EXISTS key_events (
    rowid INTEGER PRIMARY KEY,
    gate_id TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    old_key TEXT,
    new_key TEXT,
    reason TEXT NOT NULL DEFAULT ''
)
"""

FROM_V1 = """
ALTER TABLE events RENAME TO events_v1;
ALTER TABLE rejects RENAME TO rejects_v1;
DROP INDEX IF EXISTS events_gate;
ALTER TABLE gates ADD COLUMN seq_gaps TEXT
"""


def _statements(text: str) -> list[str]:
    return [s.strip() for s in text.split(";\n") if s.strip()]


def apply(conn: Any) -> None:
    cur = conn.cursor()
    version = cur.execute("PRAGMA user_version").fetchone()[0]
    v1 = version < 2 and cur.execute("SELECT 1 FROM sqlite_master WHERE name='events'").fetchone() is not None
    if v1:
        for stmt in _statements(FROM_V1):
            cur.execute(stmt)
    for stmt in _statements(TABLES):
        cur.execute(stmt)
    if v1:
        cur.execute(
            "INSERT OR IGNORE INTO events (msg_id, gate_id, seq, is_hit, kind, created, sent, received, body)"
            " SELECT msg_id, gate_id, seq, is_hit, kind, created, sent, received, body FROM events_v1 ORDER BY rowid"
        )
        cur.execute("INSERT INTO rejects (gate_id, reason, n) SELECT '', reason, n FROM rejects_v1")
        cur.execute("DROP TABLE events_v1")
        cur.execute("DROP TABLE rejects_v1")
        for gate_id, high in cur.execute("SELECT gate_id, MAX(seq) FROM events GROUP BY gate_id").fetchall():
            cur.execute("UPDATE gates SET seq_gaps=? WHERE gate_id=?", (SeqGaps(high).dumps(), gate_id))
    have = {r[1] for r in cur.execute("PRAGMA table_info(gates)")}
    for name, kind in (("pending_pub", "BLOB"), ("pending_since", "REAL")):
        if name not in have:
            cur.execute(f"ALTER TABLE gates ADD COLUMN {name} {kind}")
    cur.execute("PRAGMA user_version=2")


steps = [step(apply)]
