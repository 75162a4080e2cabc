"""The boot-selection state (agent/update/bootstate.py): trial once, commit, fall back; bad files refused."""

from __future__ import annotations

import pytest

from agent.update.bootstate import GOOD_ATTEMPTS, BootState, BootStateError, load, save


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


def test_state_file_round_trips(tmp_path):
    s = BootState(order=["B", "A"], left={"A": 2, "B": 1})
    save(s, tmp_path / "state")
    assert load(tmp_path / "state") == s
    assert load(tmp_path / "missing") == BootState()


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


def test_backend_refuses_an_unknown_slot():
    with pytest.raises(BootStateError):
        BootState().set_primary("C")
