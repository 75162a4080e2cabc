"""Per-user web accounts: Argon2id password hashes and lock-out, in one SQLite file (mode 0600).

    >>> accounts = Accounts(state_dir / "officers.sqlite3")
    >>> accounts.add("amina", "correct horse battery")          # role "officer"
    >>> accounts.authenticate("amina", "correct horse battery")  # Account, or raises SignInError

Passwords are hashed with Argon2id (libsodium through PyNaCl, ``nacl.pwhash.argon2id``) at libsodium's
"interactive" cost, which a Raspberry Pi 4 computes in well under a second. The file holds hashes only and
is created 0600; it is re-chmodded 0600 whenever it is opened. ``LockoutPolicy.max_failures`` wrong
passwords in a row lock the account for ``lockout_s`` seconds; while locked even the right password is
refused (the attempt is not counted further). The count lives in the file, so a restart does not reset
it. A sign-in under an unknown name or to a locked account costs what a wrong password costs (no timing
oracle): the same one hash verification (a dummy hash of the same cost for an unknown name; the lock is
looked at after it) and the same reads and one durable write (``synchronous=FULL``), which for them counts on
one fixed decoy record instead of an account's failures: the file does not grow, whatever names are tried.
And the sign-in page says the same thing for a wrong password, an unknown name and a locked account
(``agent.web.server``; the reason stays in the server's log and the console's audit log). Used by the officer's screen (agent/screen/) and the centre's operators'
console alike; ``sharaka-gate officer …`` manages the gate's accounts.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.pwhash

from agent.errors import AgentError, BadDataError, UsageError

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
NAME_FORM = "1-32 characters of a-z 0-9 . _ -, starting with a letter or digit"
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
ROLES = ("officer", "supervisor", "operator")
"""The gate's roles; a site with others (the centre's console: viewer, officer, supervisor) passes ``roles``."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    hash BLOB NOT NULL,
    created REAL NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0
);
-- the one record a refused sign-in without a count of its own writes to (module docstring)
CREATE TABLE IF NOT EXISTS decoy (id INTEGER PRIMARY KEY CHECK (id = 1), failures INTEGER NOT NULL DEFAULT 0);
INSERT OR IGNORE INTO decoy (id) VALUES (1);
"""
# A wrong password's durable write, for a refusal that counts nothing: the same one-row update of one page.
_DECOY_WRITE = "UPDATE decoy SET failures=(failures + 1) % 1000 WHERE id=1"


class AccountError(UsageError):
    """An account cannot be added, changed or removed as asked (the message says why)."""


class SignInError(AgentError):
    """A sign-in was refused. ``reason``: ``bad_credentials`` (unknown name or wrong password; the two are
    not told apart) or ``locked`` (too many failures; ``retry_after`` seconds left)."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class LockoutPolicy:
    """How many wrong passwords in a row lock an account, and for how long."""

    max_failures: int = 5
    lockout_s: float = 300.0


@dataclass(frozen=True)
class Account:
    """One account as listed (never its hash)."""

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
        """Replace ``name``'s password and clear its lock-out; raises ``AccountError`` if there is no such account."""
        check_password(password)
        digest = self._hash(password)
        with self._lock:
            cur = self._db.execute("UPDATE accounts SET hash=?, failures=0, locked_until=0 WHERE name=?",
                                   (digest, name))
        if cur.rowcount == 0:
            raise AccountError(f"no account {name!r}")

    def unlock(self, name: str) -> None:
        """Clear ``name``'s failure count and lock-out; raises ``AccountError`` if there is no such account."""
        with self._lock:
            cur = self._db.execute("UPDATE accounts SET failures=0, locked_until=0 WHERE name=?", (name,))
        if cur.rowcount == 0:
            raise AccountError(f"no account {name!r}")

    def remove(self, name: str) -> None:
        """Delete ``name``; raises ``AccountError`` if there is no such account."""
        with self._lock:
            cur = self._db.execute("DELETE FROM accounts WHERE name=?", (name,))
        if cur.rowcount == 0:
            raise AccountError(f"no account {name!r}")

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
                "SELECT name, role, created, failures, locked_until FROM accounts ORDER BY name").fetchall()
        return [Account(*row) for row in rows]

    def authenticate(self, name: str, password: str) -> Account:
        """The account when ``password`` is right and the account not locked; else raises ``SignInError``.
        Blocking (one Argon2id verification): call it off the event loop."""
        with self._lock:
            row = self._db.execute("SELECT role, hash, created, failures, locked_until FROM accounts WHERE name=?",
                                   (name,)).fetchone()
        # Verified before the lock is looked at: a locked account and an unknown name take as long as a wrong password.
        digest = row[1] if row is not None else self._dummy
        try:
            ok = len(password) <= MAX_PASSWORD and nacl.pwhash.argon2id.verify(digest, password.encode())
        except nacl.exceptions.InvalidkeyError:
            ok = False
        now = self._clock()
        with self._lock:  # re-read: another attempt may have counted meanwhile
            if row is None:  # a wrong password's re-read and write, on the decoy: no timing tells an unknown name
                self._db.execute("SELECT failures FROM decoy WHERE id=1").fetchone()
                self._db.execute(_DECOY_WRITE)
                raise SignInError("bad_credentials")
            failures, locked_until = self._db.execute(
                "SELECT failures, locked_until FROM accounts WHERE name=?", (name,)).fetchone()
            if locked_until > now:  # not counted further; written like a wrong password, on the decoy
                self._db.execute(_DECOY_WRITE)
                raise SignInError("locked", locked_until - now)
            if ok:
                self._db.execute("UPDATE accounts SET failures=0, locked_until=0 WHERE name=?", (name,))
                return Account(name, row[0], row[2], 0, 0.0)
            failures += 1
            lock = now + self.policy.lockout_s if failures >= self.policy.max_failures else 0.0
            self._db.execute("UPDATE accounts SET failures=?, locked_until=? WHERE name=?",
                             (0 if lock else failures, lock, name))
        if lock:
            raise SignInError("locked", self.policy.lockout_s)
        raise SignInError("bad_credentials")
