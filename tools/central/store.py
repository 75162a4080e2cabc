"""The central node's SQLite store: registered gates, events and hits (deduped by id), commands."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.protocol import topics

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
    cmd_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    rowid INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL UNIQUE,
    gate_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    is_hit INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created REAL,
    sent REAL,
    received REAL NOT NULL,
    body BLOB NOT NULL
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
CREATE TABLE IF NOT EXISTS rejects (reason TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""


class CentralStore:
    """One SQLite file (WAL, synchronous=FULL). Thread-safe through one lock; one writer thread in the node."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ gates
    def enrol(self, gate_id: str, device_pub: bytes, now: float) -> bool:
        """Register a gate's device key; True when new. Re-enrolling with the same key is a no-op;
        with another key it raises ValueError (use a rotate command or ``replace=True`` paths)."""
        topics.check_id(gate_id)
        if len(device_pub) != 32:
            raise ValueError(f"device key for {gate_id!r} has {len(device_pub)} bytes, expected 32")
        with self._lock:
            row = self._db.execute("SELECT device_pub FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
            if row is not None:
                if bytes(row[0]) != bytes(device_pub):
                    raise ValueError(f"gate {gate_id!r} is already enrolled with another device key")
                return False
            self._db.execute(
                "INSERT INTO gates (gate_id, device_pub, enrolled) VALUES (?, ?, ?)", (gate_id, device_pub, now)
            )
            return True

    def set_device_key(self, gate_id: str, device_pub: bytes) -> None:
        with self._lock:
            self._db.execute("UPDATE gates SET device_pub=? WHERE gate_id=?", (device_pub, gate_id))

    def device_key(self, gate_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT device_pub FROM gates WHERE gate_id=?", (gate_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def gates(self) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute(
                "SELECT gate_id, session, online, last_seen, list_version, enrolled FROM gates ORDER BY gate_id"
            )
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

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
    def add_events(self, rows: Iterable[tuple[str, str, int, bool, str, float, float, float, bytes]]) -> int:
        """Insert events in one transaction, ignoring ids already stored; returns how many were new.
        Returns only after the commit: the caller acks after this (RELIABILITY 17)."""
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO events (msg_id, gate_id, seq, is_hit, kind, created, sent, received, body)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return self._db.total_changes - before

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

    def count_reject(self, reason: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO rejects (reason, n) VALUES (?, 1) ON CONFLICT(reason) DO UPDATE SET n = n + 1",
                (reason,),
            )

    def rejects(self) -> dict[str, int]:
        with self._lock:
            return {r: int(n) for r, n in self._db.execute("SELECT reason, n FROM rejects")}
