-- As sqlite/0009_feed_marks.sql.
-- depends: 0007_alert_receipt_ids
CREATE TABLE feed_marks (
    topic TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO feed_marks (topic, n) VALUES ('hits', 0), ('alerts', 0);
