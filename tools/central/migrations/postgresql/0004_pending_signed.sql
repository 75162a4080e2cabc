-- As sqlite/0005_pending_signed.sql.
-- depends: 0003_console 0003_federation
ALTER TABLE gates ADD COLUMN pending_signed DOUBLE PRECISION;
