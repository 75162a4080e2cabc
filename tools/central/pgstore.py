"""The central store on PostgreSQL (psycopg 3): the SQL of ``CentralStore`` with ``%s`` parameters, row locks
for the per-gate state several workers update, and events partitioned by day.

Partitions: ``maintain()`` (run by every node at start and hourly; one at a time by an advisory lock) makes
the partitions of yesterday to ``AHEAD`` days ahead, and with a retention period drops the partitions of
older days and deletes their rows from ``events_default`` (where an event whose gate clock put it outside the
window lands). A partition made for a day that already has rows in ``events_default`` takes them over.
Uniqueness per (gate, message id) holds in every partition: the primary key is (gate_id, msg_id, day), and
``day`` comes from the signed creation time, the same for every copy of a message.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import psycopg
from psycopg import errors

from tools.central.store import CentralStore, EventRow, alert_id_of, event_day, migrate, redact

AHEAD = 2  # days of partitions made ahead
_MAINTAIN_LOCK = 0x5348_4152  # pg advisory lock id ("SHAR") around partition upkeep
_PARTITION = re.compile(r"events_(\d{8})")
# a batch's events as one statement over column arrays: one round trip, one plan, no per-row statement in psycopg
_INSERT_EVENTS = (
    "INSERT INTO events (msg_id, gate_id, seq, is_hit, kind, created, sent, received, body, day, alert_id)"
    " SELECT * FROM unnest(?::text[], ?::text[], ?::bigint[], ?::int[], ?::text[], ?::float8[],"
    " ?::float8[], ?::float8[], ?::bytea[], ?::date[], ?::text[])"
    " ON CONFLICT DO NOTHING RETURNING gate_id, msg_id")


class PostgresStore(CentralStore):
    """``CentralStore`` on a PostgreSQL database given by a libpq URL (``postgresql://user@host:port/db``)."""

    _BEGIN = "BEGIN"
    _FOR_UPDATE = " FOR UPDATE"

    def __init__(self, url: str) -> None:  # noqa: D107 - documented on the class
        self.path = None  # type: ignore[assignment]
        self.where = redact(url)
        self._conninfo = url.replace("postgres://", "postgresql://", 1)
        self._lock = threading.RLock()
        self._depth = 0
        self._marks_due: dict[str, int] = {}
        self._sql_cache: dict[str, str] = {}
        migrate(self._conninfo.replace("postgresql://", "postgresql+psycopg://", 1))
        self._db = self._connect()
        self.maintain(dt.datetime.now(dt.UTC).timestamp())

    def _connect(self) -> Any:
        return psycopg.connect(self._conninfo, autocommit=True)

    def reopen(self) -> PostgresStore:
        """The same database on a connection of its own (a second writer in the process: the hit lane)."""
        return PostgresStore(self._conninfo)

    def _sql(self, sql: str) -> str:
        """``sql`` with ``%s`` parameters (reconnected first when the server restarted)."""
        q = self._sql_cache.get(sql)
        if q is None:
            q = self._sql_cache[sql] = sql.replace("%", "%%").replace("?", "%s")
        if self._depth == 0 and self._db.broken:  # the server restarted: a new session for the next work
            self._db = self._connect()
        return q

    def _x(self, sql: str, args: Any = (), *, binary: bool = False) -> Any:
        """Execute ``sql`` (``?`` parameters); ``binary``: send the parameters in binary (arrays: ~8x less
        Python work than text)."""
        q = self._sql(sql)
        return self._db.execute(q.replace("%s", "%b") if binary else q, args)

    def _xmany(self, sql: str, rows: list[Any], *, returning: bool = False) -> list[Any]:
        if not rows:
            return []
        with self._db.cursor() as cur:
            cur.executemany(self._sql(sql), rows, returning=returning)  # psycopg 3 pipelines them: one round trip
            if not returning:
                return []
            out = [cur.fetchone()]
            while cur.nextset():
                out.append(cur.fetchone())
            return out

    def insert_events(self, rows: list[EventRow]) -> list[bool]:
        """As ``CentralStore.insert_events``, by one ``INSERT … SELECT FROM unnest(column arrays)``: the rows go
        in in (gate, sequence, message id) order, the flags come back in the given order, and of several copies of one
        (gate, message id) in ``rows`` the first is the new one (``ON CONFLICT DO NOTHING`` skips the later ones,
        as it skips a copy stored before)."""
        if not rows:
            return []
        # inserted in (gate, sequence, message id) order (a copy of a message has its signed sequence number):
        # every worker's transaction takes the unique index's locks in the same order, so two workers inserting
        # copies of the same messages (gates resending) wait for each other instead of deadlocking; a gate's own
        # events stay in its order, and the sort is stable: the first of two copies is still the one inserted
        cols = [list(c) for c in zip(*sorted(rows, key=lambda r: (r[1], r[2], r[0])), strict=True)]
        cols[3] = [int(h) for h in cols[3]]
        for i in (5, 6, 7):  # msgpack gives an int for a whole number of seconds: one array type each
            cols[i] = [float(t) for t in cols[i]]
        cols.append([event_day(c) for c in cols[5]])
        cols.append([alert_id_of(k, b) for k, b in zip(cols[4], cols[8], strict=True)])
        with self.transaction():
            inserted = {(g, m) for g, m in self._x(_INSERT_EVENTS, cols, binary=True).fetchall()}
            out = []
            for msg_id, gate_id, *_ in rows:
                key = (gate_id, msg_id)
                out.append(key in inserted)
                inserted.discard(key)  # a later copy in the same rows is not new
            self._count_for_feed(rows, out)
        return out

    def transaction(self) -> Any:
        if self._depth == 0 and self._db.broken:
            self._db = self._connect()
        return super().transaction()

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable,
                                psycopg.OperationalError))

    # ------------------------------------------------------------------ partitions
    def partitions(self) -> dict[dt.date, str]:
        """The day partitions of ``events`` (not ``events_default``), by day."""
        rows = self._x("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                       " WHERE i.inhparent = 'events'::regclass").fetchall()
        out = {}
        for (name,) in rows:
            m = _PARTITION.fullmatch(name)
            if m:
                out[dt.datetime.strptime(m.group(1), "%Y%m%d").date()] = name
        return out

    def _add_partition(self, day: dt.date) -> bool:
        """Make ``day``'s partition; True when it took rows over from ``events_default``."""
        name = f"events_{day:%Y%m%d}"
        bounds = f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + dt.timedelta(days=1)).isoformat()}')"
        if self._x("SELECT 1 FROM events_default WHERE day = ? LIMIT 1", (day.isoformat(),)).fetchone() is None:
            self._x(f"CREATE TABLE {name} PARTITION OF events {bounds}")
            return False
        # rows of that day already sit in the default partition: move them, then attach
        self._x(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        self._x(f"INSERT INTO {name} SELECT * FROM events_default WHERE day = ?", (day.isoformat(),))
        self._x("DELETE FROM events_default WHERE day = ?", (day.isoformat(),))
        self._x(f"ALTER TABLE events ATTACH PARTITION {name} {bounds}")
        return True

    def _rewrite_default(self) -> None:
        """A DELETE leaves the rows' bytes in ``events_default``'s file (dead tuples, then free space): rewrite
        it, so a copy moved to a partition goes with that partition and a purged row is gone (small: stray
        days only)."""
        self._x("VACUUM FULL events_default")

    def maintain(self, now: float, keep_days: int = 0) -> None:
        """Make the partitions from yesterday to ``AHEAD`` days ahead; with ``keep_days`` > 0 apply retention.
        Skipped when another worker holds the upkeep lock (it is doing the same)."""
        today = dt.datetime.fromtimestamp(now, dt.UTC).date()
        cutoff = today - dt.timedelta(days=keep_days) if keep_days > 0 else None
        with self.transaction():
            if not self._x("SELECT pg_try_advisory_xact_lock(?)", (_MAINTAIN_LOCK,)).fetchone()[0]:
                return
            have = self.partitions()
            moved = False
            for offset in range(-1, AHEAD + 1):
                day = today + dt.timedelta(days=offset)
                if day not in have and (cutoff is None or day >= cutoff):
                    moved = self._add_partition(day) or moved
        if moved:
            self._rewrite_default()
        if cutoff is not None:
            self.retain(keep_days, now)

    def retain(self, keep_days: int, now: float) -> int:
        """Drop the day partitions older than ``keep_days`` days and delete such rows from ``events_default``;
        returns how many events went."""
        cutoff = dt.datetime.fromtimestamp(now, dt.UTC).date() - dt.timedelta(days=keep_days)
        gone = 0
        with self.transaction():
            for day, name in sorted(self.partitions().items()):
                if day < cutoff:
                    gone += int(self._x(f"SELECT count(*) FROM {name}").fetchone()[0])
                    self._x(f"DROP TABLE {name}")
            stray = int(self._x("DELETE FROM events_default WHERE day < ?", (cutoff.isoformat(),)).rowcount)
        if stray:
            self._rewrite_default()
        return gone + stray
