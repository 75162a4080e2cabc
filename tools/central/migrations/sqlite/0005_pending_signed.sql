-- The signed time (``ts``) of the rotation request that made a gate's key pending (docs/protocol.md "Device-key
-- rotation"): a request signed before it, arriving later (another worker, a repeat), does not replace it.
-- depends: 0004_console 0004_federation
ALTER TABLE gates ADD COLUMN pending_signed REAL;
PRAGMA user_version = 6;
