"""tests/conftest.py's guard: a test that leaves SIGINT ignored or blocked (children inherit both), or a handler of
its own on SIGTERM (a command's that was never restored), fails by name."""

import os
import signal
import subprocess
import sys
from pathlib import Path

LEAKS = '''
import signal

def test_ignores():
    signal.signal(signal.SIGINT, signal.SIG_IGN)

def test_blocks():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

def test_handles_sigterm():
    signal.signal(signal.SIGTERM, lambda _signo, _frame: None)

def test_restores():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGINT, previous)

def test_later_tests_find_it_as_it_was():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
'''


def _signals_default() -> None:
    """The child starts with SIGINT (so Python installs its own handler) and SIGTERM at their defaults and unblocked,
    whatever this run inherited: a CI that starts pytest as a background job of a script has SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def test_a_test_leaving_sigint_ignored_or_blocked_or_a_sigterm_handler_fails_by_name(tmp_path):
    (tmp_path / "test_leaks.py").write_text(LEAKS)
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q",
                          "-rE", "test_leaks.py"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(repo)},
                         capture_output=True, text=True, timeout=120, preexec_fn=_signals_default)  # fmt: skip
    # a leak is an error at its teardown (the test body passed); the guard restores what it found, so the last passes
    assert "5 passed, 3 errors" in out.stdout, out.stdout + out.stderr
    for name in ("test_ignores", "test_blocks", "test_handles_sigterm"):
        assert f"test_leaks.py::{name} left SIGINT's and SIGTERM's handlers and blocked signals" in out.stdout, out.stdout
