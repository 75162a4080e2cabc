"""The signal handlers a long-running command installs for its run, and takes back when it returns.

    stop = threading.Event()
    with stop_on(stop, signal.SIGTERM):   # SIGTERM sets ``stop`` while inside
        serve_until(stop)
    # the handler found before is back

A handler left installed outlives its command: a caller in the same process (a test, a program embedding the
command) has its SIGTERM or Ctrl-C set an event nobody waits on any more. Used by ``sharaka-gate run``
(agent/commands/run.py), ``sharaka-central run``, ``console`` and ``federation run`` (tools/central/cli.py) and
``python -m tools.mosquitto``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def stop_on(stop: threading.Event, *signums: signal.Signals) -> Iterator[None]:
    """Each of ``signums`` sets ``stop`` while inside; on leaving, returned or raised, the handlers found are back.
    Main thread only (``signal.signal`` raises ValueError in another)."""
    previous: dict[signal.Signals, Any] = {}
    try:
        for signum in signums:
            previous[signum] = signal.signal(signum, lambda _signo, _frame: stop.set())
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
