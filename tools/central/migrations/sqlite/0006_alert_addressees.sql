-- Whom an alert issued from the console was addressed to (docs/central.md "Operators' console"): the sites or the
-- named gates of its signed target, as JSON lists, so its receipts count only those gates. An alert recorded
-- before this migration keeps '[]' and is counted over the fleet of its time (console/records.py: alert_board).
-- depends: 0005_pending_signed
ALTER TABLE console_alerts ADD COLUMN sites TEXT NOT NULL DEFAULT '[]';
ALTER TABLE console_alerts ADD COLUMN gates TEXT NOT NULL DEFAULT '[]';
PRAGMA user_version = 7;
