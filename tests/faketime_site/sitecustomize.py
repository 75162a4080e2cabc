"""Loaded by Python at start-up when this directory is on PYTHONPATH (tests/faketime.py puts it there).

libfaketime 0.9.10 (Debian 12) breaks ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``, which
``time.sleep`` uses: EINVAL with the clock set back, a sleep of a year with it set ahead. Under
libfaketime only, ``time.sleep`` waits in ``select`` instead (a relative timeout, not faked), so the
process under test runs its own code unchanged.
"""

import os
import select
import time

if "faketime" in os.environ.get("LD_PRELOAD", ""):

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        select.select([], [], [], seconds)

    time.sleep = _sleep
