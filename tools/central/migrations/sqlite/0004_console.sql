-- The operators' web console (docs/central.md "Operators' console"): the audit log of every operator action,
-- the hit workflow, the alerts issued from the console, commands awaiting a second supervisor, and the
-- regional picture's facts (one row per event, the fields the picture counts, filled by the console's rollup).
-- Two partial indexes let the console find the newest hits and alert receipts without scanning all events.
-- depends: 0003_enrolment
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    operator TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE hit_cases (
    gate_id TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at REAL,
    assigned_to TEXT,
    outcome TEXT,
    outcome_by TEXT,
    outcome_at REAL,
    PRIMARY KEY (gate_id, msg_id)
);
CREATE TABLE console_alerts (
    alert_id TEXT PRIMARY KEY,
    issued REAL NOT NULL,
    operator TEXT NOT NULL,
    severity TEXT NOT NULL,
    target TEXT NOT NULL,
    notice TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE pending_commands (
    cmd_id TEXT PRIMARY KEY,
    gate_id TEXT NOT NULL,
    op TEXT NOT NULL,
    args TEXT NOT NULL,
    wire BLOB NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed_at REAL NOT NULL,
    not_after REAL NOT NULL,
    decided_by TEXT,
    decided_at REAL,
    decision TEXT
);
CREATE TABLE picture_facts (
    gate_id TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    day TEXT NOT NULL,
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
PRAGMA user_version = 5;
