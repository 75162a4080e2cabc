-- As sqlite/0004_console.sql, in PostgreSQL types; picture_facts.day is a date like events.day.
-- The operators' web console (docs/central.md "Operators' console"): the audit log of every operator action,
-- the hit workflow, the alerts issued from the console, commands awaiting a second supervisor, and the
-- regional picture's facts (one row per event, the fields the picture counts, filled by the console's rollup).
-- Two partial indexes let the console find the newest hits and alert receipts without scanning all events.
-- depends: 0002_enrolment
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    operator TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE hit_cases (
    gate_id TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at DOUBLE PRECISION,
    assigned_to TEXT,
    outcome TEXT,
    outcome_by TEXT,
    outcome_at DOUBLE PRECISION,
    PRIMARY KEY (gate_id, msg_id)
);
CREATE TABLE console_alerts (
    alert_id TEXT PRIMARY KEY,
    issued DOUBLE PRECISION NOT NULL,
    operator TEXT NOT NULL,
    severity TEXT NOT NULL,
    target TEXT NOT NULL,
    notice TEXT NOT NULL,
    expires DOUBLE PRECISION NOT NULL
);
CREATE TABLE pending_commands (
    cmd_id TEXT PRIMARY KEY,
    gate_id TEXT NOT NULL,
    op TEXT NOT NULL,
    args TEXT NOT NULL,
    wire BYTEA NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed_at DOUBLE PRECISION NOT NULL,
    not_after DOUBLE PRECISION NOT NULL,
    decided_by TEXT,
    decided_at DOUBLE PRECISION,
    decision TEXT
);
CREATE TABLE picture_facts (
    gate_id TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    day DATE NOT NULL,
    hour INTEGER NOT NULL,
    site TEXT NOT NULL,
    is_hit INTEGER NOT NULL,
    list_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    issuing_state TEXT NOT NULL,
    PRIMARY KEY (gate_id, msg_id)
);
CREATE INDEX picture_day ON picture_facts (day);
CREATE INDEX events_hits ON events (received) WHERE is_hit = 1;
CREATE INDEX events_alert_receipts ON events (received) WHERE kind = 'alert';
