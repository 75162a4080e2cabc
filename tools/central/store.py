"""The central node's SQLite store: registered gates and their device keys (with every key change in
``key_events``), events and hits (unique per gate and message id), commands, rejects per gate and reason,
served request ids, and each gate's sequence gaps.

The schema is managed by yoyo migrations (``tools/central/migrations/``, one folder per dialect), applied
on open: from empty, from a file of the pre-migration code (schema 1 or 2, upgraded in place), or from any
earlier migration. ``open_store(url)`` picks SQLite (a path: the demo, a small site) or PostgreSQL
(``postgresql://``: several workers, events partitioned by day, ``tools.central.pgstore``).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgpack
from yoyo import get_backend, read_migrations

from agent.keys import message_key_id
from agent.protocol import topics
from agent.screening.events import decode_event
from tools.central.gaps import SeqGaps

logger = logging.getLogger(__name__)

VERSION = 10
EventRow = tuple[str, str, int, bool, str, float, float, float, bytes]
"""(msg_id, gate_id, seq, is_hit, kind, created, sent, received, body)"""
MIGRATIONS = Path(__file__).parent / "migrations"
DAY = 86400
CHUNK = 500  # gates per statement of the batch reads: under both engines' parameter limits
BUSY_S = 30  # how long a statement waits for another connection's lock
PURGE_BUSY_S = 1  # how long the WAL purge waits for readers: every writer waits behind it (the store's lock)


def event_day(created: float) -> str:
    """The UTC date ('YYYY-MM-DD') an event was created at its gate: its partition (PostgreSQL) and the unit
    of retention. Fixed by the signed message, so a resent event falls on the same day."""
    return time.strftime("%Y-%m-%d", time.gmtime(created))


def alert_id_of(kind: str, body: bytes) -> str | None:
    """The alert a gate's ``alert`` event (its receipt or acknowledgement, agent/alerts.py: outbox_report) names,
    kept as ``events.alert_id`` when it is stored so that an alert's receipts are read by that column alone, not
    by decoding every receipt; None for any other event or an unreadable body."""
    if kind != "alert":
        return None
    try:
        alert_id = decode_event(bytes(body)).get("alert")
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    return alert_id if isinstance(alert_id, str) else None


def add_alert_ids(conn: Any, param: str) -> None:
    """Add ``events.alert_id`` and its index, and set it on the alert events stored before (the migrations
    sqlite/0008 and postgresql/0007, on their driver's connection; ``param`` its placeholder), decoding each once."""
    cur = conn.cursor()
    cur.execute("ALTER TABLE events ADD COLUMN alert_id TEXT")
    cur.execute("CREATE INDEX events_alert ON events (alert_id, gate_id) WHERE alert_id IS NOT NULL")
    cur.execute("SELECT gate_id, msg_id, body FROM events WHERE kind = 'alert'")
    found = [(a, g, m) for g, m, b in cur.fetchall() if (a := alert_id_of("alert", b)) is not None]
    for row in found:
        cur.execute(f"UPDATE events SET alert_id = {param} WHERE gate_id = {param} AND msg_id = {param}", row)


def is_past_retention(created: float, keep_days: int, now: float) -> bool:
    """True when an event created at ``created`` falls on a day retention (``--keep-days``) deletes at ``now``:
    ``retain`` deletes such rows, and the node acknowledges such an event without storing it
    (docs/protocol.md "Retention and resends"). Never with ``keep_days`` 0 (everything kept)."""
    return keep_days > 0 and event_day(created) < event_day(now - keep_days * DAY)


def migrate(url: str) -> list[str]:
    """Bring the database at the yoyo ``url`` to the newest schema of its dialect
    (``tools/central/migrations/{sqlite,postgresql}/``); returns the ids applied now. Holds yoyo's lock, so
    several workers starting together apply each migration once."""
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    backend = get_backend(url)
    try:
        with backend.lock():
            todo = backend.to_apply(read_migrations(str(MIGRATIONS / dialect)))
            backend.apply_migrations(todo)
        return [m.id for m in todo]
    finally:
        backend.connection.close()


def is_url(target: str | Path) -> bool:
    """True when ``target`` names a PostgreSQL database rather than an SQLite file."""
    return str(target).startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    return re.sub(r"://([^:@/]*):[^@/]*@", r"://\1@", url)


def open_store(target: str | Path) -> CentralStore:
    """The store at ``target``: a ``postgresql://`` URL (``tools.central.pgstore``), or an SQLite file path
    (``sqlite:///PATH`` also accepted). Migrates the schema on open."""
    text = str(target)
    if is_url(text):
        from tools.central.pgstore import PostgresStore  # psycopg only where PostgreSQL is chosen

        return PostgresStore(text)
    return CentralStore(Path(text.removeprefix("sqlite://")))


class CentralStore:
    """The central store: SQLite by default (one file, WAL, synchronous=FULL); ``PostgresStore`` fills the
    same narrow hooks (``_connect``, ``_x``, ``_xmany``, ``_BEGIN``, ``_FOR_UPDATE``, ``retain``) for PostgreSQL.
    Thread-safe through one lock; one writer thread per node process. SQL here is written once, with ``?``
    parameters and statements both engines accept (``ON CONFLICT``, ``RETURNING``, savepoints)."""

    _BEGIN = "BEGIN IMMEDIATE"
    _FOR_UPDATE = ""  # SQLite's BEGIN IMMEDIATE already serialises writers

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        """What an operator's message names: the file, or the URL without a password."""
        self._lock = threading.RLock()
        self._depth = 0  # open transaction() levels
        self._marks_due: dict[str, int] = {}  # feed_marks to raise at this transaction's commit (_raise_marks)
        self._wal_to_purge = False  # retention deleted rows the WAL may still hold (SQLite)
        self._db: Any = self._connect()
        migrate(f"sqlite:///{self.path.resolve()}")

    def _connect(self) -> Any:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_S)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # retention destroys what it deletes (docs/central.md "Retention"): freed cells and pages are zeroed
        db.execute("PRAGMA secure_delete=ON")
        return db

    def _x(self, sql: str, args: Any = ()) -> Any:
        """Execute one statement (``?`` parameters) on this store's connection; returns the cursor."""
        return self._db.execute(sql, args)

    def query(self, sql: str, args: Any = ()) -> list[dict[str, Any]]:
        """Rows of one read (``?`` parameters, SQL both engines accept) as dicts: what the operators' console
        and other readers of the store ask, written once for SQLite and PostgreSQL."""
        with self._lock:
            cur = self._x(sql, args)
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def execute(self, sql: str, args: Any = ()) -> int:
        """One write (``?`` parameters) in its own transaction, or in the caller's ``transaction()``; returns the
        rows it changed."""
        with self.transaction():
            return int(self._x(sql, args).rowcount)

    def _xmany(self, sql: str, rows: list[Any], *, returning: bool = False) -> list[Any]:
        """Execute one statement for each parameter tuple in ``rows`` (PostgreSQL: pipelined, one round trip);
        with ``returning``, each one's first result row (None when it returned none), else []."""
        if returning:
            return [self._db.execute(sql, r).fetchone() for r in rows]
        self._db.executemany(sql, rows)
        return []

    def is_transient(self, exc: BaseException) -> bool:
        """True for an error worth retrying the whole transaction (a lock timeout, a deadlock)."""
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

    def retain(self, keep_days: int, now: float) -> int:
        """Delete events created more than ``keep_days`` whole days before ``now``'s day; returns how many
        (PostgreSQL drops the partitions instead). The deleted rows are overwritten (``secure_delete``) and
        the WAL, whose older frames still hold them, is emptied (``purge_wal``)."""
        with self.transaction():  # the days is_past_retention names
            gone = int(self._x("DELETE FROM events WHERE day < ?", (event_day(now - keep_days * DAY),)).rowcount)
        self._wal_to_purge = self._wal_to_purge or gone > 0
        if self._wal_to_purge:
            self.purge_wal()
        return gone

    def purge_wal(self) -> bool:
        """Copy the WAL's pages into the database file and truncate the WAL to nothing: the frames written
        before a purge (the rows as inserted) go with it. False while another connection still reads an
        older snapshot; the next ``maintain`` tries again."""
        with self._lock:
            # not BUSY_S: a reader's open snapshot would hold up every write of the node for that long
            self._x(f"PRAGMA busy_timeout={PURGE_BUSY_S * 1000}")
            try:
                busy = self._x("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                self._x(f"PRAGMA busy_timeout={BUSY_S * 1000}")
        if busy:
            logger.warning("retention: the WAL still holds purged events (a reader is open); retried at the "
                           "next upkeep", extra={"fields": {"store": self.where}})
        self._wal_to_purge = bool(busy)
        return not busy

    def maintain(self, now: float, keep_days: int = 0) -> None:
        """Periodic upkeep by a node: retention when ``keep_days`` > 0 (PostgreSQL also makes partitions)."""
        if keep_days > 0:
            self.retain(keep_days, now)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction (one fsync) around everything inside; nested uses join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._x(self._BEGIN)
            self._depth = 1
            try:
                yield
                self._raise_marks()
            except BaseException:
                self._depth = 0
                self._marks_due = {}
                self._x("ROLLBACK")
                raise
            self._depth = 0
            self._x("COMMIT")

    def _raise_marks(self) -> None:
        """Raise the ``feed_marks`` counters of what this transaction stored, as its last statements: on PostgreSQL
        a counter's row stays locked only until the commit that follows, and never before another lock is taken
        (topics in one order, so two workers never wait for each other's)."""
        due, self._marks_due = self._marks_due, {}
        for topic, n in sorted(due.items()):
            self._x("UPDATE feed_marks SET n = n + ? WHERE topic = ?", (n, topic))

    def feed_marks(self) -> dict[str, int]:
        """{topic: counter} of the ``feed_marks``: ``hits`` (hit events stored) and ``alerts`` (the gates' alert
        receipts stored). Each rises in the transaction that stores new ones, so the console's feed sees a change,
        also one committed late by another worker, by reading two rows rather than counting every event."""
        return {str(r["topic"]): int(r["n"]) for r in self.query("SELECT topic, n FROM feed_marks")}

    @contextmanager
    def each(self) -> Iterator[None]:
        """A savepoint inside ``transaction()``: an error undoes this part only and propagates, so one
        bad message never takes the others' work with it."""
        with self._lock:
            self._x("SAVEPOINT one")
            due = dict(self._marks_due)
            try:
                yield
            except BaseException:
                self._marks_due = due
                self._x("ROLLBACK TO one")
                self._x("RELEASE one")
                raise
            self._x("RELEASE one")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def reopen(self) -> CentralStore:
        """The same database on a connection of its own (a second writer in the process: the hit lane)."""
        return CentralStore(self.path)

    # ------------------------------------------------------------------ gates
    def enrol(self, gate_id: str, device_pub: bytes, now: float, *, replace: bool = False, reason: str = "") -> bool:
        """Register a gate's device key; True when the key changed. Re-enrolling with the same key is a
        no-op. With another key it raises ValueError unless ``replace`` (an operator re-enrolling a
        compromised or rebuilt gate), which needs a ``reason``: the old key and any pending rotation stop
        being trusted at once, and the change is recorded in ``key_events``."""
        topics.check_id(gate_id)
        if len(device_pub) != 32:
            raise ValueError(f"device key for {gate_id!r} has {len(device_pub)} bytes, expected 32")
        if replace and not reason.strip():
            raise ValueError(f"replacing the device key of {gate_id!r} needs a reason (--reason TEXT; it is recorded)")
        with self.transaction():
            row = self._x("SELECT device_pub FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
            if row is None:
                self._x(
                    "INSERT INTO gates (gate_id, device_pub, enrolled) VALUES (?, ?, ?)", (gate_id, device_pub, now)
                )
                self._key_event(gate_id, now, "enrolled", None, device_pub, reason)
                return True
            if bytes(row[0]) == bytes(device_pub):
                return False
            if not replace:
                raise ValueError(
                    f"gate {gate_id!r} is already enrolled with another device key"
                    " (re-enrol with --replace --reason TEXT, or rotate with the rotate_device_key command)"
                )
            self._x("UPDATE gates SET device_pub=?, pending_pub=NULL, pending_since=NULL, pending_signed=NULL WHERE gate_id=?",
                             (device_pub, gate_id))
            self._key_event(gate_id, now, "replaced", bytes(row[0]), device_pub, reason)
            return True

    def device_key(self, gate_id: str) -> bytes | None:
        """The gate's enrolled (active) device public key, or None when not enrolled."""
        keys = self.device_keys(gate_id)
        return keys[0] if keys else None

    def device_keys(self, gate_id: str) -> list[bytes]:
        """[active key] or [active key, pending key]: both verify the gate's messages while a rotation is
        pending (RELIABILITY 43); empty when the gate is not enrolled."""
        return self.device_keys_of([gate_id])[gate_id]

    def device_keys_of(self, gate_ids: list[str]) -> dict[str, list[bytes]]:
        """``device_keys`` of every gate in ``gate_ids`` by a few statements (``CHUNK`` gates each), not one
        per gate: a worker reads the keys of a whole batch's gates at once."""
        out: dict[str, list[bytes]] = dict.fromkeys(gate_ids, [])
        ids = list(out)
        with self._lock:
            for i in range(0, len(ids), CHUNK):
                part = ids[i : i + CHUNK]
                for gate_id, active, pending, retired in self._x(
                        "SELECT gate_id, device_pub, pending_pub, retired FROM gates WHERE gate_id IN ("
                        + ", ".join("?" * len(part)) + ")", part):
                    if retired is None:  # a retired (wiped) gate's keys are trusted no more
                        out[gate_id] = [bytes(active)] + ([bytes(pending)] if pending is not None else [])
        return out

    def propose_key(self, gate_id: str, new_pub: bytes, now: float, signed: float) -> bool:
        """Record ``new_pub`` as the gate's pending key (its rotation request, signed at ``signed`` by the active
        key and by the new one); True when recorded now, False when it already was pending or is already active,
        or when the pending key's request was signed later: a stale request a slower worker or a repeat brings does
        not replace a newer pending key (the gate may already use that one). The row is locked for the decision."""
        with self.transaction():
            row = self._x("SELECT device_pub, pending_pub, pending_signed FROM gates WHERE gate_id=?"
                          + self._FOR_UPDATE, (gate_id,)).fetchone()
            if row is None:
                raise ValueError(f"gate {gate_id!r} is not enrolled")
            if bytes(new_pub) in (bytes(row[0]), bytes(row[1] or b"")):
                return False
            if row[1] is not None and row[2] is not None and signed <= row[2]:
                logger.warning("central: stale key rotation request of %r ignored (signed %s, pending key's %s)",
                               gate_id, signed, row[2])
                return False
            self._x("UPDATE gates SET pending_pub=?, pending_since=?, pending_signed=? WHERE gate_id=?",
                    (new_pub, now, signed, gate_id))
            self._key_event(gate_id, now, "rotation_requested", bytes(row[0]), new_pub, "")
            return True

    def promote_key(self, gate_id: str, new_pub: bytes, now: float) -> bool:
        """The gate used its pending key: it becomes the active key and the old one stops being trusted.
        True when promoted; False when ``new_pub`` is not the pending key."""
        with self.transaction():
            row = self._x("SELECT device_pub, pending_pub FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
            if row is None or row[1] is None or bytes(row[1]) != bytes(new_pub):
                return False
            self._x("UPDATE gates SET device_pub=?, pending_pub=NULL, pending_since=NULL, pending_signed=NULL WHERE gate_id=?",
                             (new_pub, gate_id))
            self._key_event(gate_id, now, "rotated", bytes(row[0]), new_pub, "")
            return True

    # ------------------------------------------------------------------ enrolment tokens
    # One-time enrolment tokens (docs/provisioning.md "Enrolment token"): the MAC key derived from the secret,
    # never the secret; once used, the device key and certificate it was used for, so that a gate that asks
    # again with the same key gets the same answer and no second registration (RELIABILITY 37).
    def add_token(self, token_id: str, gate_id: str, site: str, mac_key: bytes, issued: float, expires: float,
                  replace_reason: str | None = None) -> None:
        """Record a new one-time enrolment token (its MAC key, never its secret)."""
        topics.check_id(gate_id)
        with self.transaction():
            self._x("INSERT INTO enrol_tokens (token_id, gate_id, site, mac_key, issued, expires, replace_reason)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)", (token_id, gate_id, site, mac_key, issued, expires, replace_reason))

    def token(self, token_id: str) -> dict[str, Any] | None:
        """The token's row as a dict (``mac_key``, ``gate_id``, ``site``, ``expires``, ``used``, ``device_pub``,
        ``cert``, ``replace_reason``), or None when no such token was issued."""
        with self._lock:
            cur = self._x("SELECT token_id, gate_id, site, mac_key, issued, expires, replace_reason, used, device_pub,"
                          " cert FROM enrol_tokens WHERE token_id=?", (token_id,))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        return None if row is None else dict(zip(names, row, strict=True))

    def use_token(self, token_id: str, device_pub: bytes, cert: bytes, now: float) -> bool:
        """Consume the token for ``device_pub`` and register the key (enrol; replace with the token's reason, or
        for a gate that was retired) in the same transaction; False when the token was already used. Raises
        ValueError as ``enrol`` does."""
        with self.transaction():
            row = self._x("SELECT gate_id, used, replace_reason FROM enrol_tokens WHERE token_id=?" + self._FOR_UPDATE,
                          (token_id,)).fetchone()
            if row is None or row[1] is not None:
                return False
            gate_id, _, reason = row
            retired = self._x("SELECT retired FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
            if retired is not None and retired[0] is not None:  # a wiped gate enrolled again: a new key is fine
                reason = reason or f"re-enrolled after decommissioning, token {token_id}"
            self.enrol(gate_id, device_pub, now, replace=reason is not None,
                       reason=reason or f"enrolled with token {token_id}")
            self._x("UPDATE enrol_tokens SET used=?, device_pub=?, cert=? WHERE token_id=?",
                    (now, device_pub, cert, token_id))
            self._x("UPDATE gates SET retired=NULL WHERE gate_id=?", (gate_id,))
            return True

    def retire(self, gate_id: str, now: float, reason: str) -> bool:
        """A decommissioned gate (it wiped itself): its device key stops being trusted; recorded in key_events.
        True when the gate was enrolled and not yet retired."""
        with self.transaction():
            row = self._x("SELECT device_pub, retired FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
            if row is None or row[1] is not None:
                return False
            self._x("UPDATE gates SET retired=?, pending_pub=NULL, pending_since=NULL, pending_signed=NULL WHERE gate_id=?", (now, gate_id))
            self._key_event(gate_id, now, "retired", bytes(row[0]), b"", reason)
            return True

    def _key_event(self, gate_id: str, now: float, kind: str, old: bytes | None, new: bytes, reason: str) -> None:
        self._x(
            "INSERT INTO key_events (gate_id, at, kind, old_key, new_key, reason) VALUES (?, ?, ?, ?, ?, ?)",
            (gate_id, now, kind, message_key_id(old).hex() if old else None,
             message_key_id(new).hex() if new else "", reason),
        )

    def key_events(self, gate_id: str | None = None) -> list[dict[str, Any]]:
        """Every device-key change (enrolled, rotation_requested, rotated, replaced with its reason, retired),
        oldest first."""
        with self._lock:
            cur = self._x(
                "SELECT gate_id, at, kind, old_key, new_key, reason FROM key_events"
                + (" WHERE gate_id=?" if gate_id else "") + " ORDER BY rowid",
                (gate_id,) if gate_id else (),
            )
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def gates(self, now: float | None = None, grace: float = 60.0) -> list[dict[str, Any]]:
        """Every enrolled gate with its state, rejects and sequence gaps (``seq_missing`` numbers missing,
        ``seq_gap_since`` when the oldest open gap was seen; ``seq_overdue`` those older than ``grace`` s)."""
        with self._lock:
            cur = self._x(
                "SELECT gate_id, session, online, last_seen, list_version, enrolled, retired, seq_gaps, device_pub, pending_pub"
                " FROM gates ORDER BY gate_id"
            )
            cols = [c[0] for c in cur.description]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            rejects = self.rejects_by_gate()
        for g in rows:
            # key ids, not the keys: what an operator compares with the gate's status
            g["device_key"] = message_key_id(bytes(g.pop("device_pub"))).hex()
            pending = g.pop("pending_pub")
            g["pending_key"] = message_key_id(bytes(pending)).hex() if pending is not None else None
            gaps = SeqGaps.loads(g.pop("seq_gaps"))
            g.update(seq_high=gaps.high, seq_missing=gaps.missing(), seq_gap_since=gaps.oldest(),
                     rejected=rejects.get(g["gate_id"], {}))
            if now is not None:
                g["seq_overdue"] = gaps.overdue(now, grace)
        return rows

    def seq_gaps(self, gate_id: str) -> SeqGaps:
        """The gate's sequence gaps; inside ``transaction()`` its row stays locked until the commit
        (PostgreSQL ``FOR UPDATE``; SQLite's writer lock), so workers merging their numbers do not lose any."""
        return self.seq_gaps_of([gate_id])[gate_id]

    def seq_gaps_of(self, gate_ids: list[str]) -> dict[str, SeqGaps]:
        """``seq_gaps`` of every gate in ``gate_ids``, their rows locked in gate order (so workers merging
        overlapping sets of gates do not deadlock), a few statements for all."""
        text: dict[str, str | None] = dict.fromkeys(sorted(gate_ids))
        ids = list(text)
        with self._lock:
            for i in range(0, len(ids), CHUNK):
                part = ids[i : i + CHUNK]
                for gate_id, gaps in self._x("SELECT gate_id, seq_gaps FROM gates WHERE gate_id IN ("
                                             + ", ".join("?" * len(part)) + ") ORDER BY gate_id" + self._FOR_UPDATE,
                                             part):
                    text[gate_id] = gaps
        return {g: SeqGaps.loads(t) for g, t in text.items()}

    def save_seq_gaps(self, gaps: dict[str, SeqGaps]) -> None:
        """Write back the gaps of each gate in ``gaps`` (one round trip for all: ``_xmany``)."""
        with self._lock:
            self._xmany("UPDATE gates SET seq_gaps=? WHERE gate_id=?",
                        [(g.dumps(), gate_id) for gate_id, g in sorted(gaps.items())])

    def gate_session(self, gate_id: str) -> int:
        with self._lock:
            row = self._x("SELECT session FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def record_status(
        self, gate_id: str, session: int, online: bool, now: float, list_version: int | None, raw: bytes | None
    ) -> bool:
        """Apply a verified status unless it comes from an older session (RELIABILITY 29); True if applied.
        An offline will of the current session marks the gate offline; a newer session's birth wins. One
        statement, so two workers applying statuses of one gate cannot interleave a read and a write.
        ``raw`` None (a last will: signed at connect, it carries no lists, faults or backlog) keeps the last
        status the gate sent, so the console still shows what the gate last reported (docs/central.md)."""
        with self._lock:
            cur = self._x(
                "UPDATE gates SET session=?, online=?, last_seen=?, list_version=COALESCE(?, list_version),"
                " last_status=COALESCE(?, last_status) WHERE gate_id=? AND session<=?",
                (session, int(online), now, list_version, raw, gate_id, session),
            )
            return bool(cur.rowcount == 1)

    def next_cmd_seq(self, gate_id: str) -> int:
        """Reserve the next command sequence number for a gate (persisted before sending)."""
        with self.transaction():
            row = self._x("UPDATE gates SET cmd_seq=cmd_seq+1 WHERE gate_id=? RETURNING cmd_seq", (gate_id,)).fetchone()
        if row is None:
            raise ValueError(f"gate {gate_id!r} is not enrolled")
        return int(row[0])

    # ------------------------------------------------------------------ events
    def add_event(self, row: EventRow) -> bool:
        """Insert one event unless this gate already sent this message id; True when new. Inside
        ``transaction()`` it is durable only at the commit: the caller acks after that (RELIABILITY 17)."""
        return self.insert_events([row])[0]

    def insert_events(self, rows: list[EventRow]) -> list[bool]:
        """Insert many events by one statement run for every row (``_xmany``: PostgreSQL pipelines them, one
        round trip; no savepoint or round trip per event); for each row True when new, False for a copy of a
        message this gate already sent (stored before, or earlier in ``rows``): the database's uniqueness
        decides, ``ON CONFLICT DO NOTHING RETURNING`` tells which rows went in. Rows go in in the given order (the
        node gives them gate by gate, in arrival order). An error (a row the
        database refuses) fails the whole call: the caller undoes it (``each()``) and inserts row by row to
        reject that one alone. Inside ``transaction()`` durable only at the commit: the caller acks after
        that (RELIABILITY 17)."""
        args = [(msg_id, gate_id, seq, int(is_hit), kind, created, sent, received, body, event_day(created),
                 alert_id_of(kind, body)) for msg_id, gate_id, seq, is_hit, kind, created, sent, received, body in rows]
        with self.transaction():
            out = self._xmany("INSERT INTO events (msg_id, gate_id, seq, is_hit, kind, created, sent, received, body,"
                              " day, alert_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
                              " RETURNING 1",
                              args, returning=True)
            news = [r is not None for r in out]
            self._count_for_feed(rows, news)
        return news

    def _count_for_feed(self, rows: list[EventRow], news: list[bool]) -> None:
        """Note the new hits and alert receipts among ``rows`` (``news``: which went in) for the ``feed_marks``
        raised at the commit (``_raise_marks``); copies of events stored before change nothing."""
        for (_, _, _, is_hit, kind, *_), new in zip(rows, news, strict=True):
            for topic, counted in (("hits", is_hit), ("alerts", kind == "alert")):
                if new and counted:
                    self._marks_due[topic] = self._marks_due.get(topic, 0) + 1

    def add_events(self, rows: list[EventRow]) -> int:
        """Insert events in one transaction; returns how many were new (the rest were duplicates)."""
        with self.transaction():
            return sum(self.insert_events(rows))

    def first_request(self, gate_id: str, req_id: str, now: float, keep: float = 3600.0) -> bool:
        """Record a request id; False when this gate already sent it (a replay). Ids older than ``keep``
        seconds are forgotten."""
        with self._lock:
            self._x("DELETE FROM requests WHERE gate_id=? AND received<?", (gate_id, now - keep))
            cur = self._x(
                "INSERT INTO requests (gate_id, req_id, received) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (gate_id, req_id, now),
            )
            return cur.rowcount == 1

    def events(self, gate_id: str | None = None, *, hits_only: bool = False,
               kind: str | None = None, msg_id: str | None = None) -> list[dict[str, Any]]:
        """Stored events in arrival order (``kind``: of that outbox kind only, each with its ``body``; ``msg_id``:
        that message's alone, found in SQL: sharing one hit decoded every hit ever stored)."""
        q = "SELECT msg_id, gate_id, seq, is_hit, kind, created, sent, received" + (", body" if kind else "") + \
            " FROM events"
        cond, args = [], []
        if kind is not None:
            cond.append("kind=?")
            args.append(kind)
        if gate_id is not None:
            cond.append("gate_id=?")
            args.append(gate_id)
        if hits_only:
            cond.append("is_hit=1")
        if msg_id is not None:
            cond.append("msg_id=?")
            args.append(msg_id)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        with self._lock:
            cur = self._x(q + " ORDER BY rowid", args)
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def count_events(self) -> int:
        with self._lock:
            return int(self._x("SELECT COUNT(*) FROM events").fetchone()[0])

    # ------------------------------------------------------------------ federation
    def add_federation_item(self, origin: str, item_id: str, direction: str, kind: str, ref: str, issued: float,
                            expires: float, received: float, personal: bool, wire: bytes) -> bool:
        """Record an item shared with the region (``direction`` 'out') or received from it ('in'); False when
        (origin, item id) is already recorded: a replay, applied once (docs/central.md "Federation")."""
        with self._lock:
            cur = self._x(
                "INSERT INTO federation_items (origin, item_id, direction, kind, ref, issued, expires, received,"
                " personal, wire) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (origin, item_id, direction, kind, ref, issued, expires, received, int(personal), wire),
            )
            return cur.rowcount == 1

    def set_federation_local_ref(self, origin: str, item_id: str, local_ref: str) -> None:
        """Note what this centre did with a received item (the id of the alert it re-issued to its gates)."""
        with self._lock:
            self._x("UPDATE federation_items SET local_ref=? WHERE origin=? AND item_id=?", (local_ref, origin, item_id))

    def federation_items(self, direction: str | None = None) -> list[dict[str, Any]]:
        """Items shared ('out') and received ('in'), oldest first, each with its signed ``wire``."""
        with self._lock:
            cur = self._x(
                "SELECT origin, item_id, direction, kind, ref, issued, expires, received, personal, local_ref, wire"
                " FROM federation_items" + (" WHERE direction=?" if direction else "") + " ORDER BY received, origin, item_id",
                (direction,) if direction else (),
            )
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    # ------------------------------------------------------------------ commands, rejects
    def add_command(self, cmd_id: str, gate_id: str, seq: int, op: str, now: float,
                    not_after: float | None = None) -> None:
        """Record a command sent at ``now``, valid at the gate until its signed ``not_after``."""
        with self._lock:
            self._x(
                "INSERT INTO commands (cmd_id, gate_id, seq, op, sent, not_after) VALUES (?, ?, ?, ?, ?, ?)",
                (cmd_id, gate_id, seq, op, now, not_after),
            )

    def command_result(self, cmd_id: str, gate_id: str, ok: bool, reason: str, detail: str) -> str | None:
        """Record a result for a command this node sent to that gate; returns its op, or None if unknown."""
        with self._lock:
            row = self._x(
                "SELECT op FROM commands WHERE cmd_id=? AND gate_id=?", (cmd_id, gate_id)
            ).fetchone()
            if row is None:
                return None
            self._x(
                "UPDATE commands SET ok=?, reason=?, detail=? WHERE cmd_id=?", (int(ok), reason, detail, cmd_id)
            )
            return str(row[0])

    def commands(self, gate_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._x(
                "SELECT cmd_id, gate_id, seq, op, sent, not_after, ok, reason, detail FROM commands"
                + (" WHERE gate_id=?" if gate_id else "")
                + " ORDER BY sent",
                (gate_id,) if gate_id else (),
            )
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def count_reject(self, gate_id: str, reason: str, n: int = 1) -> None:
        """Add ``n`` rejects of ``reason`` for ``gate_id`` ("" for no valid gate)."""
        with self._lock:
            self._x(
                "INSERT INTO rejects (gate_id, reason, n) VALUES (?, ?, ?)"
                " ON CONFLICT(gate_id, reason) DO UPDATE SET n = rejects.n + excluded.n",
                (gate_id, reason, n),
            )

    def rejects(self) -> dict[str, int]:
        """Rejects per reason, all gates together."""
        with self._lock:
            return {r: int(n) for r, n in self._x("SELECT reason, SUM(n) FROM rejects GROUP BY reason")}

    def rejects_by_gate(self) -> dict[str, dict[str, int]]:
        """Rejects per gate and reason."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for g, r, n in self._x("SELECT gate_id, reason, n FROM rejects"):
                out.setdefault(g, {})[r] = int(n)
        return out
