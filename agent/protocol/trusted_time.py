"""Trusted time that never goes backwards, even across reboots with the clock set back (RELIABILITY 15)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent.durable import read_json, write_json

PERSIST_EVERY = 60.0


class TrustedClock:
    """``now() = max(wall clock, last persisted trusted time + time elapsed since start)``.

    The floor is saved atomically at most every ``PERSIST_EVERY`` seconds and whenever ``observe``
    raises it (a verified message from the centre proves that time has been reached).
    """

    def __init__(
        self,
        path: Path,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = Path(path)
        self._wall = wall
        self._mono = monotonic
        self._lock = threading.Lock()
        self._floor = float(read_json(self._path, {"floor": 0.0}).get("floor", 0.0))
        self._mono0 = monotonic()
        self._saved = self._floor
        self._persist(self.now())

    def now(self) -> float:
        """The trusted current time in seconds since the epoch."""
        t = max(self._wall(), self._floor + (self._mono() - self._mono0))
        if t - self._saved >= PERSIST_EVERY:
            self._persist(t)
        return t

    def observe(self, ts: float) -> None:
        """Raise the floor to ``ts`` (a timestamp from a verified message that is not in the future)."""
        if ts > self.now():
            with self._lock:
                self._floor = ts
                self._mono0 = self._mono()
            self._persist(ts)

    def _persist(self, t: float) -> None:
        with self._lock:
            if t <= self._saved and self._path.exists():
                return
            write_json(self._path, {"floor": t})
            self._saved = t
