"""RELIABILITY 6: a real installer process (`sharaka-gate hitlist install`) is SIGKILLed at every
step of a snapshot and of a delta installation (test hook SHARAKA_HITLIST_CRASH_AT=k), and at
random times: the state directory always holds the old or the new list, whole, and stays usable."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.hitlist.errors import HitListRejected
from agent.hitlist.store import CRASH_ENV, HitListStore
from tests.support.hitlist_central import Central, doc
from tests.support.paths import REPO


def _installer(state: Path, blob: Path, root: Path, crash_at: int = 0) -> subprocess.Popen:
    env = {**os.environ, CRASH_ENV: str(crash_at)}
    cmd = [
        sys.executable,
        "-m",
        "agent",
        "hitlist",
        "install",
        str(blob),
        "--state",
        str(state),
        "--root-pub",
        str(root),
    ]
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Scenario:
    """Old list installed in a template directory; the new file to install; expected answers of each."""

    def __init__(self, tmp: Path, old: list[int], new: list[int], *, as_delta: bool) -> None:
        self.central = Central(now=time.time())
        c = self.central
        c.snapshot([doc(i) for i in old], 1)
        c.snapshot([doc(i, reason="lost" if i % 3 == 0 else "stolen") for i in new], 2)
        self.root = tmp / "root.pub"
        self.root.write_text(c.root_pub.hex())
        self.blob = tmp / "new.shl"
        self.blob.write_bytes(c.delta(1, 2) if as_delta else c.published[2])
        self.template = tmp / "template"
        store = HitListStore(self.template, c.root_pub)
        store.install(c.published[1], now=c.now)
        (self.template / "root.pub").write_text(c.root_pub.hex())
        self.old_identity = store.identity
        self.expected = {1: self._answers_for(1, set(old)), 2: self._answers_for(2, set(new))}
        self.probe = range(max(old + new) + 5)

    def _answers_for(self, version: int, listed: set[int]) -> dict[int, tuple[str, str] | None]:
        reasons = {i: ("lost" if version == 2 and i % 3 == 0 else "stolen") for i in listed}
        return {i: ((reasons[i], f"R{i}") if i in listed else None) for i in range(200)}

    def check(self, state: Path) -> int:
        """The version in force; fails unless every answer matches that version exactly."""
        store = HitListStore(state, self.central.root_pub)
        version = store.version
        assert version in (1, 2), store.identity
        got = {}
        for i in self.probe:
            hit = store.lookup_document("UTO", f"X{i:08d}")
            got[i] = (hit.reason, hit.ref) if hit else None
        assert got == {i: self.expected[version][i] for i in self.probe}
        assert store.verify()["ok"]
        if version == 1:  # restart is consistent: the interrupted install can simply be retried
            assert store.install(self.blob.read_bytes(), now=time.time()).version == 2
        else:
            with pytest.raises(HitListRejected):
                store.install(self.blob.read_bytes(), now=time.time())
        return version


@pytest.mark.parametrize("as_delta", [False, True], ids=["snapshot", "delta"])
def test_p06_kill_at_every_installation_step_leaves_old_or_new_list(tmp_path, as_delta):
    scenario = Scenario(tmp_path, list(range(0, 60)), list(range(30, 90)), as_delta=as_delta)
    seen = []
    for k in range(1, 200):
        state = tmp_path / f"state-{k}"
        shutil.copytree(scenario.template, state)
        proc = _installer(state, scenario.blob, scenario.root, crash_at=k)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            assert scenario.check(state) == 2
            break
        assert proc.returncode == -signal.SIGKILL, err.decode()
        seen.append(scenario.check(state))
        shutil.rmtree(state)
    else:
        pytest.fail("installer never completed")
    assert len(seen) >= 15, "the hook should interrupt many distinct steps"
    assert seen[0] == 1 and seen[-1] == 2  # killed early: old list; killed after the switch: new list


def _layout(state: Path) -> list[tuple[str, int]]:
    """The state directory's files and sizes: an installer's progress as seen from outside (it may move
    or remove a file or directory while we look: that entry is skipped)."""
    out = []
    for root, dirs, files in os.walk(state):  # os.walk ignores directories that vanish mid-walk
        for name in dirs + files:
            path = Path(root, name)
            try:
                out.append((str(path.relative_to(state)), -1 if name in dirs else path.stat().st_size))
            except FileNotFoundError:
                continue
    return sorted(out)


def _watch(state: Path, proc: subprocess.Popen, before: list[tuple[str, int]]) -> float:
    """Wait until the installer's first write shows in ``state`` (or it exits); returns that moment."""
    while _layout(state) == before and proc.poll() is None:
        time.sleep(0.002)
    return time.monotonic()


def _install_window(state: Path, proc: subprocess.Popen, before: list[tuple[str, int]]) -> float:
    """Seconds from the installer's first write to its last change of ``state``, watched to its exit.
    Python's start-up before the first write and its shut-down after the last are most of the process's
    life (and grow most on a loaded machine), so kills are timed within this window only."""
    first = last = _watch(state, proc, before)
    seen = _layout(state)
    while proc.poll() is None:
        layout = _layout(state)
        if layout != seen:
            seen, last = layout, time.monotonic()
    assert proc.wait(timeout=60) == 0
    return last - first


def test_p06_kill_at_random_times_leaves_old_or_new_list(tmp_path):
    scenario = Scenario(tmp_path, list(range(0, 100)), list(range(50, 150)), as_delta=False)
    before = _layout(scenario.template)
    windows = []
    for run in range(3):  # runs to the end give the installed layout and how long the writing lasts
        state = tmp_path / f"reference-{run}"
        shutil.copytree(scenario.template, state)
        windows.append(_install_window(state, _installer(state, scenario.blob, scenario.root), before))
    window, installed = max(windows), _layout(state)
    rng = random.Random(6)
    versions, mid_install = [], 0
    for run in range(40):  # a loaded machine stretches some runs: kill until 8 runs and 4 mid-install kills
        if run >= 8 and mid_install >= 4:
            break
        state = tmp_path / f"random-{run}"
        shutil.copytree(scenario.template, state)
        proc = _installer(state, scenario.blob, scenario.root)
        _watch(state, proc, before)
        time.sleep(rng.uniform(0, window))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        layout = _layout(state)
        mid_install += proc.returncode == -signal.SIGKILL and layout not in (before, installed)
        versions.append(scenario.check(state))
    assert set(versions) <= {1, 2}
    assert mid_install >= 4, (
        f"only {mid_install} of {len(versions)} kills landed mid-install (window {window:.3f} s)"
    )
