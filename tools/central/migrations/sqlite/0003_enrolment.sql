-- One-time enrolment tokens and decommissioned gates (docs/provisioning.md). A token keeps the MAC key derived
-- from its secret, never the secret; once used, the device key and certificate it was used for.
-- depends: 0002_event_day
CREATE TABLE enrol_tokens (
    token_id TEXT PRIMARY KEY,
    gate_id TEXT NOT NULL,
    site TEXT NOT NULL,
    mac_key BLOB NOT NULL,
    issued REAL NOT NULL,
    expires REAL NOT NULL,
    replace_reason TEXT,
    used REAL,
    device_pub BLOB,
    cert BLOB
);
ALTER TABLE gates ADD COLUMN retired REAL;
PRAGMA user_version = 4;
