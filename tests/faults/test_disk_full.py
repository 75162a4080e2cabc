"""Disk full while queuing: the real gate process with its state directory on a size-limited tmpfs, the
rest of which something else fills (ENOSPC). agent/outbox.py: SpaceReserve keeps the outbox committing
from its reserve; the fault shows in status; when space returns everything queued reaches the centre
once. Needs root (mount)."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from tests.support.screening_gate import ScreeningGate, assert_each_decision_stored_once
from tests.support.wait import wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a size-limited tmpfs")


def _fill(directory, name: str = "ballast") -> int:
    """Write a file in ``directory`` until the file system is full; returns its size."""
    written = 0
    with open(directory / name, "wb", buffering=0) as fh:
        try:
            while True:
                written += fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return written


def test_disk_full_while_queuing_decisions_stay_correct_status_shows_it_and_every_event_reaches_the_centre_once(
        mq, keys, tmp_path, centre):
    state = tmp_path / "gate" / "state"
    state.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(state)], check=True)
    gate = None
    try:
        gate = ScreeningGate(tmp_path / "gate", mq, keys, centre.store, outbox={"reserve_kib": 1024})
        gate.start()
        gate.screen(5)
        assert wait_until(lambda: gate.status()["outbox"]["depth"] == 0, 15)
        assert (state / "outbox.sqlite3.reserve").stat().st_size == 1024 * 1024
        assert "outbox_space" not in gate.status().get("faults", {})
        mq.stop()  # the link is down: what is decided now is queued
        _fill(state)  # something else (a runaway log, an operator's copy) fills the file system
        assert os.statvfs(state).f_bavail == 0
        gate.screen(15)  # decided as on a healthy gate: each event committed, CLEAR stays CLEAR
        assert wait_until(lambda: "outbox_space" in gate.status().get("faults", {}), 10), gate.status()
        shown = gate.status()
        assert "disk full" in shown["faults"]["outbox_space"] and shown["outbox"]["depth"] >= 15
        assert "outbox" not in shown["faults"], "a decision could not be committed"
        (state / "ballast").unlink()  # space returns
        mq.start()
        assert_each_decision_stored_once(centre.store, gate)
        assert wait_until(lambda: "outbox_space" not in gate.status().get("faults", {}), 30), gate.status()
        assert (state / "outbox.sqlite3.reserve").exists()  # made again
        gate.screen(5)
        assert_each_decision_stored_once(centre.store, gate)
    finally:
        if gate is not None:
            gate.close()
        subprocess.run(["umount", "-l", str(state)], check=False)
