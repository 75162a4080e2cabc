"""Vehicles at a land crossing: a VIN or a plate, entered by the officer or read by a plate camera, screened
on the same decision path as a traveller (docs/config.md "Vehicles").

    >>> check = VehicleCheck(screener)
    >>> check(vin="1M8GDM9AXKP042788").verdict                 # the officer's screen calls this
    'HIT'
    >>> check(plate="AB-123-CD", country="F")
    >>> feed = PlateFeed(hal.open_plate_reader("sim://plate"), check, reader_id="lane1"); feed.start()

``VehicleCheck`` validates before anything is looked up or committed (agent/hitlist/vehicle_ids.py: a VIN
of ISO 3779 form, the North American check digit where it applies, a plate normalised with its country)
and raises ``BadDataError`` (a ValueError) naming the field for an entry that cannot be a VIN or a plate.
Then ``Screener.handle_query`` asks every list that governs vehicles, commits the decision's event (its
``entry`` says what was checked, ``reader`` who checked: ``officer`` or ``plate:<reader>``) and shows it.
A failing check digit is a REFER (``vin_check_digit``), still looked up: a listed VIN stays a HIT.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from agent.errors import BadDataError
from agent.hitlist.vehicle_ids import check_vin, normalise_country, normalise_plate
from agent.screening.sources import Query
from hal.errors import HalError

if TYPE_CHECKING:
    from agent.screening.decision import Decision
    from agent.screening.pipeline import Screener
    from hal.plate import PlateReader

logger = logging.getLogger(__name__)


class VehicleCheck:
    """Screens one vehicle by VIN or plate through ``screener`` (callable, see the module docstring)."""

    def __init__(self, screener: Screener) -> None:
        self.screener = screener

    def __call__(self, vin: str | None = None, plate: str | None = None, country: str | None = None, *,
                 origin: str = "officer") -> Decision:
        """The decision about the vehicle with ``vin``, or ``plate`` of ``country`` (both: both are asked).
        Raises BadDataError naming ``vin``, ``plate`` or ``country`` when the entry cannot be screened."""
        query, checks = vehicle_query(vin=vin, plate=plate, country=country)
        return self.screener.handle_query(query, checks, origin=origin)


def vehicle_query(*, vin: str | None = None, plate: str | None = None,
                  country: str | None = None) -> tuple[Query, tuple[str, ...]]:
    """The ``Query`` and the check reasons of a vehicle entry; BadDataError naming the bad field."""
    vin, plate = (vin or "").strip() or None, (plate or "").strip() or None
    if vin is None and plate is None:
        raise BadDataError("vin: give a VIN, or a plate with its country")
    checks: tuple[str, ...] = ()
    vin_value = None
    if vin is not None:
        vin_check = check_vin(vin)
        vin_value, checks = vin_check.vin, vin_check.reasons
    plate_value = None
    if plate is not None:
        if not (country or "").strip():
            raise BadDataError("country: a plate needs its country (the registration code: D, F, MA, TN)")
        plate_value = (normalise_country(country or ""), normalise_plate(plate))
    return Query(vin=vin_value, plate=plate_value), checks


class PlateFeed:
    """A plate camera feeding the vehicle check: a thread reads ``reader`` and screens each new passage.

    A camera reads a passing vehicle in several frames: reads of the same plate (normalised, so a frame that
    read ``0`` as ``O`` is the same plate) and country within ``window`` seconds of the previous one are one
    passage, screened once (``repeats`` counts the others). A read whose plate the normalisation refuses is
    counted (``refused``) and not screened; a reader that fails is recorded as ``fault`` (status shows it)
    and retried after a second."""

    def __init__(self, reader: PlateReader, check: VehicleCheck, *, reader_id: str = "plate0",
                 default_country: str = "", window: float = 3.0) -> None:
        self.reader, self.check = reader, check
        self.origin = f"plate:{reader_id}"
        self.default_country, self.window = default_country, window
        self.screened = self.refused = self.repeats = 0
        self._last: tuple[tuple[str, str], float] | None = None  # (country, plate) of the last passage, when
        self.fault: str | None = None
        self.last_beat = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start reading in a daemon thread; returns at once."""
        self._thread = threading.Thread(target=self._run, name="plate-reader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading and join the thread; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def step(self, timeout: float = 0.2) -> Decision | None:
        """Read once and screen what was read (the thread's loop body; tests call it directly)."""
        import time

        self.last_beat = time.monotonic()
        try:
            read = self.reader.read(timeout=timeout)
        except (HalError, OSError) as exc:
            self.fault = str(exc)
            self._stop.wait(1.0)
            return None
        self.fault = None
        if read is None:
            return None
        country = read.country or self.default_country
        try:
            key = (normalise_country(country), normalise_plate(read.plate))
            last, self._last = self._last, (key, read.received_at)
            if last is not None and last[0] == key and read.received_at - last[1] <= self.window:
                self.repeats += 1
                return None
            decision = self.check(plate=read.plate, country=country, origin=self.origin)
        except BadDataError as exc:
            self.refused += 1
            logger.warning("plate read not screened", extra={"fields": {"reader": self.origin,
                                                                         "error": type(exc).__name__}})
            return None
        self.screened += 1
        return decision

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a bug: keep reading, never leave the lane unscreened silently
                logger.exception("plate feed failed on a read")
                self._stop.wait(1.0)
