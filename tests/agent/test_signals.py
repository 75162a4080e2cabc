"""agent/signals.py: a command's signal handlers last as long as its run, whatever way the run ends."""

from __future__ import annotations

import signal
import threading

import pytest

from agent.signals import stop_on


def test_stop_on_sets_the_event_while_inside_and_gives_back_the_handlers_when_the_body_raises():
    """The signals set ``stop`` while inside; a run that ends in an exception (a part that did not start) gives
    back the handlers it found as a run that returned does."""
    stop = threading.Event()
    found = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError, match="did not start"), stop_on(stop, signal.SIGTERM, signal.SIGINT):
        signal.raise_signal(signal.SIGTERM)  # its Python handler runs before raise_signal returns
        assert stop.is_set()
        raise RuntimeError("a part did not start")
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == found
