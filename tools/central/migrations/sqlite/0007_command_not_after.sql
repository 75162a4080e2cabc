-- The signed ``not_after`` of each command sent (docs/protocol.md "Commands"): after it the gate refuses the
-- command, so the console shows one with no result past it as expired, not waiting (docs/central.md "Operators'
-- console"). A command recorded before this migration keeps NULL (the console then takes the longest lifetime a
-- gate accepts).
-- depends: 0006_alert_addressees
ALTER TABLE commands ADD COLUMN not_after REAL;
PRAGMA user_version = 8;
