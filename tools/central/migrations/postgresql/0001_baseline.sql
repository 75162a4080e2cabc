-- The central store on PostgreSQL (schema 3, the same tables as SQLite's after 0002_event_day).
-- Events are partitioned by day (the UTC date of their creation at the gate, fixed by the signed message, so
-- a resent event lands in the same partition); the primary key (gate_id, msg_id, day) makes the database
-- refuse a second copy of a gate's message. Partitions are made ahead and dropped at retention by the
-- store (tools/central/pgstore.py); events_default holds days outside that window (a gate's clock far off).
CREATE TABLE gates (
    gate_id TEXT PRIMARY KEY,
    device_pub BYTEA NOT NULL,
    enrolled DOUBLE PRECISION NOT NULL,
    session BIGINT NOT NULL DEFAULT 0,
    online INTEGER NOT NULL DEFAULT 0,
    last_seen DOUBLE PRECISION,
    list_version BIGINT,
    last_status BYTEA,
    cmd_seq BIGINT NOT NULL DEFAULT 0,
    seq_gaps TEXT,
    pending_pub BYTEA,
    pending_since DOUBLE PRECISION
);
CREATE TABLE events (
    rowid BIGSERIAL,
    msg_id TEXT NOT NULL,
    gate_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    is_hit INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created DOUBLE PRECISION,
    sent DOUBLE PRECISION,
    received DOUBLE PRECISION NOT NULL,
    body BYTEA NOT NULL,
    day DATE NOT NULL,
    PRIMARY KEY (gate_id, msg_id, day)
) PARTITION BY RANGE (day);
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX events_gate ON events (gate_id, seq);
CREATE INDEX events_order ON events (rowid);
CREATE TABLE commands (
    cmd_id TEXT PRIMARY KEY,
    gate_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    op TEXT NOT NULL,
    sent DOUBLE PRECISION NOT NULL,
    ok INTEGER,
    reason TEXT,
    detail TEXT
);
CREATE TABLE rejects (
    gate_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (gate_id, reason)
);
CREATE TABLE requests (
    gate_id TEXT NOT NULL,
    req_id TEXT NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (gate_id, req_id)
);
CREATE INDEX requests_age ON requests (gate_id, received);
CREATE TABLE key_events (
    rowid BIGSERIAL PRIMARY KEY,
    gate_id TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    old_key TEXT,
    new_key TEXT,
    reason TEXT NOT NULL DEFAULT ''
);
