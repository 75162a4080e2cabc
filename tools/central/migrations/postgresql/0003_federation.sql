-- Federation (docs/central.md "Federation"): as sqlite/0004_federation.sql.
-- depends: 0002_enrolment
CREATE TABLE federation_items (
    origin TEXT NOT NULL,
    item_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    issued DOUBLE PRECISION NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    personal INTEGER NOT NULL,
    local_ref TEXT,
    wire BYTEA NOT NULL,
    PRIMARY KEY (origin, item_id)
);
