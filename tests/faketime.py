"""Step the wall clock of a real gate process with libfaketime (the ``faketime`` package, installed by
tools/dev). Only the wall clock moves, as in a real clock step: ``FAKETIME_DONT_FAKE_MONOTONIC``.

    env = faketime_env("-30d")                       # fixed offset for the whole run
    env = faketime_env("+0", control=tmp / "clock")   # then write "-1d", "+1y" ... into tmp/clock
    gate = ClockedGateProcess(broker, state, "gate-a", node_pub, tmp / "clock")   # a link process so stepped
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIB = next((p for p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                        "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
                        "/usr/lib/faketime/libfaketimeMT.so.1") if os.path.exists(p)), None)
needs_faketime = pytest.mark.skipif(LIB is None or shutil.which("faketime") is None,
                                    reason="faketime is not installed (./tools/dev installs it)")


def faketime_env(offset: str | None, *, control: Path | None = None) -> dict[str, str]:
    """Environment for a child process whose wall clock is off by ``offset`` (``-30d``, ``+1y``; None: the
    real clock). With ``control`` the offset is read from that file at every clock read, so a test steps
    the clock of a running process by rewriting it."""
    site = str(REPO / "tests" / "faketime_site")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([site, str(REPO)])}
    if offset is None:
        return env
    if LIB is None:
        raise RuntimeError("libfaketime is not installed")
    env.update(LD_PRELOAD=LIB, FAKETIME_DONT_FAKE_MONOTONIC="1", FAKETIME_NO_CACHE="1")
    if control is not None:
        Path(control).write_text(offset)
        env["FAKETIME_TIMESTAMP_FILE"] = str(control)
    else:
        env["FAKETIME"] = offset
    return env


class ClockedGateProcess:
    """``tests/support/gate_proc.py`` (the real link over a real outbox) in its own process, its wall clock
    stepped at run time by rewriting ``control`` (``step("-1d")``); events are appended with ``emit(n)``."""

    def __init__(self, broker, state: Path, gate_id: str, node_pub: bytes, control: Path, *,
                 command_pubs: list[bytes] = (), offset: str = "+0") -> None:
        import subprocess
        import sys

        self.control = control
        args = [sys.executable, "-m", "tests.support.gate_proc", "--gate", gate_id, "--port", str(broker.port),
                "--user", gate_id, f"--password={broker.credentials[gate_id]}", "--state", str(state),
                "--node-pub", node_pub.hex(), "--command-pubs", ",".join(k.hex() for k in command_pubs), "--stdin"]
        self.proc = subprocess.Popen(args, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=faketime_env(offset, control=control))
        self.emitted: list[str] = []
        self._read_until("DONE")

    def _read_until(self, marker: str) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("A "):
                self.emitted.append(line.split()[1])
            if line.strip() == marker:
                return
        raise AssertionError(f"gate process ended before {marker!r} (exit {self.proc.wait()})")

    def step(self, offset: str) -> None:
        """Set the process's wall clock to real time ``offset`` (``+0`` is the correct time)."""
        self.control.write_text(offset)

    def emit(self, n: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"emit {n}\n")
        self.proc.stdin.flush()
        self._read_until("OK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
