"""The central node's SQLite store: registered gates and their device keys (with every key change in
``key_events``), events and hits (unique per gate and message id), commands, rejects per gate and reason,
served request ids, and each gate's sequence gaps.

Schema version 2 (``PRAGMA user_version``); a version-1 file (events unique by message id alone, rejects
without a gate) is migrated in place on open.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent.keys import message_key_id
from agent.protocol import topics
from tools.central.gaps import SeqGaps

VERSION = 2
EventRow = tuple[str, str, int, bool, str, float, float, float, bytes]
"""(msg_id, gate_id, seq, is_hit, kind, created, sent, received, body)"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS gates (
    gate_id TEXT PRIMARY KEY,
    device_pub BLOB NOT NULL,
    enrolled REAL NOT NULL,
    session INTEGER NOT NULL DEFAULT 0,
    online INTEGER NOT NULL DEFAULT 0,
    last_seen REAL,
    list_version INTEGER,
    last_status BLOB,
    cmd_seq INTEGER NOT NULL DEFAULT 0,
    seq_gaps TEXT
);
CREATE TABLE IF NOT EXISTS events (
    rowid INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL,
    gate_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    is_hit INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created REAL,
    sent REAL,
    received REAL NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (gate_id, msg_id)
);
CREATE INDEX IF NOT EXISTS events_gate ON events (gate_id, seq);
CREATE TABLE IF NOT EXISTS commands (
    cmd_id TEXT PRIMARY KEY,
    gate_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    op TEXT NOT NULL,
    sent REAL NOT NULL,
    ok INTEGER,
    reason TEXT,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS rejects (
    gate_id TEXT NOT NULL,  -- "" when the topic named no valid gate
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (gate_id, reason)
);
CREATE TABLE IF NOT EXISTS requests (
    gate_id TEXT NOT NULL,
    req_id TEXT NOT NULL,
    received REAL NOT NULL,
    PRIMARY KEY (gate_id, req_id)
);
"""
# Device-key rotation and re-enrolment (docs/protocol.md "Device-key rotation"): added to any older file
# on open, whatever its version (both are additions only).
KEY_SCHEMA = """
CREATE TABLE IF NOT EXISTS key_events (
    rowid INTEGER PRIMARY KEY,
    gate_id TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,  -- enrolled | rotation_requested | rotated | replaced | retired
    old_key TEXT,
    new_key TEXT,
    reason TEXT NOT NULL DEFAULT ''
)
"""
_GATE_KEY_COLUMNS = {"pending_pub": "BLOB", "pending_since": "REAL", "retired": "REAL"}
# One-time enrolment tokens (docs/provisioning.md "Enrolment token"): the MAC key derived from the secret,
# never the secret; ``used`` with the device key and certificate it was used for, so that a gate that asks
# again with the same key gets the same answer and no second registration (RELIABILITY 37).
TOKEN_SCHEMA = """
CREATE TABLE IF NOT EXISTS enrol_tokens (
    token_id TEXT PRIMARY KEY,
    gate_id TEXT NOT NULL,
    site TEXT NOT NULL,
    mac_key BLOB NOT NULL,
    issued REAL NOT NULL,
    expires REAL NOT NULL,
    replace_reason TEXT,  -- not NULL: the token may replace the gate's enrolled key (a new unit)
    used REAL,
    device_pub BLOB,
    cert BLOB
)
"""

MIGRATE_1_TO_2 = """
ALTER TABLE events RENAME TO events_v1;
ALTER TABLE rejects RENAME TO rejects_v1;
DROP INDEX IF EXISTS events_gate;
ALTER TABLE gates ADD COLUMN seq_gaps TEXT;
"""


class CentralStore:
    """One SQLite file (WAL, synchronous=FULL). Thread-safe through one lock; one writer thread in the node."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._lock = threading.RLock()
        self._depth = 0  # open transaction() levels
        self._migrate()
        with self.transaction():
            self._db.execute(KEY_SCHEMA)
            self._db.execute(TOKEN_SCHEMA)
            self._db.execute("CREATE INDEX IF NOT EXISTS requests_age ON requests (gate_id, received)")
            have = {r[1] for r in self._db.execute("PRAGMA table_info(gates)")}
            for name, kind in _GATE_KEY_COLUMNS.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE gates ADD COLUMN {name} {kind}")

    def _migrate(self) -> None:
        """Create the schema, or bring a version-1 file to version 2 in one transaction."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        old = self._db.execute("SELECT 1 FROM sqlite_master WHERE name='events'").fetchone() is not None
        if version >= VERSION:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if old:
                for stmt in MIGRATE_1_TO_2.strip().split(";\n"):
                    self._db.execute(stmt.strip().rstrip(";"))
            for stmt in SCHEMA.split(";\n"):
                if stmt.strip():
                    self._db.execute(stmt)
            if old:
                self._db.execute(
                    "INSERT OR IGNORE INTO events (msg_id, gate_id, seq, is_hit, kind, created, sent, received, body)"
                    " SELECT msg_id, gate_id, seq, is_hit, kind, created, sent, received, body FROM events_v1"
                    " ORDER BY rowid"
                )
                self._db.execute("INSERT INTO rejects (gate_id, reason, n) SELECT '', reason, n FROM rejects_v1")
                self._db.execute("DROP TABLE events_v1")
                self._db.execute("DROP TABLE rejects_v1")
                for gate_id, high in self._db.execute("SELECT gate_id, MAX(seq) FROM events GROUP BY gate_id").fetchall():
                    self._db.execute("UPDATE gates SET seq_gaps=? WHERE gate_id=?", (SeqGaps(high).dumps(), gate_id))
            self._db.execute(f"PRAGMA user_version={VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

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
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._db.execute("ROLLBACK")
                raise
            self._depth = 0
            self._db.execute("COMMIT")

    @contextmanager
    def each(self) -> Iterator[None]:
        """A savepoint inside ``transaction()``: an error undoes this part only and propagates, so one
        bad message never takes the others' work with it."""
        with self._lock:
            self._db.execute("SAVEPOINT one")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK TO one")
                self._db.execute("RELEASE one")
                raise
            self._db.execute("RELEASE one")

    def close(self) -> None:
        with self._lock:
            self._db.close()

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
            row = self._db.execute("SELECT device_pub FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
            if row is None:
                self._db.execute(
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
            self._db.execute("UPDATE gates SET device_pub=?, pending_pub=NULL, pending_since=NULL WHERE gate_id=?",
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
        with self._lock:
            row = self._db.execute("SELECT device_pub, pending_pub, retired FROM gates WHERE gate_id=?",
                                   (gate_id,)).fetchone()
        if row is None or row[2] is not None:  # a retired (wiped) gate's keys are trusted no more
            return []
        return [bytes(row[0])] + ([bytes(row[1])] if row[1] is not None else [])

    def propose_key(self, gate_id: str, new_pub: bytes, now: float) -> bool:
        """Record ``new_pub`` as the gate's pending key (its rotation request was signed by the active key and
        by the new one); True when recorded now, False when it already was pending or is already active."""
        with self.transaction():
            row = self._db.execute("SELECT device_pub, pending_pub FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
            if row is None:
                raise ValueError(f"gate {gate_id!r} is not enrolled")
            if bytes(new_pub) in (bytes(row[0]), bytes(row[1] or b"")):
                return False
            self._db.execute("UPDATE gates SET pending_pub=?, pending_since=? WHERE gate_id=?", (new_pub, now, gate_id))
            self._key_event(gate_id, now, "rotation_requested", bytes(row[0]), new_pub, "")
            return True

    def promote_key(self, gate_id: str, new_pub: bytes, now: float) -> bool:
        """The gate used its pending key: it becomes the active key and the old one stops being trusted.
        True when promoted; False when ``new_pub`` is not the pending key."""
        with self.transaction():
            row = self._db.execute("SELECT device_pub, pending_pub FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
            if row is None or row[1] is None or bytes(row[1]) != bytes(new_pub):
                return False
            self._db.execute("UPDATE gates SET device_pub=?, pending_pub=NULL, pending_since=NULL WHERE gate_id=?",
                             (new_pub, gate_id))
            self._key_event(gate_id, now, "rotated", bytes(row[0]), new_pub, "")
            return True

    # ------------------------------------------------------------------ enrolment tokens
    def add_token(self, token_id: str, gate_id: str, site: str, mac_key: bytes, issued: float, expires: float,
                  replace_reason: str | None = None) -> None:
        """Record a new one-time enrolment token (its MAC key, never its secret)."""
        topics.check_id(gate_id)
        with self.transaction():
            self._db.execute(
                "INSERT INTO enrol_tokens (token_id, gate_id, site, mac_key, issued, expires, replace_reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", (token_id, gate_id, site, mac_key, issued, expires, replace_reason))

    def token(self, token_id: str) -> dict[str, Any] | None:
        """The token's row as a dict (``mac_key``, ``gate_id``, ``site``, ``expires``, ``used``, ``device_pub``,
        ``cert``, ``replace_reason``), or None when no such token was issued."""
        with self._lock:
            cur = self._db.execute("SELECT * FROM enrol_tokens WHERE token_id=?", (token_id,))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        return None if row is None else dict(zip(names, row, strict=True))

    def tokens(self, gate_id: str | None = None) -> list[dict[str, Any]]:
        """Issued tokens (without their MAC keys), newest first."""
        with self._lock:
            cur = self._db.execute(
                "SELECT token_id, gate_id, site, issued, expires, used, replace_reason FROM enrol_tokens"
                " WHERE ? IS NULL OR gate_id=? ORDER BY issued DESC", (gate_id, gate_id))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def use_token(self, token_id: str, device_pub: bytes, cert: bytes, now: float) -> bool:
        """Consume the token for ``device_pub``, register the key (enrol, or replace with the token's reason) in
        the same transaction; False when the token was already used. Raises ValueError as ``enrol`` does."""
        with self.transaction():
            row = self._db.execute("SELECT gate_id, used, replace_reason FROM enrol_tokens WHERE token_id=?",
                                   (token_id,)).fetchone()
            if row is None or row[1] is not None:
                return False
            gate_id, _, reason = row
            retired = self._db.execute("SELECT retired FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
            if retired is not None and retired[0] is not None:  # a wiped gate enrolled again: a new key is fine
                reason = reason or f"re-enrolled after decommissioning, token {token_id}"
            self.enrol(gate_id, device_pub, now, replace=reason is not None,
                       reason=reason or f"enrolled with token {token_id}")
            self._db.execute("UPDATE enrol_tokens SET used=?, device_pub=?, cert=? WHERE token_id=?",
                             (now, device_pub, cert, token_id))
            self._db.execute("UPDATE gates SET retired=NULL WHERE gate_id=?", (gate_id,))
            return True

    def retire(self, gate_id: str, now: float, reason: str) -> bool:
        """A decommissioned gate (it wiped itself): its device key stops being trusted; recorded in key_events.
        True when the gate was enrolled and not yet retired."""
        with self.transaction():
            row = self._db.execute("SELECT device_pub, retired FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
            if row is None or row[1] is not None:
                return False
            self._db.execute("UPDATE gates SET retired=?, pending_pub=NULL, pending_since=NULL WHERE gate_id=?",
                             (now, gate_id))
            self._key_event(gate_id, now, "retired", bytes(row[0]), b"", reason)
            return True

    def _key_event(self, gate_id: str, now: float, kind: str, old: bytes | None, new: bytes, reason: str) -> None:
        self._db.execute(
            "INSERT INTO key_events (gate_id, at, kind, old_key, new_key, reason) VALUES (?, ?, ?, ?, ?, ?)",
            (gate_id, now, kind, message_key_id(old).hex() if old else None,
             message_key_id(new).hex() if new else "", reason),
        )

    def key_events(self, gate_id: str | None = None) -> list[dict[str, Any]]:
        """Every device-key change (enrolled, rotation_requested, rotated, replaced with its reason), oldest first."""
        with self._lock:
            cur = self._db.execute(
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
            cur = self._db.execute(
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
        with self._lock:
            row = self._db.execute("SELECT seq_gaps FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
        return SeqGaps.loads(row[0] if row else None)

    def save_seq_gaps(self, gate_id: str, gaps: SeqGaps) -> None:
        with self._lock:
            self._db.execute("UPDATE gates SET seq_gaps=? WHERE gate_id=?", (gaps.dumps(), gate_id))

    def gate_session(self, gate_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT session FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def record_status(
        self, gate_id: str, session: int, online: bool, now: float, list_version: int | None, raw: bytes
    ) -> bool:
        """Apply a verified status unless it comes from an older session (RELIABILITY 29); True if applied.
        An offline will of the current session marks the gate offline; a newer session's birth wins."""
        with self._lock:
            cur = self.gate_session(gate_id)
            if session < cur:
                return False
            self._db.execute(
                "UPDATE gates SET session=?, online=?, last_seen=?, list_version=COALESCE(?, list_version),"
                " last_status=? WHERE gate_id=?",
                (session, int(online), now, list_version, raw, gate_id),
            )
            return True

    def next_cmd_seq(self, gate_id: str) -> int:
        """Reserve the next command sequence number for a gate (persisted before sending)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT cmd_seq FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
                if row is None:
                    raise ValueError(f"gate {gate_id!r} is not enrolled")
                seq = int(row[0]) + 1
                self._db.execute("UPDATE gates SET cmd_seq=? WHERE gate_id=?", (seq, gate_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seq

    # ------------------------------------------------------------------ events
    def add_event(self, row: EventRow) -> bool:
        """Insert one event unless this gate already sent this message id; True when new. Inside
        ``transaction()`` it is durable only at the commit: the caller acks after that (RELIABILITY 17)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO events (msg_id, gate_id, seq, is_hit, kind, created, sent, received, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return cur.rowcount == 1

    def add_events(self, rows: list[EventRow]) -> int:
        """Insert events in one transaction; returns how many were new (the rest were duplicates)."""
        with self.transaction():
            return sum(self.add_event(r) for r in rows)

    def first_request(self, gate_id: str, req_id: str, now: float, keep: float = 3600.0) -> bool:
        """Record a request id; False when this gate already sent it (a replay). Ids older than ``keep``
        seconds are forgotten."""
        with self._lock:
            self._db.execute("DELETE FROM requests WHERE gate_id=? AND received<?", (gate_id, now - keep))
            cur = self._db.execute(
                "INSERT OR IGNORE INTO requests (gate_id, req_id, received) VALUES (?, ?, ?)", (gate_id, req_id, now)
            )
            return cur.rowcount == 1

    def events(self, gate_id: str | None = None, *, hits_only: bool = False) -> list[dict[str, Any]]:
        """Stored events in arrival order."""
        q = "SELECT msg_id, gate_id, seq, is_hit, kind, created, sent, received FROM events"
        cond, args = [], []
        if gate_id is not None:
            cond.append("gate_id=?")
            args.append(gate_id)
        if hits_only:
            cond.append("is_hit=1")
        if cond:
            q += " WHERE " + " AND ".join(cond)
        with self._lock:
            cur = self._db.execute(q + " ORDER BY rowid", args)
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def count_events(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # ------------------------------------------------------------------ commands, rejects
    def add_command(self, cmd_id: str, gate_id: str, seq: int, op: str, now: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO commands (cmd_id, gate_id, seq, op, sent) VALUES (?, ?, ?, ?, ?)",
                (cmd_id, gate_id, seq, op, now),
            )

    def command_result(self, cmd_id: str, gate_id: str, ok: bool, reason: str, detail: str) -> str | None:
        """Record a result for a command this node sent to that gate; returns its op, or None if unknown."""
        with self._lock:
            row = self._db.execute(
                "SELECT op FROM commands WHERE cmd_id=? AND gate_id=?", (cmd_id, gate_id)
            ).fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE commands SET ok=?, reason=?, detail=? WHERE cmd_id=?", (int(ok), reason, detail, cmd_id)
            )
            return str(row[0])

    def commands(self, gate_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute(
                "SELECT cmd_id, gate_id, seq, op, sent, ok, reason, detail FROM commands"
                + (" WHERE gate_id=?" if gate_id else "")
                + " ORDER BY sent",
                (gate_id,) if gate_id else (),
            )
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def count_reject(self, gate_id: str, reason: str, n: int = 1) -> None:
        """Add ``n`` rejects of ``reason`` for ``gate_id`` ("" for no valid gate)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO rejects (gate_id, reason, n) VALUES (?, ?, ?)"
                " ON CONFLICT(gate_id, reason) DO UPDATE SET n = n + excluded.n",
                (gate_id, reason, n),
            )

    def rejects(self) -> dict[str, int]:
        """Rejects per reason, all gates together."""
        with self._lock:
            return {r: int(n) for r, n in self._db.execute("SELECT reason, SUM(n) FROM rejects GROUP BY reason")}

    def rejects_by_gate(self) -> dict[str, dict[str, int]]:
        """Rejects per gate and reason."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for g, r, n in self._db.execute("SELECT gate_id, reason, n FROM rejects"):
                out.setdefault(g, {})[r] = int(n)
        return out
