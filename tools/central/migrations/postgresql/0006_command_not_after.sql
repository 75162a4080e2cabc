-- As sqlite/0007_command_not_after.sql.
-- depends: 0005_alert_addressees
ALTER TABLE commands ADD COLUMN not_after DOUBLE PRECISION;
