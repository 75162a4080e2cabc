-- Each event's day (UTC date of its creation at the gate, 'YYYY-MM-DD'): retention deletes by day, as
-- PostgreSQL drops its day partitions. A resent event carries the same creation time, so the same day.
-- depends: 0001_baseline
ALTER TABLE events ADD COLUMN day TEXT NOT NULL DEFAULT '';
UPDATE events SET day = date(COALESCE(created, received), 'unixepoch');
CREATE INDEX events_day ON events (day);
PRAGMA user_version = 3;
