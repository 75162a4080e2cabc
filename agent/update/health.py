"""Commit or roll back a trial boot (docs/update.md "Trial boot", RELIABILITY 54).

``sharaka-update-commit.service`` runs ``sharaka-gate update commit`` at every boot. On a **trial** boot
(the booted slot is not marked good: made primary by an install and not yet committed; by a state from before
the slot marks, it has no boot attempts left: agent/update/bootstate.py) the slot is committed only when the
agent came up healthy: ``sharaka-gate.service`` active and running (it is ``Type=notify``, so it reported
READY=1) and not restarted for ``settle`` seconds (its watchdog did not fire), and ``sharaka-gate
selftest`` passes. Otherwise, or when ``deadline`` passes first, the slot is marked bad and the gate
reboots into the other slot. On a committed slot a boot that got this far renews the slot's boot attempts
and nothing else: a committed system is never rolled back for the agent's sake (its own restarts and
status handle that); only boots that die before this point use the slot's attempts up. Every wait is bounded:
RAUC's calls (agent/update/rauc.py), the checks, and a RAUC that never answers leaves a trial judged failed.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from agent.update import bootstate
from agent.update.rauc import Rauc, UpdateError

logger = logging.getLogger(__name__)

UNIT = "sharaka-gate.service"
T = TypeVar("T")
# RAUC answers a status or mark call only after running the boot-state backend for the slots (a Python start
# each), and its client gives up after D-Bus's 25 s: on the loaded emulated image `rauc status` on a broken
# trial timed out once and the unjudged trial stayed up (docs/image.md "Built and booted"). So a call is
# tried this many times, RETRY_S apart, before the boot is given up on.
TRIES = 4
RETRY_S = 10.0
CMDLINE = Path("/proc/cmdline")  # the booted slot: rauc.slot=A|B, set by the boot script (images/boot/boot.cmd)


@dataclass(frozen=True)
class AgentHealth:
    """One look at the agent's unit: state, sub-state and how often systemd restarted it."""

    active: str
    sub: str
    restarts: int

    @property
    def is_running(self) -> bool:
        """Up and ready (a Type=notify unit is ``active/running`` only after READY=1)."""
        return self.active == "active" and self.sub == "running"


def unit_health(unit: str = UNIT) -> AgentHealth:
    """The agent's unit as systemd sees it."""
    out = subprocess.run(["systemctl", "show", unit, "-p", "ActiveState", "-p", "SubState", "-p", "NRestarts"],
                         capture_output=True, text=True, check=False, timeout=30)
    props = dict(line.partition("=")[::2] for line in out.stdout.splitlines())
    return AgentHealth(props.get("ActiveState", "unknown"), props.get("SubState", "unknown"),
                       int(props.get("NRestarts") or 0))


def wait_healthy(
    look: Callable[[], AgentHealth],
    *,
    settle: float,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """None once the agent stayed running with no restart for ``settle`` seconds; else why not, by
    ``deadline`` seconds."""
    start = clock()
    since: float | None = None
    first = look().restarts
    last = "never looked"
    while clock() - start <= deadline:
        h = look()
        if h.restarts != first:
            return f"{UNIT} restarted {h.restarts - first} time(s) (crash or watchdog)"
        if h.is_running:
            since = clock() if since is None else since
            if clock() - since >= settle:
                return None
        else:
            since = None
        last = f"{UNIT} is {h.active}/{h.sub}"
        sleep(1.0)
    return f"not healthy within {deadline:.0f} s: {last}"


def booted_slot(status: dict) -> tuple[str, bool]:  # type: ignore[type-arg]
    """(bootname of the booted slot, whether it is on trial: RAUC reports its boot status bad)."""
    name = status["booted"]
    for group in status["slots"]:
        for slot_name, slot in group.items():
            if slot.get("bootname") == name or slot_name == name:
                return slot["bootname"], slot.get("boot_status") != "good"
    raise ValueError(f"booted slot {name!r} not in rauc status")


def booted_by_boot_state(boot_state: Path, cmdline: Path = CMDLINE) -> tuple[str, bool]:
    """(booted slot, whether it is on trial) without RAUC: the kernel's ``rauc.slot=`` and that slot's mark in
    the boot state, what RAUC's "good" is made of (its backend's ``get-state``: BootState.is_good). Raises
    UpdateError when the command line names no slot (not booted by the gate's bootloader)."""
    args = Path(cmdline).read_text().split()
    slot = next((a.partition("=")[2] for a in args if a.startswith("rauc.slot=")), "")
    if slot not in bootstate.SLOTS:
        raise UpdateError(f"{str(cmdline)!r} names no booted slot (rauc.slot=A|B): {slot!r}")
    return slot, not bootstate.load(boot_state).is_good(slot)


def commit_or_rollback(
    rauc: Rauc,
    unhealthy: Callable[[], str | None],
    selftest: Callable[[], str | None],
    reboot: Callable[[], None],
    retry_s: float = RETRY_S,
    *,
    boot_state: Path = bootstate.DEFAULT_PATH,
    cmdline: Path = CMDLINE,
    record: Callable[[str], None] = lambda outcome: None,
) -> str:
    """Judge this boot; returns what was done. ``unhealthy``/``selftest``: None when fine, else why; one that
    raises (a timed-out ``systemctl`` or selftest) has failed. Each RAUC call is tried again while it fails
    (``patiently``; each try bounded by ``Rauc.call_timeout_s``). A trial is committed only by RAUC: when RAUC
    does not answer, the boot state (``boot_state``, ``cmdline``) tells a trial, which is rolled back (docs/update.md
    "RAUC slow to answer"); a committed slot is left as it is and the UpdateError raised. ``record`` gets a trial's
    outcome (committed, rolled back: why) before any reboot, so the gate can report it after the reboot."""
    try:
        slot, trial = booted_slot(patiently(rauc.status, retry_s))
    except UpdateError as exc:
        slot, trial = booted_by_boot_state(boot_state, cmdline)
        if not trial:
            raise
        return _roll_back(None, slot, f"RAUC gave no status: {exc}", reboot, retry_s, record)
    if not trial:  # the system booted this far: renew the slot's attempts, whatever the agent does
        patiently(lambda: rauc.mark(True), retry_s)
        return f"slot {slot} booted"
    why = _failed(unhealthy) or _failed(selftest)
    if why is None:
        try:
            patiently(lambda: rauc.mark(True), retry_s)
        except UpdateError as exc:  # not committed: a trial left running would fall back at any later reboot
            return _roll_back(None, slot, f"commit failed: {exc}", reboot, retry_s, record)
        logger.info("trial boot healthy: slot committed", extra={"fields": {"slot": slot}})
        record(done := f"slot {slot} committed")
        return done
    return _roll_back(rauc, slot, why, reboot, retry_s, record)


def _failed(check: Callable[[], str | None]) -> str | None:
    """Why ``check`` failed, or None; a check that cannot finish (timed out, no such program) has failed."""
    try:
        return check()
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        return f"check did not finish: {exc}"


def _roll_back(rauc: Rauc | None, slot: str, why: str, reboot: Callable[[], None], retry_s: float,
               record: Callable[[str], None]) -> str:
    """Mark the trial ``slot`` bad (``rauc`` None: RAUC does not answer, skip it), ``record`` it and reboot."""
    logger.error("trial boot failed: rolling back", extra={"fields": {"slot": slot, "why": why}})
    done = f"slot {slot} rolled back: {why}"
    try:
        if rauc is not None:
            patiently(lambda: rauc.mark(False), retry_s)
    finally:  # the trial used its only boot attempt: the reboot falls back even when the mark failed
        try:
            record(done)
        finally:
            reboot()
    return done


def patiently(call: Callable[[], T], retry_s: float = RETRY_S, sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, tried up to TRIES times ``retry_s`` apart while RAUC fails (UpdateError: a busy or slow service)."""
    for _ in range(TRIES - 1):
        try:
            return call()
        except UpdateError as e:
            logger.warning("RAUC call failed, trying again", extra={"fields": {"why": str(e)[-200:]}})
            sleep(retry_s)
    return call()
