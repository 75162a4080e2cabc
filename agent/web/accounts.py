"""Per-user web accounts: Argon2id password hashes and lock-out, in one SQLite file (mode 0600).

    >>> accounts = Accounts(state_dir / "officers.sqlite3")
    >>> accounts.add("amina", "correct horse battery")          # role "officer"
    >>> accounts.authenticate("amina", "correct horse battery")  # Account, or raises SignInError

Passwords are hashed with Argon2id (libsodium through PyNaCl, ``nacl.pwhash.argon2id``) at libsodium's
"interactive" cost, which a Raspberry Pi 4 computes in well under a second. The file holds hashes only and
is created 0600; it is re-chmodded 0600 whenever it is opened.

Wrong passwords are counted per name *and client* (``agent.web.clients.client_id``: the address, an IPv6 /64), for
any name tried, whether it has an account or not (``failures``): ``LockoutPolicy.max_failures`` in a row from one
client lock that client out of that name for ``lockout_s`` seconds (``locked``: even the right password is refused
from there), and ``client_failures`` from one client within ``lockout_s``, under any names, refuse every sign-in
from it until the oldest of them are that old (``throttled``). Whoever can reach the sign-in page therefore cannot
lock an officer out: the officer signs in from their own terminal meanwhile. A refusal for a lock is decided
before any verification, alike for a name with an account and one without; a wrong password, or any password
for an unknown name, costs the same one hash verification (a dummy hash of the same cost for an unknown name) and
the same one durable write (``synchronous=FULL``) of its count. So neither the answer nor its time tells which
names have accounts, and the sign-in page says the same for a wrong password and an unknown name
(``agent.web.server``; the reason stays in the server's log and the console's audit log). The counts live in the
file, so a restart does not reset them; each write drops the counts older than ``lockout_s``, so made-up names
grow the file only by the failures of the last ``lockout_s``. ``unlock`` and ``set_password`` clear a name's counts
from every client. Used by the officer's screen (agent/screen/) and the centre's operators' console alike;
``sharaka-gate officer …`` manages the gate's accounts.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash

from agent.errors import AgentError, BadDataError, UsageError

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
NAME_FORM = "1-32 characters of a-z 0-9 . _ -, starting with a letter or digit"
NAME_MAX_COUNTED = 64  # a name tried is counted (``failures``) by at most its first so many characters
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
ROLES = ("officer", "supervisor", "operator")
"""The gate's roles; a site with others (the centre's console: viewer, officer, supervisor) passes ``roles``."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    hash BLOB NOT NULL,
    created REAL NOT NULL
);
-- wrong passwords by name and client, for any name tried (module docstring); a file of an earlier version keeps
-- its accounts' unused failures and locked_until columns and its decoy table
CREATE TABLE IF NOT EXISTS failures (
    name TEXT NOT NULL,
    client TEXT NOT NULL,
    in_row INTEGER NOT NULL,  -- since the last lock or right password
    total INTEGER NOT NULL,  -- all of this row's: the client's sum is held to client_failures
    last REAL NOT NULL,
    locked_until REAL NOT NULL,
    PRIMARY KEY (name, client)
);
CREATE INDEX IF NOT EXISTS failures_client ON failures (client, last);
CREATE INDEX IF NOT EXISTS failures_last ON failures (last);
"""
# One more wrong password of (name, client): locked for lockout_s at the max_failures-th in a row.
_COUNT_FAILURE = """
INSERT INTO failures (name, client, in_row, total, last, locked_until)
VALUES (:name, :client, CASE WHEN 1 >= :most THEN 0 ELSE 1 END, 1, :now, CASE WHEN 1 >= :most THEN :until ELSE 0 END)
ON CONFLICT (name, client) DO UPDATE SET
    locked_until = CASE WHEN in_row + 1 >= :most THEN :until ELSE locked_until END,
    in_row = CASE WHEN in_row + 1 >= :most THEN 0 ELSE in_row + 1 END,
    total = total + 1, last = :now
RETURNING locked_until"""


class AccountError(UsageError):
    """An account cannot be added, changed or removed as asked (the message says why)."""


class SignInError(AgentError):
    """A sign-in was refused. ``reason``: ``bad_credentials`` (unknown name or wrong password; the two are
    not told apart), ``locked`` (too many wrong passwords for this name from this client) or ``throttled`` (too
    many from this client under any names); ``retry_after``: the seconds a lock has left."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class LockoutPolicy:
    """How many wrong passwords in a row lock a client out of a name, for how long, and how many from one client
    under any names within ``lockout_s`` refuse all its sign-ins (module docstring)."""

    max_failures: int = 5
    lockout_s: float = 300.0
    client_failures: int = 20


@dataclass(frozen=True)
class Account:
    """One account as listed (never its hash): ``failures``, its wrong passwords in a row from all clients;
    ``locked_until``, when the last client locked out of it may try again (0: none is)."""

    name: str
    role: str
    created: float
    failures: int
    locked_until: float


def check_password(password: str) -> None:
    """Raise ``AccountError`` unless ``password`` is MIN_PASSWORD..MAX_PASSWORD characters."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"password of {len(password)} characters: expected {MIN_PASSWORD}-{MAX_PASSWORD}")


class Accounts:
    """The account file; see the module docstring. Thread-safe; several processes may open the same file."""

    def __init__(
        self,
        path: str | Path,
        *,
        policy: LockoutPolicy | None = None,
        clock: Callable[[], float] = time.time,
        opslimit: int = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
        memlimit: int = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
        roles: tuple[str, ...] = ROLES,
    ) -> None:
        self.path = Path(path)
        self.roles = roles
        self.policy = policy or LockoutPolicy()
        self._clock = clock
        self._ops, self._mem = opslimit, memlimit
        self._lock = threading.Lock()
        try:
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(self.path, 0o600)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise BadDataError(f"account file {str(self.path)!r}: {exc}") from exc
        # Verified against when the name is unknown, so that an unknown name takes as long as a known one.
        self._dummy = nacl.pwhash.argon2id.str(os.urandom(16), opslimit=self._ops, memlimit=self._mem)

    def close(self) -> None:
        """Close the file; idempotent."""
        with self._lock:
            self._db.close()

    def _hash(self, password: str) -> bytes:
        return nacl.pwhash.argon2id.str(password.encode(), opslimit=self._ops, memlimit=self._mem)

    def add(self, name: str, password: str, role: str = "officer") -> Account:
        """Create an account; raises ``AccountError`` for a bad or taken name, a role not in ``roles``, a bad password."""
        if not NAME.fullmatch(name):
            raise AccountError(f"account name {name!r}: expected {NAME_FORM}")
        if role not in self.roles:
            raise AccountError(f"role {role!r}: expected one of {', '.join(self.roles)}")
        check_password(password)
        digest, now = self._hash(password), self._clock()
        with self._lock:
            try:
                self._db.execute("INSERT INTO accounts (name, role, hash, created) VALUES (?,?,?,?)",
                                 (name, role, digest, now))
            except sqlite3.IntegrityError:
                raise AccountError(f"account {name!r} already exists") from None
        return Account(name, role, now, 0, 0.0)

    def set_password(self, name: str, password: str) -> None:
        """Replace ``name``'s password and clear its lock-outs; raises ``AccountError`` if there is no such account."""
        check_password(password)
        self._change(name, "UPDATE accounts SET hash=? WHERE name=?", (self._hash(password), name))

    def unlock(self, name: str) -> None:
        """Clear ``name``'s failure counts and lock-outs, from every client; raises ``AccountError`` if there is no
        such account."""
        self._change(name, "SELECT 1 FROM accounts WHERE name=?", (name,))

    def remove(self, name: str) -> None:
        """Delete ``name``; raises ``AccountError`` if there is no such account."""
        self._change(name, "DELETE FROM accounts WHERE name=?", (name,))

    def _change(self, name: str, sql: str, args: tuple[Any, ...]) -> None:
        """``sql`` on ``name``'s account and its failure counts cleared, in one transaction; ``AccountError`` when
        ``sql`` touched no account."""
        with self._lock, self._transaction():
            cur = self._db.execute(sql, args)
            if not (cur.rowcount if cur.rowcount >= 0 else len(cur.fetchall())):
                raise AccountError(f"no account {name!r}")
            self._db.execute("DELETE FROM failures WHERE name=?", (name,))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def exists(self, name: str) -> bool:
        """True while ``name`` has an account (a removed account's sessions end at their next request)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM accounts WHERE name=?", (name,)).fetchone() is not None

    def standing(self, name: str) -> str | None:
        """What a session of ``name`` was signed in under: its role and a fingerprint of its password hash; None
        without such an account. A session whose account was removed, made again with another role, or given
        a new password (``passwd``) since its sign-in ends at its next request."""
        with self._lock:
            row = self._db.execute("SELECT role, hash FROM accounts WHERE name=?", (name,)).fetchone()
        return None if row is None else f"{row[0]}:{hashlib.sha256(bytes(row[1])).hexdigest()}"

    def list(self) -> list[Account]:
        """Every account, by name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT a.name, a.role, a.created, COALESCE(SUM(f.in_row), 0), COALESCE(MAX(f.locked_until), 0)"
                " FROM accounts a LEFT JOIN failures f ON f.name = a.name GROUP BY a.name ORDER BY a.name").fetchall()
        return [Account(*row) for row in rows]

    def authenticate(self, name: str, password: str, client: str = "") -> Account:
        """The account when ``password`` is right and ``client`` (``agent.web.clients.client_id``) is not locked out
        of ``name`` nor throttled; else raises ``SignInError`` (module docstring). Blocking (one Argon2id
        verification): call it off the event loop."""
        name = name[:NAME_MAX_COUNTED]  # no account's name is longer: a longer one is counted by its start
        with self._lock:
            refusal = self._refusal(name, client, self._clock())
            row = self._db.execute("SELECT role, hash, created FROM accounts WHERE name=?", (name,)).fetchone()
        if refusal is not None:  # before the verification, for any name: nothing tells a name with an account
            raise refusal
        digest = row[1] if row is not None else self._dummy
        try:
            ok = len(password) <= MAX_PASSWORD and nacl.pwhash.argon2id.verify(digest, password.encode())
        except nacl.exceptions.InvalidkeyError:
            ok = False
        now = self._clock()
        with self._lock:
            if ok and row is not None:
                self._db.execute("DELETE FROM failures WHERE name=? AND client=?", (name, client))
                return Account(name, row[0], row[2], 0, 0.0)
            with self._transaction():  # an unknown name's count too: the same write as a wrong password's
                self._db.execute("DELETE FROM failures WHERE last < ?", (now - self.policy.lockout_s,))
                (locked_until,) = self._db.execute(_COUNT_FAILURE, {
                    "name": name, "client": client, "now": now, "most": self.policy.max_failures,
                    "until": now + self.policy.lockout_s}).fetchone()
        if locked_until > now:
            raise SignInError("locked", locked_until - now)
        raise SignInError("bad_credentials")

    def _refusal(self, name: str, client: str, now: float) -> SignInError | None:
        """Why ``client`` may not try ``name`` now (locked out of it, or throttled), or None."""
        row = self._db.execute("SELECT locked_until FROM failures WHERE name=? AND client=?", (name, client)).fetchone()
        if row is not None and row[0] > now:
            return SignInError("locked", row[0] - now)
        counted = 0
        for total, last in self._db.execute("SELECT total, last FROM failures WHERE client=? AND last > ?"
                                            " ORDER BY last DESC", (client, now - self.policy.lockout_s)):
            counted += total
            if counted >= self.policy.client_failures:  # refused until this row (and the older) are too old
                return SignInError("throttled", last + self.policy.lockout_s - now)
        return None
