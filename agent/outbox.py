"""The gate's durable event queue, which is also its event log (SQLite, WAL, synchronous=FULL).

    >>> box = Outbox(state_dir / "outbox.sqlite3")
    >>> seq = box.append("decision", msg_id, body, priority=PRIORITY_ROUTINE)   # durable on return
    >>> rows = box.pending(100)        # hits first, then by seq
    >>> box.ack([r.msg_id for r in rows])   # only after the central node committed them

Every live decision is one transaction, committed (fsync'd) before ``append`` returns, so the
indicator can act on it. That commit writes the decision's own pages to the WAL and syncs it, nothing
more: SQLite's automatic checkpoint (which copies the whole WAL into the database and syncs that too, up to
4 MB at once) is off, and ``checkpoint`` does that work after the indicator has acted (the screener calls
it after showing). It also restarts the WAL, so later commits rewrite blocks the file already has (no
allocation, no file-system journal commit in the traveller's fsync). Appends and acks alone still
checkpoint every ``CHECKPOINT_FORCED`` transactions, so the WAL stays bounded whoever calls ``checkpoint``
(docs/online-query.md "Commit"). Rows leave only by ``ack`` — when the central node acknowledges after its
own commit; a broker PUBACK is not delivery. The queue is bounded: past ``max_rows`` routine rows
are dropped oldest-first, counted in a persisted counter, and their ids handed to the link (``gone``); rows
at ``PRIORITY_HIT`` or above are never dropped. ``seq`` is the gate's event sequence: strictly increasing, never reused, also after
acks, drops and restarts.

Disk full: with ``reserve_bytes`` the outbox keeps that much space preallocated beside it
(``<name>.reserve``, ``SpaceReserve``). A write that fails for want of space (SQLITE_FULL) releases it
and is tried once more, so decisions go on being committed (and delivered later) while the rest of the
file system is full, and the gate can still rewrite its status, which shows ``space_fault`` until the
reserve is made again once space returns (at the next ``checkpoint`` or ``ack``). Only when the reserve
is used up too does ``append`` raise ``OutboxError`` (RELIABILITY 22).

The oldest row's age (the screen's backlog, the link's heartbeat) is read from SQLite only when it may have
changed: the outbox keeps the oldest ``created`` in memory, takes each append's into it, and reads it again
(``min(created)``, a scan of the whole table) only after rows that may have held it left (an ack, a drop, a
restore); queued rows that wait, however many, cost no read. One connection serialised by a lock: the
screening thread appends while the link thread reads and acks. One ``Outbox`` per file and process (the next seq is kept in memory and persisted on
ack and drop; at open it is the larger of that and the highest row). A second process (``sharaka-gate status``) reads with ``read_outbox_stats``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from agent.durable import fsync_dir
from agent.errors import AgentError
from agent.sqlite_salvage import salvage_records

logger = logging.getLogger(__name__)

PRIORITY_ROUTINE = 0
PRIORITY_HIT = 10  # this priority and above is never dropped
CHECKPOINT_EVERY = 32  # write transactions between the checkpoints ``checkpoint`` does
CHECKPOINT_FORCED = 512  # ... and between those an append or ack does itself when nobody called it

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_protected ON outbox (seq) WHERE priority >= 10;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('last_seq', 0), ('dropped', 0);
"""


class OutboxError(AgentError, OSError):
    """The outbox could not commit (disk full, I/O error, corrupt file): nothing was queued."""


class OutboxBusy(OutboxError):
    """Another thread is writing (its commit may be waiting on the disk or a lock), for a caller that must not wait."""


class OutboxCorrupt(OutboxError):
    """The outbox file is not a sound SQLite database (truncated, overwritten, malformed pages)."""


_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_FULL = 13  # SQLITE_FULL: the file system has no room (ENOSPC)
T = TypeVar("T")


def _is_corrupt(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in _CORRUPT_CODES or "malformed" in str(exc)


def _is_full(exc: BaseException | None) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == _FULL


class SpaceReserve:
    """Space held back on a file system: a preallocated file of ``size`` bytes at ``path`` (none when 0)."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = Path(path), size
        self.make()

    def make(self) -> bool:
        """Create the reserve when it is missing and the file system has room for it twice over; True when
        it is in place. Never raises (a reserve that cannot be made is shown by ``fault``)."""
        if self.size <= 0 or self.path.exists():
            return self.size > 0
        try:
            stat = os.statvfs(self.path.parent)
            if stat.f_bavail * stat.f_frsize < 2 * self.size:
                return False
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_dir(self.path.parent)
        except OSError as exc:
            self.path.unlink(missing_ok=True)
            logger.warning("outbox space reserve not made", extra={"fields": {"error": str(exc)}})
            return False
        logger.info("outbox space reserve made", extra={"fields": {"bytes": self.size}})
        return True

    def release(self) -> bool:
        """Free the reserve for the write that needs it; True when there was one to free."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        logger.error("disk full: outbox space reserve released", extra={"fields": {"bytes": self.size}})
        return True

    @property
    def fault(self) -> str | None:
        """Why the reserve is not in place (the file system filled, or has no room for it), or None."""
        if self.size <= 0 or self.path.exists():
            return None
        try:
            stat = os.statvfs(self.path.parent)
            free = f"{stat.f_bavail * stat.f_frsize // 1024} KiB free"
        except OSError as exc:
            free = f"free space unknown: {exc}"
        return f"disk full: the outbox's {self.size // 1024} KiB space reserve is used or missing ({free})"


@dataclass(frozen=True)
class OutboxRow:
    """One queued message as the link sends it."""

    seq: int
    msg_id: str
    kind: str
    priority: int
    created: float  # wall-clock time of the append
    body: bytes


class Outbox:
    """Durable, bounded, prioritised queue of outgoing messages; see the module docstring."""

    def __init__(
        self, path: str | Path, *, max_rows: int = 200_000, clock: Callable[[], float] = time.time,
        seq_floor: int = 0, reserve_bytes: int = 0,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, not {max_rows!r}")
        self.path = Path(path)
        self.max_rows = max_rows
        self._clock = clock
        self._lock = threading.Lock()
        self._writes = 0  # write transactions since the last checkpoint
        # the oldest queued row's ``created`` (None: no row), valid while ``_oldest_known`` (module docstring)
        self._oldest: float | None = None
        self._oldest_known = False
        self._held: set[int] = set()  # rows committed but not to be sent yet (``append_with_seq(held=True)``)
        self._surfaced: int | None = None  # lowest seq released or restored since ``surfaced`` was last called
        self._gone: list[str] | None = None  # ids dropped since ``gone`` was last called; None until it first is
        # guards ``_held``, ``_surfaced`` and ``_gone`` alone and is never held across I/O: ``release`` is on a traveller's path
        # after the deadline and must not wait for another thread's commit (an ack's fdatasync) under ``_lock``
        self._held_lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # ``checkpoint``, off the decision's path
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            self._depth, newest = self._db.execute("SELECT count(*), max(seq) FROM outbox").fetchone()
            counted = self._db.execute("SELECT value FROM counters WHERE name='last_seq'").fetchone()[0]
            self._last_seq = max(counted, newest or 0, seq_floor)
        except sqlite3.Error as exc:
            if hasattr(self, "_db"):
                self._db.close()
            error = OutboxCorrupt if _is_corrupt(exc) else OutboxError
            raise error(f"cannot open outbox {str(self.path)!r}: {exc}") from exc
        self.reserve = SpaceReserve(self.path.with_name(f"{self.path.name}.reserve"), reserve_bytes)

    def check(self) -> None:
        """Raise ``OutboxCorrupt`` unless SQLite's ``quick_check`` finds every page and index sound."""
        with self._lock:
            try:
                problems = [r[0] for r in self._db.execute("PRAGMA quick_check(5)").fetchall()]
            except sqlite3.Error as exc:
                raise OutboxCorrupt(f"outbox {str(self.path)!r} cannot be checked: {exc}") from exc
        if problems != ["ok"]:
            raise OutboxCorrupt(f"outbox {str(self.path)!r} is damaged: {'; '.join(problems)}")

    def append(self, kind: str, msg_id: str, body: bytes, *, priority: int, now: float | None = None) -> int:
        """Queue one message in its own durable transaction; returns its seq. Raises ``OutboxError``."""
        return self.append_with_seq(kind, msg_id, lambda _seq: body, priority=priority, now=now)

    def append_with_seq(
        self,
        kind: str,
        msg_id: str,
        encode: Callable[[int], bytes],
        *,
        priority: int,
        now: float | None = None,
        held: bool = False,
    ) -> int:
        """Like ``append``, for a body that carries its own seq: ``encode(seq)`` runs inside the transaction.
        ``held``: durable like any row, but ``pending`` leaves it out until ``release`` (a decision whose event
        may still be rewritten by ``replace``); a restart releases it (the row is what was committed)."""
        created = self._clock() if now is None else now
        with self._lock:
            seq = self._last_seq + 1

            def insert(db: sqlite3.Connection) -> tuple[int, list[tuple[float, str]]]:
                db.execute("INSERT INTO outbox (seq, msg_id, kind, priority, created, body) VALUES (?,?,?,?,?,?)",
                           (seq, msg_id, kind, priority, created, encode(seq)))
                depth = self._depth + 1
                dropped = self._drop_routine(depth - self.max_rows, seq) if depth > self.max_rows else []
                return depth - len(dropped), dropped

            self._depth, dropped = self._write(f"commit {kind} {msg_id!r}", insert)
            self._added(created)
            if dropped:
                self._removed([when for when, _ in dropped])
            self._last_seq = seq
            with self._held_lock:
                if held:
                    self._held.add(seq)
                if dropped and self._gone is not None:
                    self._gone += [gone for _, gone in dropped]
            self._wrote()
            return seq

    def replace(self, seq: int, encode: Callable[[int], bytes], *, priority: int) -> None:
        """Rewrite held row ``seq`` (body and priority) in one durable transaction; it stays held. Raises
        ``OutboxError`` when it cannot commit (the row keeps what it held) or when ``seq`` is not held."""
        with self._lock:
            with self._held_lock:
                is_held = seq in self._held
            if not is_held:
                raise OutboxError(f"outbox {str(self.path)!r}: row {seq} is not held; only a held row is rewritten")
            self._write(f"rewrite row {seq}", lambda db: db.execute(
                "UPDATE outbox SET body=?, priority=? WHERE seq=?", (encode(seq), priority, seq)))
            self._wrote()

    def release(self, seq: int) -> None:
        """Let ``pending`` list held row ``seq`` (its event is final); no I/O, and no wait for a write another
        thread has in progress (a decision past its deadline releases its row, then shows)."""
        with self._held_lock:
            self._held.discard(seq)
            self._surface(seq)

    def _surface(self, seq: int) -> None:
        """Row ``seq`` became readable, perhaps below rows the link already sent (``surfaced``); under
        ``_held_lock``."""
        self._surfaced = seq if self._surfaced is None else min(self._surfaced, seq)

    def _write(self, what: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` in one write transaction (the caller holds the lock), committed durably; when the file
        system is full, the space reserve is released and it is tried once more. Rolled back and raised as
        ``OutboxError`` naming ``what`` when it fails."""
        db = self._db
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(db)
                    db.execute("COMMIT")
                    return result
                except BaseException:
                    if db.in_transaction:  # SQLite may already have rolled back (SQLITE_FULL, I/O error)
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                if _is_full(exc) and self.reserve.release():
                    continue
                raise OutboxError(f"outbox {str(self.path)!r} cannot {what}: {exc}") from exc

    def checkpoint(self) -> None:
        """Copy the WAL into the database and restart it, when ``CHECKPOINT_EVERY`` write transactions have
        passed since the last time (see the module docstring: the work a live decision's commit leaves for
        later). A failure (disk full) is logged and left for the next call: every row is already durable."""
        with self._lock:
            if self._db is not None and self._writes >= CHECKPOINT_EVERY:
                self._checkpoint()
        self.reserve.make()

    def _wrote(self) -> None:
        """Count a committed write transaction; past ``CHECKPOINT_FORCED`` without a checkpoint, do one now."""
        self._writes += 1
        if self._writes >= CHECKPOINT_FORCED:
            self._checkpoint()

    def _checkpoint(self) -> None:
        db = self._db
        try:
            busy, logged, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if not busy and logged == copied:
                # A write now starts the WAL over from its first frame: this one (it persists the sequence, as
                # ``ack`` does) pays the restart's header sync instead of the next decision's commit.
                self._write("restart the WAL", lambda db: db.execute(
                    "UPDATE counters SET value=? WHERE name='last_seq'", (self._last_seq,)))
            self._writes = 0
        except (sqlite3.Error, OutboxError) as exc:
            logger.warning("outbox checkpoint failed; the WAL keeps the rows", extra={"fields": {"error": str(exc)}})

    def _drop_routine(self, excess: int, newest: int) -> list[tuple[float, str]]:
        """Delete up to ``excess`` oldest routine rows inside the open transaction; returns their ``created`` and
        ids."""
        # The newest row may go too: persist the sequence so it is never reused.
        self._db.execute("UPDATE counters SET value=? WHERE name='last_seq'", (newest,))
        dropped: list[tuple[float, str]] = self._db.execute(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE priority < ? ORDER BY seq LIMIT ?) "
            "RETURNING created, msg_id", (PRIORITY_HIT, excess)).fetchall()
        if dropped:
            self._db.execute("UPDATE counters SET value=value+? WHERE name='dropped'", (len(dropped),))
            logger.warning("outbox full: dropped routine events", extra={"fields": {
                "dropped": len(dropped), "max_rows": self.max_rows}})
        return dropped

    def _added(self, created: float) -> None:
        """A row appended at ``created`` (the caller holds the lock): the oldest is the earlier of the two."""
        if self._oldest_known:
            self._oldest = created if self._oldest is None else min(self._oldest, created)

    def _removed(self, created: list[float] | None) -> None:
        """Rows left, appended at ``created`` (None: not known), the caller holding the lock: the oldest is read
        again at the next ``oldest_age`` if one of them may have been it."""
        if self._depth == 0:
            self._oldest, self._oldest_known = None, True
        elif created is None or self._oldest is None or min(created) <= self._oldest:
            self._oldest_known = False

    def pending(self, limit: int = 100, skip: Collection[str] = (), start: tuple[int, int] = (0, 0),
                again: tuple[Collection[int], Collection[int]] = ((), ())) -> list[OutboxRow]:
        """Up to ``limit`` queued rows to send: hits (the protected priorities) first, then in seq order, each from
        its ``start`` seq on (the link's rows below are out: the query does not step over them), after the rows
        of its ``again`` seqs (the link's rows below ``start`` due again: read by seq). Held rows
        (``append_with_seq(held=True)``, until released) and the ids in ``skip`` (the link's rows in flight or
        held back at or above ``start``) are left out by the query: their bodies are not read."""
        with self._lock:
            with self._held_lock:
                held = json.dumps(list(self._held))
            out = json.dumps(list(skip))
            rows: list[Any] = []
            for priorities, first, seqs in zip(("priority >= ?", "priority < ?"), start, again, strict=True):
                if seqs and len(rows) < limit:
                    rows += self._db.execute(
                        "SELECT seq, msg_id, kind, priority, created, body FROM outbox WHERE "
                        "seq IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?",
                        (json.dumps(list(seqs)), limit - len(rows))).fetchall()
                if len(rows) < limit:  # the partial index outbox_protected, then the table
                    rows += self._db.execute(
                        "SELECT seq, msg_id, kind, priority, created, body FROM outbox WHERE "
                        f"{priorities} AND seq >= ? AND seq NOT IN (SELECT value FROM json_each(?)) "
                        "AND msg_id NOT IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?",
                        (PRIORITY_HIT, first, held, out, limit - len(rows))).fetchall()
        return [OutboxRow(*r) for r in rows]

    def surfaced(self) -> int | None:
        """The lowest seq that became readable below newer rows since the last call (a held row released, salvaged
        rows restored), or None: a reader that starts its query after the rows it sent starts there again."""
        with self._held_lock:
            low, self._surfaced = self._surfaced, None
        return low

    def gone(self, keep: bool = True) -> list[str]:
        """The ids of rows dropped unacknowledged (the outbox was full) since the last call, so a reader forgets
        what it keeps of them. The first call starts the record: an outbox nobody reads from keeps no ids.
        ``keep=False`` (the reader stopped: ``GateLink.stop``) ends the record until a reader asks again."""
        with self._held_lock:
            ids, self._gone = self._gone or [], [] if keep else None
        return ids

    def ack(self, msg_ids: Iterable[str]) -> int:
        """Remove the acknowledged messages (one transaction); unknown ids are ignored. Returns rows removed."""
        ids = [(m,) for m in msg_ids]
        if not ids:
            return 0
        with self._lock:
            def delete(db: sqlite3.Connection) -> int:
                # The newest row may be acknowledged: persist the sequence so it is never reused.
                db.execute("UPDATE counters SET value=? WHERE name='last_seq'", (self._last_seq,))
                before = db.total_changes
                db.executemany("DELETE FROM outbox WHERE msg_id=?", ids)
                return db.total_changes - before

            removed = self._write("ack", delete)
            self._depth -= removed
            if removed:
                self._removed(None)
            self._wrote()
        self.reserve.make()
        return removed

    def restore(self, rows: Iterable[OutboxRow]) -> int:
        """Queue rows salvaged from a damaged outbox as they were (seq, id, priority, body), in one durable
        transaction; a row whose seq or id is queued already is skipped. Returns the rows added."""
        rows = list(rows)
        with self._lock:
            def insert(db: sqlite3.Connection) -> int:
                before = db.total_changes
                db.executemany(
                    "INSERT OR IGNORE INTO outbox (seq, msg_id, kind, priority, created, body) VALUES (?,?,?,?,?,?)",
                    [(r.seq, r.msg_id, r.kind, r.priority, r.created, r.body) for r in rows])
                return db.total_changes - before

            added = self._write("restore salvaged rows", insert)
            self._depth += added
            self._oldest_known = False
            self._wrote()
            self._last_seq = max([self._last_seq, *(r.seq for r in rows)])
            if rows:
                with self._held_lock:
                    self._surface(min(r.seq for r in rows))
            return added

    def depth(self) -> int:
        """Rows queued."""
        return self._depth

    def oldest_age(self, now: float | None = None, *, wait: bool = True) -> float:
        """Seconds since the oldest queued row was appended (0.0 when empty); read from the file only when rows
        that may have been the oldest left since the last time (module docstring). ``wait=False``: raises
        ``OutboxBusy`` at once while another thread writes, for the supervisor, which must not wait for a commit
        that hangs (it ends a CLEAR's relay opening)."""
        if not self._lock.acquire(blocking=wait):
            raise OutboxBusy(f"outbox {str(self.path)!r} is busy writing")
        try:
            if not self._oldest_known:
                self._oldest = self._db.execute("SELECT min(created) FROM outbox").fetchone()[0]
                self._oldest_known = True
            oldest = self._oldest
        finally:
            self._lock.release()
        return 0.0 if oldest is None else max(0.0, (self._clock() if now is None else now) - oldest)

    @property
    def dropped(self) -> int:
        """Routine rows dropped because the outbox was full, since it was created (persisted)."""
        with self._lock:
            return self._db.execute("SELECT value FROM counters WHERE name='dropped'").fetchone()[0]

    @property
    def space_fault(self) -> str | None:
        """The disk-full fault while the space reserve is used or cannot be made (None without a reserve)."""
        return self.reserve.fault

    @property
    def last_seq(self) -> int:
        """The seq of the newest row ever appended (0 when none)."""
        return self._last_seq

    def close(self) -> None:
        """Checkpoint the WAL and close; idempotent."""
        with self._lock:
            if self._db is None:
                return
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                logger.warning("outbox checkpoint failed", extra={"fields": {"error": str(exc)}})
            self._db.close()
            self._db = None  # type: ignore[assignment]


def open_outbox(path: Path, *, seq_hint: int = 0, whole: Callable[[OutboxRow], bool] = lambda _row: True,
                **kwargs: Any) -> tuple[Outbox, str | None]:
    """Open and check the outbox at ``path``; a corrupt one (with its ``-wal`` and ``-shm``) is moved aside
    to ``<name>.corrupt-<n>`` and a new one started, its seq above the old file's highest readable seq
    and ``seq_hint``. Every queued row still readable in the damaged file (``salvage_rows``) and judged
    ``whole`` (its body intact) is put into the new outbox with its seq and id, so it is delivered (the
    centre drops one it has already by id). Returns (outbox, what was done and salvaged, or None).
    Raises ``OutboxError`` when the outbox cannot be opened for another reason (disk full, permissions)."""
    try:
        box = Outbox(path, **kwargs)
    except OutboxCorrupt as exc:
        reason = str(exc)
    else:
        try:
            box.check()
            return box, None
        except OutboxCorrupt as exc:
            box.close()
            reason = str(exc)
    rows, last_seq, unreadable = salvage_rows(path, whole)
    floor = max(seq_hint, _salvage_last_seq(path), last_seq)
    n = 1
    while path.with_name(f"{path.name}.corrupt-{n}").exists():
        n += 1
    aside = path.with_name(f"{path.name}.corrupt-{n}")
    for suffix in ("-wal", "-shm", ""):
        src = Path(f"{path}{suffix}")
        if src.exists():
            os.replace(src, Path(f"{aside}{suffix}"))
    fsync_dir(path.parent)
    box = Outbox(path, seq_floor=floor, **kwargs)
    box.restore(rows)
    what = (f"{reason}; moved aside to {aside.name}; {_salvage_report(rows, floor, unreadable)}; new rows from seq "
            f"{box.last_seq + 1}")
    logger.error("outbox corrupt: moved aside, continuing with a new one", extra={"fields": {"detail": what}})
    return box, what


def salvage_rows(path: Path, whole: Callable[[OutboxRow], bool]) -> tuple[list[OutboxRow], int, int]:
    """The queued rows a damaged outbox file (and its ``-wal``) still holds, read page by page
    (agent/sqlite_salvage.py), each judged ``whole``; the highest ``last_seq`` counter found; and how many
    pages, cells or rows could not be read or were not whole. Never raises for damage."""
    found = salvage_records(path)
    rows: dict[int, OutboxRow] = {}
    last_seq, unreadable = 0, found.damaged
    for rowid, values in found.records:
        match values:
            case [None, str(msg_id), str(kind), int(priority), int() | float() as created, bytes(body)] if rowid > 0:
                row = OutboxRow(rowid, msg_id, kind, priority, float(created), body)
                if whole(row):
                    rows[rowid] = row
                else:
                    unreadable += 1
            case ["last_seq", int(value)]:
                last_seq = max(last_seq, value)
    return sorted(rows.values(), key=lambda r: r.seq), last_seq, unreadable


def _salvage_report(rows: list[OutboxRow], last_seq: int, unreadable: int) -> str:
    """What was salvaged and what is missing, for status and the centre."""
    if not rows:
        return f"no queued row salvaged; {unreadable} unreadable pages, cells or rows"
    first = rows[0].seq
    missing = max(last_seq, rows[-1].seq) - first + 1 - len(rows)
    return (f"{len(rows)} queued rows salvaged (seq {first}..{rows[-1].seq}) into the new outbox; {missing} "
            f"seq numbers from {first} to {max(last_seq, rows[-1].seq)} not found (lost, or acknowledged before "
            f"the damage); {unreadable} unreadable pages, cells or rows")


def _salvage_last_seq(path: Path) -> int:
    """The highest seq a damaged outbox still shows (0 when nothing is readable)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            newest = db.execute("SELECT max(seq) FROM outbox").fetchone()[0] or 0
            counted = db.execute("SELECT value FROM counters WHERE name='last_seq'").fetchone()[0]
            return max(int(newest), int(counted))
        finally:
            db.close()
    except (sqlite3.Error, TypeError, ValueError):
        return 0


def read_outbox_stats(path: str | Path, now: float) -> dict[str, float | int]:
    """Depth, oldest age, dropped count and last seq of an outbox another process may be writing.

    Opens read-only (never creates or migrates the file); raises ``OutboxError`` when unreadable.
    """
    try:
        db = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
        try:
            depth, oldest, newest = db.execute("SELECT count(*), min(created), max(seq) FROM outbox").fetchone()
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise OutboxError(f"cannot read outbox {str(path)!r}: {exc}") from exc
    return {
        "depth": depth,
        "oldest_age_s": 0.0 if oldest is None else round(max(0.0, now - oldest), 3),
        "dropped": counters.get("dropped", 0),
        "last_seq": max(counters.get("last_seq", 0), newest or 0),
    }
