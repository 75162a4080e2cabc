-- One-time enrolment tokens and decommissioned gates (docs/provisioning.md): as sqlite/0003_enrolment.sql.
-- depends: 0001_baseline
CREATE TABLE enrol_tokens (
    token_id TEXT PRIMARY KEY,
    gate_id TEXT NOT NULL,
    site TEXT NOT NULL,
    mac_key BYTEA NOT NULL,
    issued DOUBLE PRECISION NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    replace_reason TEXT,
    used DOUBLE PRECISION,
    device_pub BYTEA,
    cert BYTEA
);
ALTER TABLE gates ADD COLUMN retired DOUBLE PRECISION;
