-- Federation (docs/central.md "Federation"): every item this centre shared with the region (direction 'out')
-- and every item another centre shared that verified here (direction 'in'), with its origin; the primary key is
-- what refuses a replayed item. ``local_ref``: the alert this centre re-issued to its own gates for it.
-- (user_version stays 4: yoyo's bookkeeping records the schema since 0002.)
-- depends: 0003_enrolment
CREATE TABLE federation_items (
    origin TEXT NOT NULL,
    item_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    issued REAL NOT NULL,
    expires REAL NOT NULL,
    received REAL NOT NULL,
    personal INTEGER NOT NULL,
    local_ref TEXT,
    wire BLOB NOT NULL,
    PRIMARY KEY (origin, item_id)
);
