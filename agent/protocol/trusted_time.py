"""The gate's one trusted time (docs/protocol.md "Trusted time", RELIABILITY 15, 42).

``now() = floor + (monotonic now - monotonic when the floor was set)``. The floor only rises: from the
value persisted by the last run (``STATE/time.json``), from the time this software was released
(``RELEASE_FLOOR``), and from ``observe(ts)`` with a timestamp taken from a *verified* signed message
(a hit-list head and the installed list's signed times, an ack of the central node, an accepted command).
The wall clock never moves it and is never persisted: a clock set a year ahead cannot make later commands
``expired``, a clock set back cannot make a stale list fresh or an expired passport valid.

A signed time beyond ``horizon(now(), wall)`` (``MAX_FUTURE_SKEW`` past the later of the two) is a *leap*:
held, not taken, until a later signed time at least ``LEAP_CONFIRM_S`` of monotonic time afterwards agrees
with it (the centre kept that time), and dropped when a signed time within the horizon comes first (the
centre corrected its clock). So a centre clock a year ahead for a moment moves no gate, and a gate whose
time lags legitimately (no clock, switched off) catches up ``LEAP_CONFIRM_S`` after it hears the centre.
Held leaps are not persisted: after a restart the confirmation starts again (docs/adr/0009-time-leaps.md).

Commands and the hit-list sync are judged on ``now()``. Screening (document expiry, list freshness) is
judged on ``screening_now()``: trusted time, or the wall clock when that is *later*. A wall clock can so
only make a decision stricter (a list stale sooner, a document expired sooner), never more lenient, and
it stops counting the moment it is corrected; a gate that was switched off for a week and boots offline
with a correct clock (RTC, or synchronised before the agent starts, docs/image.md) does not call its list
fresh. ``status()`` reports the wall clock as ``behind``, ``ahead``, ``ok`` or ``unverified``.

    >>> clock = TrustedClock(state_dir / "time.json")
    >>> clock.observe(head.issued, "head")   # a verified head: time has reached at least this
    >>> clock.now()                          # commands, hit-list sync
    >>> clock.screening_now()                # document expiry, list freshness
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.durable import read_json, write_json

logger = logging.getLogger(__name__)

FORMAT = 2  # time.json: {"v": 2, "floor": T, "signed": last signed timestamp, "source": what it came from}
PERSIST_EVERY = 60.0  # seconds of trusted time between checkpoints (and at once after every observe)
WALL_TOLERANCE = 300.0  # a wall clock further than this from trusted time is reported
RELEASE_FLOOR = dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp()  # no gate runs before this release
MAX_FUTURE_SKEW = 300.0  # seconds a signed time may lie ahead of max(trusted, wall): taken, or a command run
LEAP_CONFIRM_S = 600.0  # monotonic seconds a leap is held before a signed time agreeing with it confirms it
LEAPS_HELD = 4  # leaps held at once: a stale retained message does not push out the one being confirmed


def horizon(now: float, wall: float) -> float:
    """The latest signed time that is no leap at trusted time ``now`` and wall clock ``wall``: a command
    issued later is ``future`` (``agent.protocol.commands``), an observed time later is held."""
    return max(now, wall) + MAX_FUTURE_SKEW


@dataclass(frozen=True)
class Leap:
    """A signed time beyond the horizon, held: ``ts`` seen at monotonic time ``mono`` from ``source``."""

    ts: float
    mono: float
    source: str

    def agrees(self, ts: float, mono: float) -> bool:
        """Whether ``ts``, seen at monotonic ``mono``, is what this leap's clock shows then (± the skew)."""
        return abs((ts - self.ts) - (mono - self.mono)) <= MAX_FUTURE_SKEW


class TrustedClock:
    """Trusted time that never goes back, across restarts too; see the module docstring.

    ``path`` is the durable state file; ``also_read`` older locations whose value still counts
    (format 1, ``{"floor": T}``, e.g. ``STATE/link/time.json``). Thread-safe.
    """

    def __init__(
        self,
        path: Path,
        *,
        also_read: Iterable[Path] = (),
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        release_floor: float = RELEASE_FLOOR,
    ) -> None:
        self._path = Path(path)
        self._wall = wall
        self._mono = monotonic
        self._lock = threading.Lock()
        self.signed = 0.0  # the newest verified signed timestamp taken (a held leap is not)
        self.source = "release"
        self.error: str | None = None  # a state file that could not be read (reported in status)
        floor = release_floor
        for p in (self._path, *also_read):
            try:
                data = read_json(p, {})
                saved = float(data.get("floor", 0.0))
            except (OSError, ValueError, TypeError) as exc:
                self.error = f"{p}: {exc}"
                logger.error("trusted time state unreadable; starting from the other sources",
                             extra={"fields": {"error": self.error}})
                continue
            if saved > floor:
                floor, self.source = saved, str(data.get("source", "persisted"))
            self.signed = max(self.signed, float(data.get("signed", 0.0) or 0.0))
        self._base = (floor, monotonic())  # (floor, monotonic time at which it held): replaced whole
        self._leaps: tuple[Leap, ...] = ()  # held leaps, oldest first: replaced whole (status reads them)
        self._saved = 0.0
        self.checkpoint(force=True)

    def now(self) -> float:
        """The trusted current time in seconds since the epoch (never less than an earlier answer)."""
        floor, mono0 = self._base
        return floor + max(0.0, self._mono() - mono0)

    def screening_now(self) -> float:
        """The time screening judges expiry and freshness at: ``max(now(), wall clock)``; see the module
        docstring (a wall clock behind trusted time is ignored, one ahead only makes decisions stricter)."""
        return max(self.now(), self._wall())

    def observe(self, ts: float, source: str, *, judged: bool = False) -> bool:
        """Raise trusted time to ``ts``, a timestamp from a verified signed message (``source`` names it);
        True when it moved. Persisted at once, so a restart does not lose it. A leap (beyond ``horizon``)
        is held until confirmed (module docstring); ``judged``: ``ts`` already passed this horizon when the
        gate stored it (the installed head, refused by ``verify_head`` beyond it), so it is taken as it is.
        NaN and infinities are ignored."""
        if not isinstance(ts, int | float) or ts != ts or ts in (float("inf"), float("-inf")):
            return False
        ts = float(ts)
        with self._lock:
            mono = self._mono()
            if not judged and ts > horizon(self.now(), self._wall()):
                if not self._confirms(ts, mono, source):
                    return False
            elif self._leaps and not judged:  # the centre's time is within the horizon again: it corrected
                logger.info("time leap dropped: a signed time within the horizon came first", extra={
                    "fields": {"ts": ts, "source": source, "dropped": self._leaps[-1].ts}})
                self._leaps = ()
            self.signed = max(self.signed, ts)
            if ts <= self.now():
                return False
            self._base = (ts, mono)
            self.source = source
        self.checkpoint(force=True)
        return True

    def _confirms(self, ts: float, mono: float, source: str) -> bool:
        """Whether leap ``ts`` agrees with one held for ``LEAP_CONFIRM_S`` or longer (then none is held any
        more); else it is held, unless it agrees with one held already (the earlier one keeps its wait).
        Called under the lock."""
        held = next((leap for leap in self._leaps if leap.agrees(ts, mono)), None)
        if held is not None and mono - held.mono >= LEAP_CONFIRM_S:
            logger.warning("time leap confirmed: trusted time taken forward", extra={"fields": {
                "from": self.now(), "to": ts, "source": source, "first_seen_from": held.source}})
            self._leaps = ()
            return True
        if held is None:
            self._leaps = (*self._leaps, Leap(ts, mono, source))[-LEAPS_HELD:]
            logger.warning("time leap held: a signed time beyond the horizon is taken only once confirmed",
                           extra={"fields": {"ts": ts, "source": source, "trusted": self.now(),
                                             "confirm_after_s": LEAP_CONFIRM_S}})
        return False

    def checkpoint(self, *, force: bool = False) -> None:
        """Persist trusted time when ``PERSIST_EVERY`` seconds passed since the last save (or ``force``).
        Called by the supervisor loop, never on the screening path; an I/O error is logged, not raised."""
        t = self.now()
        if not force and t - self._saved < PERSIST_EVERY:
            return
        with self._lock:
            try:
                write_json(self._path, {"v": FORMAT, "floor": t, "signed": self.signed, "source": self.source})
            except OSError as exc:
                self.error = f"{self._path}: {exc}"
                logger.error("cannot persist trusted time", extra={"fields": {"error": self.error}})
                return
            self._saved = t

    def status(self) -> dict[str, Any]:
        """Trusted time, the wall clock's offset from it and whether that is ``ok``, ``behind`` or ``ahead``
        (``unverified`` while no signed time has been seen: nothing to compare a later wall clock with), and
        ``leap_pending`` while a leap is held."""
        t, w = self.now(), self._wall()
        offset = w - t
        state = "behind" if offset < -WALL_TOLERANCE else "ahead" if offset > WALL_TOLERANCE else "ok"
        if state == "ahead" and not self.signed:
            state = "unverified"  # no signed time seen yet: trusted time is only this release's date
        out: dict[str, Any] = {"trusted": round(t, 3), "wall": state, "wall_offset_s": round(offset, 1),
                               "source": self.source, "last_signed": self.signed or None}
        leaps = self._leaps
        if leaps:  # the newest held leap; ``since``: the trusted time it was first seen at
            out["leap_pending"] = {"ts": leaps[-1].ts, "source": leaps[-1].source,
                                   "since": round(t - (self._mono() - leaps[-1].mono), 3)}
        if self.error:
            out["error"] = self.error
        return out


def persisted_screening_time(path: Path, wall: float) -> float:
    """``screening_now()`` for a tool that runs beside the gate (``sharaka-gate hitlist lookup``, ``status``):
    the later of ``wall`` and the trusted time the gate persisted at ``path`` (never before this release).
    A missing or unreadable file counts as the release date."""
    try:
        floor = float(read_json(Path(path), {}).get("floor", 0.0))
    except (OSError, ValueError, TypeError):
        floor = 0.0
    return max(wall, floor, RELEASE_FLOOR)
