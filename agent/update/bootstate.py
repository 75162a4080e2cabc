"""Which root slot boots next: the state RAUC's custom bootloader backend writes and the bootloader reads
(docs/update.md "Boot selection").

The scheme is RAUC's reference one for U-Boot (``BOOT_ORDER`` and a boot-attempt counter per slot),
kept in a small text file on the boot partition (``/boot/firmware/sharaka-boot.state``)::

    BOOT_ORDER=B A
    BOOT_A_LEFT=3
    BOOT_B_LEFT=1

The bootloader takes the first slot in ``BOOT_ORDER`` with attempts left, decrements its counter and boots
it: ``BootState.boot`` here, and the same step in U-Boot's boot script on the gate (images/boot/boot.cmd,
which imports and writes back this file; tests/images/test_boot_selection.py runs both on the same states).
RAUC drives the rest through ``sharaka-gate update bootloader``: before writing a slot it marks it bad
(0 attempts); once written it makes it primary with **one** attempt (``TRIAL_ATTEMPTS``), so the new system boots once on trial. Only a healthy trial boot marks its slot good
(``GOOD_ATTEMPTS`` again: committed); a trial that hangs, crashes or is found unhealthy has used its one
attempt, so the next boot, whoever triggers it (watchdog, the health check, a power cut), falls back to
the other slot.

The attempts alone cannot tell a trial from a committed slot whose boots died early: two power cuts during boot
leave a committed slot with one attempt, the third boot none, the same as a trial's. So the backend also keeps
RAUC's state of each slot (good, bad, trial: ``marks``) in a file beside, ``sharaka-slots.state``, which U-Boot
neither reads nor writes (its ``boot.scr`` on a fielded gate is the one it was flashed with and exports only the
attempts). A booted slot is on trial when it is not marked good; a state from before the marks (no such file)
is judged by its attempts, as then. Pure apart from ``load``/``save``; ``save`` is atomic (agent/durable.py).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from agent.durable import atomic_write, fsync_file
from agent.errors import BadDataError

SLOTS = ("A", "B")
GOOD_ATTEMPTS = 3  # a committed slot: a few boots that die early (power cuts) before giving up on it
TRIAL_ATTEMPTS = 1  # a new slot boots once; only its own health check makes it good
DEFAULT_PATH = Path("/boot/firmware/sharaka-boot.state")
MARKS_NAME = "sharaka-slots.state"  # beside the boot state: RAUC's state of each slot, as the backend set it
MARKS = ("good", "bad", "trial")
_LINE = re.compile(r"(BOOT_ORDER)=([AB](?: [AB])*)|BOOT_([AB])_LEFT=(\d)")
_MARK = re.compile(rf"([AB])=({'|'.join(MARKS)})")


class BootStateError(BadDataError):
    """The boot-state file or a request to the backend is malformed; nothing was changed."""


@dataclass
class BootState:
    """``order``: slots by preference; ``left``: boot attempts left per slot; ``marks``: RAUC's state of each slot
    as the backend last set it (None: never set, a fresh image or a state from before the marks)."""

    order: list[str] = field(default_factory=lambda: list(SLOTS))
    # a fresh image: A committed, B blank (never booted until RAUC writes it and makes it primary)
    left: dict[str, int] = field(default_factory=lambda: {"A": GOOD_ATTEMPTS, "B": 0})
    marks: dict[str, str] | None = None

    @classmethod
    def parse(cls, text: str) -> BootState:
        """Read the file's text. Raises BootStateError naming the line it cannot read. Trailing NUL bytes are
        ignored: U-Boot's ``env export -t`` ends the file it writes with one (images/boot/boot.cmd)."""
        state = cls()
        for n, raw in enumerate(text.rstrip("\0").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            m = _LINE.fullmatch(line)
            if not m:
                raise BootStateError(f"boot state line {n}: {line!r}, expected BOOT_ORDER=A B or BOOT_A_LEFT=N")
            if m[1]:
                order = m[2].split()
                if sorted(order) != sorted(SLOTS):
                    raise BootStateError(f"boot state line {n}: BOOT_ORDER {m[2]!r} must name A and B once each")
                state.order = order
            else:
                state.left[m[3]] = int(m[4])
        return state

    def text(self) -> str:
        """The file's text."""
        return f"BOOT_ORDER={' '.join(self.order)}\n" + "".join(f"BOOT_{s}_LEFT={self.left[s]}\n" for s in SLOTS)

    def parse_marks(self, text: str) -> None:
        """Read the slot marks' file text into ``marks``. Raises BootStateError naming the line it cannot read."""
        marks = {}
        for n, raw in enumerate(text.splitlines(), 1):
            if not (m := _MARK.fullmatch(raw.strip())):
                raise BootStateError(f"{MARKS_NAME} line {n}: {raw!r}, expected A|B=good|bad|trial")
            marks[m[1]] = m[2]
        self.marks = {s: marks.get(s, self._unmarked(s)) for s in SLOTS}

    def marks_text(self) -> str:
        """The slot marks' file text."""
        return "".join(f"{s}={self.mark(s)}\n" for s in SLOTS)

    def mark(self, slot: str) -> str:
        """RAUC's state of ``slot``: as marked, else as its attempts tell (good with attempts left, else bad)."""
        _check(slot)
        return self.marks[slot] if self.marks is not None else self._unmarked(slot)

    def _unmarked(self, slot: str) -> str:
        return "good" if self.left[slot] > 0 else "bad"

    def _set_mark(self, slot: str, mark: str) -> None:
        self.marks = {s: self.mark(s) for s in SLOTS} | {_check(slot): mark}

    # RAUC's custom backend interface (rauc 1.8 src/bootchooser.c: get-primary, set-primary, get-state, set-state)
    def primary(self) -> str:
        """The slot the next boot will try: first in order with attempts left (else first in order)."""
        return next((s for s in self.order if self.left[s] > 0), self.order[0])

    def set_primary(self, slot: str) -> None:
        """Make ``slot`` boot next, once, on trial (RAUC calls this after writing it)."""
        self._set_mark(slot, "trial")
        self.order = [slot, *(s for s in self.order if s != slot)]
        self.left[slot] = TRIAL_ATTEMPTS

    def is_good(self, slot: str) -> bool:
        """RAUC's "good": the slot is marked good (committed), whatever attempts its early deaths left it."""
        return self.mark(slot) == "good"

    def set_good(self, slot: str, good: bool) -> None:
        """Commit ``slot`` (good: full attempts) or rule it out (bad: none; the other slot boots next)."""
        self._set_mark(slot, "good" if good else "bad")
        self.left[slot] = GOOD_ATTEMPTS if good else 0
        if not good and self.order[0] == slot:
            self.order = [*self.order[1:], slot]

    # the bootloader's side
    def boot(self) -> str:
        """One boot: the slot chosen, its attempt used. With no attempts left anywhere (both slots failed
        their boots) every slot gets its attempts back and the first in order boots, as U-Boot's RAUC
        script does: better a retry than a dead gate."""
        if all(self.left[s] == 0 for s in SLOTS):
            self.left = dict.fromkeys(SLOTS, GOOD_ATTEMPTS)
        slot = self.primary()
        self.left[slot] -= 1
        return slot


def _check(slot: str) -> str:
    if slot not in SLOTS:
        raise BootStateError(f"slot {slot!r}: expected one of {SLOTS}")
    return slot


def load(path: Path = DEFAULT_PATH) -> BootState:
    """The state in ``path`` and its slot marks beside it; a missing file is a fresh image: A first and
    committed, B blank; missing marks are told by the attempts."""
    path = Path(path)
    try:
        state = BootState.parse(path.read_text())
    except FileNotFoundError:
        state = BootState()
    with contextlib.suppress(FileNotFoundError):
        state.parse_marks(path.with_name(MARKS_NAME).read_text())
    return state


def save(state: BootState, path: Path = DEFAULT_PATH) -> None:
    """Write ``state`` atomically (temp file, fsync, rename, fsync directory), then fsync it by its name: on
    the boot partition's vfat a power cut within ~30 s of the rename otherwise left the entry pointing at the
    old file's freed cluster (the emulated image, docs/image.md "Built and booted"). The marks follow the
    attempts: a power cut between the two leaves a slot's old mark, and only a slot marked good is not judged at
    its boot, which no backend call marks before its judgement (RAUC's ``mark-good``)."""
    path = Path(path)
    files = [(path, state.text())] + ([(path.with_name(MARKS_NAME), state.marks_text())] if state.marks else [])
    for name, text in files:
        atomic_write(name, text.encode(), mode=0o644)
        fsync_file(name)
