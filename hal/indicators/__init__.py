"""Indicators at the gate: RGB status LED, buzzer, gate relay.

    >>> from hal import open_indicators
    >>> ind = open_indicators("sim://pca9685")
    >>> ind.apply(IndicatorState(colour=GREEN, relay_open=True)); ind.close()

No business logic here: the agent decides which state a decision shows. The base class
``Indicators`` owns every invariant (whole-state apply, validation, retries, fault reporting,
recovery, blinking, relay pulses, safe state at open/fault/close); a backend fills three hooks:
``_write(output, reinit=)``, ``_write_safe()`` and ``_release()`` (plus ``_read_back`` for
self-test). See docs/indicators.md.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hal.errors import DeviceUnavailableError, HalError
from hal.indicators.bus import describe_fault

logger = logging.getLogger(__name__)

Colour = tuple[int, int, int]  # 0-255 per channel
OFF: Colour = (0, 0, 0)
GREEN: Colour = (0, 255, 0)
RED: Colour = (255, 0, 0)
AMBER: Colour = (255, 120, 0)
BLUE: Colour = (0, 0, 255)

MAX_BLINK_HZ = 10.0
MAX_BUZZER_HZ = 20_000
MAX_PULSE_S = 30.0


@dataclass(frozen=True)
class IndicatorState:
    """What the indicator board should show; applied whole, so a fault recovery can re-apply it."""

    colour: Colour = AMBER
    blink_hz: float = 0.0  # 0: steady; otherwise LED and buzzer on/off at this rate
    buzzer_hz: int = 0  # 0: silent
    relay_open: bool = False


SAFE_STATE = IndicatorState(colour=AMBER, relay_open=False)


class IndicatorStateError(HalError, ValueError):
    """An IndicatorState or pulse the board cannot show; nothing was changed."""


@dataclass(frozen=True)
class Output:
    """What the board drives at one instant: the desired state after blink phase and relay pulse."""

    colour: Colour
    buzzer_hz: int  # the tone of the desired state, also in a blink's silent half
    buzzer_on: bool
    relay_energised: bool


SAFE_OUTPUT = Output(SAFE_STATE.colour, 0, False, False)


def check_state(state: IndicatorState) -> None:
    """Raise IndicatorStateError naming the bad field unless ``state`` is showable."""
    colour = state.colour
    if (
        not isinstance(colour, tuple)
        or len(colour) != 3
        or not all(isinstance(c, int) and 0 <= c <= 255 for c in colour)
    ):
        raise IndicatorStateError(f"colour {colour!r} invalid; expected (red, green, blue) ints 0-255")
    if not (isinstance(state.blink_hz, int | float) and 0 <= state.blink_hz <= MAX_BLINK_HZ):
        raise IndicatorStateError(
            f"blink_hz {state.blink_hz!r} invalid; expected 0 (steady) to {MAX_BLINK_HZ}"
        )
    if not (isinstance(state.buzzer_hz, int) and 0 <= state.buzzer_hz <= MAX_BUZZER_HZ):
        raise IndicatorStateError(
            f"buzzer_hz {state.buzzer_hz!r} invalid; expected 0 (silent) or a tone in Hz"
        )


class Indicators:
    """Interface and invariants of every indicator backend.

    ``apply`` never raises on an I2C fault and never waits for a failing bus: it tries at most
    ``attempts`` times within ``attempt_budget`` seconds, then records ``.fault``, keeps the
    desired state, and leaves the rest to a worker thread. The worker drives the safe state on
    whatever chips still answer, retries every ``retry_interval`` seconds, re-initialises the
    chips and re-applies the desired state once they answer (RELIABILITY 33), toggles blinking,
    ends relay pulses, and every ``verify_interval`` reads the outputs back to catch a chip that
    reset silently. While a fault is recorded ``apply`` only records the state, so a bus whose
    transfers time out cannot stall screening. With ``background=False`` nothing runs by itself
    and tests call ``tick(now)``.

    Locks: ``_io`` serialises bus traffic and is always taken before ``_cond``, which guards the
    state and is never held across slow I/O by the worker.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = 3,
        attempt_budget: float = 0.05,
        retry_interval: float = 0.5,
        verify_interval: float = 5.0,
        background: bool = True,
    ) -> None:
        self._clock = clock
        self._attempts = max(1, attempts)
        self._attempt_budget = attempt_budget
        self._retry_interval = retry_interval
        self._verify_interval = verify_interval
        self._background = background
        self._io = threading.RLock()
        self._cond = threading.Condition(threading.RLock())
        self._desired = SAFE_STATE
        self._phase_origin = clock()
        self._pulse_until: float | None = None
        self._shown: Output | None = None
        self._fault: str | None = None
        self._safe_pending = False
        self._wake = False
        self._next_retry = 0.0
        self._next_verify = 0.0
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- backend hooks ---------------------------------------------------------------------
    def _write(self, output: Output, *, reinit: bool) -> None:
        """Drive ``output``; with ``reinit`` first bring the chips from any state to known. May raise OSError."""
        raise NotImplementedError

    def _write_safe(self) -> None:
        """Best effort: relay shut and amber on whatever chips still answer. Must not raise OSError."""
        try:
            self._write(SAFE_OUTPUT, reinit=True)
        except OSError:
            pass

    def _read_back(self, output: Output) -> str | None:
        """Compare the chips' registers with ``output``; the first difference, or None. May raise OSError."""
        return None

    def _release(self) -> None:
        """Release the bus."""

    def _check_state(self, state: IndicatorState) -> None:
        """Backend-specific limits (e.g. the PWM frequency range); raise IndicatorStateError."""

    # -- lifecycle ---------------------------------------------------------------------------
    def _start(self) -> None:
        """Backends call this last in ``__init__``: safe state now, then the worker thread."""
        with self._io:
            now = self._clock()
            self._push(self._output(now), now, reinit=True)
            self._next_verify = now + self._verify_interval
        if self._safe_pending:
            self.tick(now)
        atexit.register(self.close)  # interpreter exit without close() still ends de-energised
        if self._background:
            self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Apply the safe state (relay de-energised) and release the bus; idempotent, never raises OSError."""
        with self._io:
            with self._cond:
                if self._closed:
                    return
                self._closed = True
                self._desired, self._pulse_until = SAFE_STATE, None
                self._cond.notify_all()
            if not self._push(SAFE_OUTPUT, self._clock(), reinit=self._fault is not None):
                self._write_safe()
        atexit.unregister(self.close)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._release()

    def __enter__(self) -> Indicators:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API --------------------------------------------------------------------------
    @property
    def fault(self) -> str | None:
        """Why the board is not showing the desired state (``"nack: …"``, ``"bus gone: …"``), or None."""
        return self._fault

    @property
    def desired(self) -> IndicatorState:
        """The state last asked for (what recovery re-applies)."""
        return self._desired

    @property
    def shown(self) -> Output | None:
        """What was last driven successfully (None while faulted)."""
        return self._shown

    def apply(self, state: IndicatorState) -> None:
        """Show ``state`` whole. Raises IndicatorStateError for an unshowable state (nothing changes),
        DeviceUnavailableError after close; an I2C fault is recorded in ``.fault``, never raised."""
        check_state(state)
        self._check_state(state)
        with self._cond:
            self._check_open()
            now = self._clock()
            if (state.colour, state.blink_hz, state.buzzer_hz) != (
                self._desired.colour,
                self._desired.blink_hz,
                self._desired.buzzer_hz,
            ):
                self._phase_origin = now  # a new pattern starts with its "on" half
            self._desired = state
            self._notify_worker()
            if self._fault is not None:
                return  # the worker re-applies on recovery; do not wait for a failing bus
        with self._io:
            self._refresh()

    def pulse_relay(self, seconds: float) -> None:
        """Energise the relay for ``seconds`` (officer override), then return to the desired state."""
        if not (isinstance(seconds, int | float) and 0 < seconds <= MAX_PULSE_S):
            raise IndicatorStateError(
                f"relay pulse {seconds!r} s invalid; expected 0 < seconds <= {MAX_PULSE_S}"
            )
        with self._cond:
            self._check_open()
            self._pulse_until = self._clock() + seconds
            self._notify_worker()
            if self._fault is not None:
                return
        with self._io:
            self._refresh()

    def verify(self) -> str | None:
        """Read the outputs back from the chips: None when they show what was last driven, else why not."""
        with self._io:
            if self._fault is not None:
                return self._fault
            if self._shown is None:
                return "nothing shown yet"
            try:
                return self._read_back(self._shown)
            except OSError as exc:
                return str(exc)

    def wait_for_recovery(self, timeout: float) -> bool:
        """Block until no fault is recorded (True) or ``timeout`` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._fault is None, timeout)

    def tick(self, now: float | None = None) -> float | None:
        """Do what is due at ``now`` (safe state after a fault, blink edge, pulse end, retry, read-back).

        Returns the seconds until something is next due, None once closed.
        """
        with self._io:
            with self._cond:
                if self._closed:
                    return None
                now = self._clock() if now is None else now
                if self._pulse_until is not None and now >= self._pulse_until:
                    self._pulse_until = None
                faulted = self._fault is not None
                safe, self._safe_pending = self._safe_pending, False
                retry = faulted and now >= self._next_retry
                verify = not faulted and now >= self._next_verify
                if verify:
                    self._next_verify = now + self._verify_interval
            if safe:
                self._write_safe()
            if retry:
                self._push(self._output(now), now, reinit=True)
            elif not faulted:
                self._refresh(now)
                if verify and self._fault is None:
                    self._verify_now(now)
            with self._cond:
                return self._next_deadline(now)

    # -- internals (callers hold _io) ----------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise DeviceUnavailableError(f"{type(self).__name__} is closed")

    def _notify_worker(self) -> None:
        self._wake = True
        self._cond.notify_all()

    def _output(self, now: float) -> Output:
        with self._cond:
            state = self._desired
            on = True
            if state.blink_hz > 0:
                on = math.floor((now - self._phase_origin) * 2 * state.blink_hz) % 2 == 0
            relay = state.relay_open or (self._pulse_until is not None and now < self._pulse_until)
        return Output(state.colour if on else OFF, state.buzzer_hz, on and state.buzzer_hz > 0, relay)

    def _refresh(self, now: float | None = None) -> None:
        """Drive the current output if it differs from what is shown (not while faulted or closed)."""
        with self._cond:
            if self._closed or self._fault is not None:
                return
            now = self._clock() if now is None else now
        out = self._output(now)
        if out != self._shown:
            self._push(out, now, reinit=False)

    def _push(self, out: Output, now: float, *, reinit: bool) -> bool:
        """Write ``out`` with bounded retries; on failure record the fault and ask the worker for the safe state."""
        started = time.monotonic()  # real elapsed I/O time, whatever clock is injected
        last = OSError("no attempt made")
        for attempt in range(self._attempts):
            if attempt and time.monotonic() - started > self._attempt_budget:
                break  # transfers are timing out: leave the rest to the worker
            try:
                self._write(out, reinit=reinit or attempt > 0)  # after a failure the chip may have reset
            except OSError as exc:
                last = exc
                continue
            with self._cond:
                self._shown = out
                if self._fault is not None:
                    logger.warning("indicators recovered after a fault", extra={"fields": {
                        "fault": str(self._fault)}})
                    self._fault = None
                    self._cond.notify_all()
            return True
        fault = describe_fault(last)
        with self._cond:
            if self._fault is None:
                logger.error("indicators fault; applying the safe state where possible", extra={"fields": {
                    "fault": str(fault)}})
                self._safe_pending = True
                self._notify_worker()
            self._fault = fault
            self._shown = None
            self._next_retry = now + self._retry_interval
        return False

    def _verify_now(self, now: float) -> None:
        try:
            mismatch = self._read_back(self._shown) if self._shown is not None else None
        except OSError as exc:
            mismatch = str(exc)
        if mismatch is not None:
            logger.warning("indicator read-back differs; re-initialising", extra={"fields": {
                "mismatch": str(mismatch)}})
            self._push(self._output(now), now, reinit=True)

    def _next_deadline(self, now: float) -> float:
        if self._safe_pending:
            return 0.0
        due: list[float] = [self._next_verify]
        state = self._desired
        if state.blink_hz > 0:
            half = 1 / (2 * state.blink_hz)
            elapsed = now - self._phase_origin
            due.append(self._phase_origin + (math.floor(elapsed / half) + 1) * half)
        if self._pulse_until is not None:
            due.append(self._pulse_until)
        if self._fault is not None:
            due.append(self._next_retry)
        return max(0.0, min(due) - now)

    def _run(self) -> None:
        while True:
            try:
                delay = self.tick()
            except Exception:  # a bug here must not kill the worker that re-applies the safe state
                logger.exception("indicator worker error")
                delay = self._retry_interval
            with self._cond:
                if self._closed or delay is None:
                    return
                if not self._wake:
                    self._cond.wait(timeout=delay)
                self._wake = False
