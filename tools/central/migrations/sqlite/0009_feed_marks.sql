-- A counter per kind of stored event the console's live pages show (``hits``: hit events, ``alerts``: the gates'
-- alert receipts), raised in the transaction that stores new ones (``CentralStore.insert_events``): the console's
-- feed reads its change marks from these two rows four times a second instead of counting every hit and every
-- receipt ever stored (docs/central.md "Operators' console").
-- depends: 0008_alert_receipt_ids
CREATE TABLE feed_marks (
    topic TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
INSERT INTO feed_marks (topic, n) VALUES ('hits', 0), ('alerts', 0);
PRAGMA user_version = 10;
