"""Signed-in sessions and their CSRF tokens, held in memory (a restart signs everyone out).

    >>> sessions = Sessions(idle_s=900, max_s=43200)
    >>> s = sessions.create("amina", "officer", "ar")
    >>> sessions.get(s.token)            # the Session, touched; None once idle or too old
    >>> sessions.check_csrf(s, form["csrf"])

A session token is 256 random bits, sent only in a cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` and
the ``__Host-`` prefix over HTTPS): it never appears in a URL or a log. Each session has its own CSRF token,
which every state-changing request must carry (a form field or the ``X-CSRF-Token`` header); it is
compared in constant time. A session ends after ``idle_s`` without a request that counts as activity
(the live-update stream does not) or ``max_s`` after sign-in, whichever comes first.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Session:
    """One signed-in user. ``lang`` is the language they chose for the pages."""

    token: str
    user: str
    role: str
    lang: str
    csrf: str
    created: float
    last_seen: float
    notice: tuple[str, str] | None = None  # ("ok" | "error", text) for the next page shown, then cleared
    standing: str = ""  # the account's ``Accounts.standing`` at sign-in: the session ends when it changes


class Sessions:
    """The live sessions of one web server; see the module docstring. Thread-safe."""

    def __init__(self, *, idle_s: float = 900.0, max_s: float = 43200.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s, self.max_s = idle_s, max_s
        self._clock = clock
        self._lock = threading.Lock()
        self._live: dict[str, Session] = {}

    def create(self, user: str, role: str, lang: str) -> Session:
        """A new session for ``user`` (any earlier token of the browser is dropped by the caller)."""
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), user, role, lang, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._expire(now)
            self._live[session.token] = session
        return session

    def get(self, token: str | None, *, touch: bool = True) -> Session | None:
        """The live session of ``token``, or None (unknown, idle too long, or past ``max_s``). ``touch``
        counts this request as activity."""
        if not token:
            return None
        now = self._clock()
        with self._lock:
            session = self._live.get(token)
            if session is None:
                return None
            if now - session.last_seen > self.idle_s or now - session.created > self.max_s:
                del self._live[token]
                return None
            if touch:
                session.last_seen = now
            return session

    def drop(self, token: str | None) -> None:
        """End the session of ``token`` (sign-out); unknown tokens are ignored."""
        with self._lock:
            self._live.pop(token or "", None)

    def drop_user(self, user: str) -> int:
        """End every session of ``user`` (account removed); returns how many."""
        with self._lock:
            gone = [t for t, s in self._live.items() if s.user == user]
            for t in gone:
                del self._live[t]
        return len(gone)

    @staticmethod
    def check_csrf(session: Session, token: str | None) -> bool:
        """True when ``token`` is ``session``'s CSRF token (constant-time comparison)."""
        return bool(token) and hmac.compare_digest(session.csrf.encode(), str(token).encode())

    def _expire(self, now: float) -> None:
        for token in [t for t, s in self._live.items()
                      if now - s.last_seen > self.idle_s or now - s.created > self.max_s]:
            del self._live[token]
