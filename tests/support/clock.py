"""Injected time for tests: code under test reads the clock by calling it, and sleeps by moving it."""

from __future__ import annotations


class FakeClock:
    """A clock that moves only when told: ``clock()`` reads it, ``sleep(s)`` and ``advance(s)`` move it,
    so waits (the PCA9685's 500 us settle, retry intervals, row ages) cost no real time."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    advance = sleep
