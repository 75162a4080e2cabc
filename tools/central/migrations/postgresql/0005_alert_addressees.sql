-- As sqlite/0006_alert_addressees.sql.
-- depends: 0004_pending_signed
ALTER TABLE console_alerts ADD COLUMN sites TEXT NOT NULL DEFAULT '[]';
ALTER TABLE console_alerts ADD COLUMN gates TEXT NOT NULL DEFAULT '[]';
