"""tests/conftest.py's guard: a test that leaves SIGINT ignored or blocked fails by name (children inherit both)."""

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

def test_restores():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGINT, previous)

def test_later_tests_find_it_as_it_was():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
'''


def _sigint_default() -> None:
    """The child starts with SIGINT at its default and unblocked (so Python installs its own handler), whatever
    this run inherited: a CI that starts pytest as a background job of a script has it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_a_test_leaving_sigint_ignored_or_blocked_fails_by_name(tmp_path):
    (tmp_path / "test_leaks.py").write_text(LEAKS)
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q",
                          "-rE", "test_leaks.py"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(repo)},
                         capture_output=True, text=True, timeout=120, preexec_fn=_sigint_default)  # fmt: skip
    # a leak is an error at its teardown (the test body passed); the guard restores what it found, so the last passes
    assert "4 passed, 2 errors" in out.stdout, out.stdout + out.stderr
    for name in ("test_ignores", "test_blocks"):
        assert f"test_leaks.py::{name} left SIGINT's handler and blocked signals" in out.stdout, out.stdout
