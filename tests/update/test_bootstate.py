"""The boot-selection state (agent/update/bootstate.py): trial once, commit, fall back; bad files refused."""

from __future__ import annotations

import re

import pytest

from agent.update.bootstate import GOOD_ATTEMPTS, MARKS_NAME, BootState, BootStateError, load, save


def test_new_slot_boots_once_then_falls_back_unless_committed():
    s = BootState()
    assert s.boot() == "A"
    s.set_good("B", False)  # RAUC before writing B
    s.set_primary("B")  # RAUC after writing B
    assert s.boot() == "B"
    assert s.boot() == "A" and s.boot() == "A"


def test_committed_slot_keeps_booting():
    s = BootState()
    s.set_primary("B")
    assert s.boot() == "B"
    s.set_good("B", True)
    for _ in range(GOOD_ATTEMPTS):
        assert s.boot() == "B"
        s.set_good("B", True)  # every healthy boot renews the attempts


def test_fresh_image_never_boots_the_blank_slot():
    s = BootState()
    for _ in range(2 * GOOD_ATTEMPTS):  # boots that never reach the commit step
        assert s.boot() == "A"


def test_both_slots_exhausted_retries_rather_than_bricking():
    s = BootState(order=["B", "A"], left={"A": 0, "B": 0})
    assert s.boot() == "B" and s.left == {"A": GOOD_ATTEMPTS, "B": GOOD_ATTEMPTS - 1}


def test_committed_slot_whose_boots_die_early_is_not_judged_a_trial(tmp_path):
    """Two power cuts during boot left a committed slot with one attempt and the third boot none, as a trial's:
    it was judged a trial and rolled back when its agent was not healthy. Its mark tells them apart."""
    s = BootState()
    s.set_good("B", False)
    s.set_primary("B")
    assert s.boot() == "B" and not s.is_good("B"), "a trial"
    s.set_good("B", True)
    for _ in range(GOOD_ATTEMPTS):  # boots that die before the commit step renews the attempts
        assert s.boot() == "B"
    assert s.left["B"] == 0
    save(s, tmp_path / "sharaka-boot.state")
    assert load(tmp_path / "sharaka-boot.state").is_good("B"), "committed, whatever its attempts"


def test_unjudged_trial_booted_again_after_both_slots_ran_out_is_still_a_trial():
    """A trial that died unjudged, then the old slot's own boots dying: both slots get their attempts back and
    the trial, first in order, boots with two left. By its attempts it was committed unjudged."""
    s = BootState()
    s.set_good("B", False)
    s.set_primary("B")
    assert s.boot() == "B"  # dies before its judgement
    for _ in range(GOOD_ATTEMPTS):
        assert s.boot() == "A"  # and dies too, every time
    assert s.boot() == "B" and s.left["B"] == GOOD_ATTEMPTS - 1
    assert not s.is_good("B")


def test_state_from_before_the_marks_is_judged_by_its_attempts(tmp_path):
    (tmp_path / "sharaka-boot.state").write_text("BOOT_ORDER=B A\nBOOT_A_LEFT=3\nBOOT_B_LEFT=0\n")
    s = load(tmp_path / "sharaka-boot.state")
    assert s.marks is None and s.is_good("A") and not s.is_good("B")
    s.set_good("B", True)  # the first backend call writes every slot's mark
    save(s, tmp_path / "sharaka-boot.state")
    assert (tmp_path / MARKS_NAME).read_text() == "A=good\nB=good\n"


def test_state_file_round_trips(tmp_path):
    s = BootState(order=["B", "A"], left={"A": 2, "B": 1})
    save(s, tmp_path / "state")
    assert load(tmp_path / "state") == s
    assert load(tmp_path / "missing") == BootState()
    s.set_primary("A")
    save(s, tmp_path / "state")
    assert load(tmp_path / "state") == s and s.marks == {"A": "trial", "B": "good"}


BAD = {
    "unknown-key": "BOOT_ORDER=A B\nBOOT_C_LEFT=1\n",
    "order-twice": "BOOT_ORDER=A A\n",
    "order-missing-slot": "BOOT_ORDER=A\n",
    "two-digit-count": "BOOT_A_LEFT=10\n",
    "garbage": "rm -rf /\n",
}


@pytest.mark.parametrize("text", BAD.values(), ids=BAD.keys())
def test_malformed_state_file_is_refused(text):
    with pytest.raises(BootStateError):
        BootState.parse(text)


@pytest.mark.parametrize("text", ["A=committed\n", "C=good\n", "A=good B=bad\n", "rm -rf /\n"])
def test_malformed_slot_marks_are_refused(tmp_path, text):
    save(BootState(), tmp_path / "sharaka-boot.state")
    (tmp_path / MARKS_NAME).write_text(text)
    with pytest.raises(BootStateError, match=MARKS_NAME):
        load(tmp_path / "sharaka-boot.state")


def test_backend_refuses_an_unknown_slot():
    with pytest.raises(BootStateError):
        BootState().set_primary("C")


def test_saved_state_is_fsynced_by_its_name_after_the_rename(tmp_path):
    # vfat (the boot partition) writes a renamed file's directory entry with the file, not at the directory's
    # fsync: the emulated image's state file pointed at a freed cluster after a power cut 1 s after a save
    from tests.support.syscalls import trace_python

    trace = trace_python("from agent.update.bootstate import BootState, save\n"
                         "s = BootState()\ns.set_primary('B')\n"  # the slot marks' file too
                         f"save(s, {str(tmp_path / 'sharaka-boot.state')!r})\n", root=tmp_path)
    for state in (tmp_path / "sharaka-boot.state", tmp_path / MARKS_NAME):
        renamed = next(i for i, line in enumerate(trace) if "rename" in line and f'"{state}"' in line)
        assert any(f"fsync({fd}" in line for line in trace[renamed:] for fd in _fds_of(trace, state)), trace[renamed:]


def _fds_of(trace: list[str], path: object) -> set[str]:
    """The descriptors ``strace -y`` shows open on ``path`` (``3</tmp/x>``)."""
    return {m.group(0) for line in trace for m in re.finditer(rf"\d+<{re.escape(str(path))}>", line)}
