"""Waiting for another thread or process without a fixed sleep: poll a condition up to a bound that
only a failure reaches (a loaded machine is slow; a deadline here is not a speed claim)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(pred: Callable[[], Any], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``pred`` until true or ``timeout``; returns the last result as a bool."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
