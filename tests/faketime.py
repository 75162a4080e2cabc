"""Step the wall clock of a real gate process with libfaketime (the ``faketime`` package, installed by
tools/dev). Only the wall clock moves, as in a real clock step: ``FAKETIME_DONT_FAKE_MONOTONIC``.

    env = faketime_env("-30d")                       # fixed offset for the whole run
    env = faketime_env("+0", control=tmp / "clock")   # then write "-1d", "+1y" ... into tmp/clock
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
