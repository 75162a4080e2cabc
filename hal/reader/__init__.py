"""Document readers: the MRZ rows a reader sends, framed into documents.

    >>> from hal import open_reader
    >>> reader = open_reader("sim://reader?framing=lines")
    >>> reader.device.swipe(["P<UTOERIKSSON<<ANNA<MARIA" + "<" * 19, "L898902C36UTO7408122F1204159ZE184226B<<<<<10"])
    >>> reader.read(timeout=1.0)   # ReaderDocument, Misread, or None on timeout

The base class owns framing, limits, timeouts, reopen-with-backoff and fault reporting; a backend
fills ``_configure`` (its URL options), ``_open``, ``_read_bytes`` and ``_close``. URL grammar and
framing options: docs/readers.md.
"""

from __future__ import annotations

import logging
import os
import select
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import SplitResult

from hal.errors import DeviceUnavailableError
from hal.reader.framing import FRAMING_OPTIONS, FramingSpec, Output, parse_framing
from hal.reader.types import Misread, ReaderDocument
from hal.url import UrlGrammar, seconds_value

__all__ = ["DocumentReader", "Misread", "ReaderDocument", "ReaderTimings"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReaderTimings:
    """How long the reader waits, from the URL (``idle``, ``reopen``, ``reopen_max``, in seconds)."""

    idle: float = 0.5  # a quiet line this long gives up a partial block (never delays a complete one)
    reopen: float = 0.2  # first wait before reopening a device that went away; doubles on each failure
    reopen_max: float = 5.0


TIMING_OPTIONS = {"idle": "SECONDS", "reopen": "SECONDS", "reopen_max": "SECONDS"}


def reader_grammar(form: str, backend_options: dict[str, str]) -> UrlGrammar:
    """The URL grammar of a reader backend: its form and options plus the framing and timing options."""
    return UrlGrammar("reader", form, {**FRAMING_OPTIONS, **TIMING_OPTIONS, **backend_options})


class DocumentReader:
    """Interface and base of every reader backend: framing, timeouts, reopen with backoff, faults.

    ``read()`` returns as soon as a block is complete (it waits on the descriptor, never on an
    inter-character timeout). When the device goes away (``OSError``, which includes pyserial's
    ``SerialException``) ``fault`` becomes ``"absent: …"``, a partial block is discarded, and the
    device is reopened with exponential backoff; ``fault`` clears once it is open again.
    """

    GRAMMAR: ClassVar[UrlGrammar]  # the backend's URL form and options (reader_grammar)

    def __init__(self, url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Parse ``url`` (raises BadUrlError naming a bad option) and try to open the device once."""
        self.url = url
        self._clock = clock
        self.spec: FramingSpec
        self.spec, self.timings, backend = self.parse_url(url)
        self._configure(backend)
        self._framer = self.spec.framer()
        self._ready: deque[Output] = deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._closed = False
        self._is_open = False
        self._eof = False
        self._last_byte_at = 0.0
        self._backoff = self.timings.reopen
        self._next_open = 0.0
        self._opened_at = 0.0
        self._fault: str | None = None
        self.on_fault: Callable[[str | None], None] | None = None  # called on every fault change
        self._reopen(0.0)

    @classmethod
    def parse_url(cls, url: str) -> tuple[FramingSpec, ReaderTimings, Any]:
        """Framing, timings and the backend's settings from ``url``, touching no device.

        Raises BadUrlError naming the offending option or value (an unknown option quotes the grammar).
        """
        parts, query = cls.GRAMMAR.parse(url)
        spec, rest = parse_framing(query)
        timings = ReaderTimings(
            idle=seconds_value("reader", rest, "idle", 0.5, 0.001, 60.0),
            reopen=seconds_value("reader", rest, "reopen", 0.2, 0.001, 60.0),
            reopen_max=seconds_value("reader", rest, "reopen_max", 5.0, 0.001, 3600.0),
        )
        for key in TIMING_OPTIONS:
            rest.pop(key, None)
        return spec, timings, cls._backend_settings(url, parts, rest)

    @classmethod
    def check_url(cls, url: str) -> None:
        """Raise BadUrlError unless ``url`` is a valid URL of this backend (no device is opened)."""
        cls.parse_url(url)

    # -- backend hook ------------------------------------------------------------------------
    @classmethod
    def _backend_settings(cls, url: str, parts: SplitResult, options: dict[str, str]) -> Any:
        """Check the backend's part of the URL (location and own ``options``) without touching the
        device; return what ``_configure`` needs. Raise BadUrlError on a bad one."""
        raise NotImplementedError

    def _configure(self, settings: Any) -> None:
        """Take the settings ``_backend_settings`` returned (may prepare the device, not open it)."""
        raise NotImplementedError

    def _open(self) -> None:
        """Open the device; raise OSError when it is absent."""
        raise NotImplementedError

    def _read_bytes(self, timeout: float | None) -> bytes | None:
        """Bytes available within ``timeout`` (b"" if none, None at end of input); OSError if gone.

        Must return early when ``self._wake_r`` becomes readable (``close()`` from another thread).
        """
        raise NotImplementedError

    def _close(self) -> None:
        """Release the device; may raise OSError (ignored)."""
        raise NotImplementedError

    def _now(self) -> float:
        """Arrival time of the bytes just read (replay uses the capture's timestamps)."""
        return self._clock()

    # -- interface ---------------------------------------------------------------------------
    def read(self, timeout: float | None = None) -> ReaderDocument | Misread | None:
        """Next document or misread, or None when ``timeout`` passes with nothing complete.

        Also None once the input ended (replay) or the reader was closed from another thread;
        raises DeviceUnavailableError when called after ``close()``.
        """
        if self._closed:
            raise DeviceUnavailableError(f"reader {self.url!r} is closed")
        deadline = None if timeout is None else self._clock() + timeout
        first = True
        while not self._ready:
            if self._closed or self._eof:
                return None
            left = None if deadline is None else max(0.0, deadline - self._clock())
            if left == 0.0 and not first:
                return None
            first = False
            if self._framer.pending:
                idle_left = max(0.0, self._last_byte_at + self.timings.idle - self._clock())
                left = idle_left if left is None else min(left, idle_left)
            data = self._pull(left)
            now = self._now()
            if data is None:
                self._ready.extend(self._framer.idle(now))
                self._eof = True
                continue
            if self._framer.pending and now - self._last_byte_at >= self.timings.idle:
                self._ready.extend(self._framer.idle(now))
            if data:
                self._last_byte_at = now
                self._ready.extend(self._framer.feed(data, now))
        return self._ready.popleft()

    def read_bytes(self, timeout: float | None = None) -> bytes | None:
        """Raw bytes of the next read, unframed (for ``reader capture``); b"" on timeout, None at end."""
        if self._closed:
            raise DeviceUnavailableError(f"reader {self.url!r} is closed")
        return self._pull(timeout)

    @property
    def fault(self) -> str | None:
        """None while the device works, else why not (``"absent: [Errno 5] …"``)."""
        return self._fault

    def _set_fault(self, fault: str | None) -> None:
        if fault == self._fault:
            return
        self._fault = fault
        if self.on_fault is not None:
            self.on_fault(fault)

    @property
    def is_open(self) -> bool:
        """True while the device is open (False while absent and waiting to reopen)."""
        return self._is_open

    def close(self) -> None:
        """Release the port and wake a blocked ``read()``; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._is_open:
            self._is_open = False
            try:
                self._close()
            except OSError as exc:
                logger.debug("closing the reader failed", extra={"fields": {"error": str(exc)}})

    def __enter__(self) -> DocumentReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        for fd in (getattr(self, "_wake_r", None), getattr(self, "_wake_w", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    # -- internals ---------------------------------------------------------------------------
    def _pull(self, timeout: float | None) -> bytes | None:
        if not self._is_open and not self._reopen(timeout):
            return b""
        try:
            return self._read_bytes(timeout)
        except OSError as exc:
            if not self._closed:
                self._lost(exc)
            return b""

    def _wait(self, timeout: float | None) -> None:
        """Sleep up to ``timeout`` seconds, waking early when the reader is closed."""
        select.select([self._wake_r], [], [], timeout)

    def _reopen(self, timeout: float | None) -> bool:
        now = self._clock()
        if now < self._next_open:
            wait = self._next_open - now
            self._wait(wait if timeout is None else min(wait, timeout))
            if self._closed or self._clock() < self._next_open:
                return False
        try:
            self._open()
        except OSError as exc:
            fault = f"absent: {exc}"
            if fault != self._fault:
                logger.warning("reader fault; retrying", extra={"fields": {
                    "url": str(self.url), "fault": str(fault), "retry_s": self._backoff}})
            self._set_fault(fault)
            self._schedule_reopen()
            return False
        self._is_open = True
        self._opened_at = self._clock()
        if self._fault:
            logger.warning("reader open again, fault cleared", extra={"fields": {"url": str(self.url)}})
        self._set_fault(None)
        return True

    def _schedule_reopen(self) -> None:
        self._next_open = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, self.timings.reopen_max)

    def _lost(self, exc: OSError) -> None:
        if self._clock() - self._opened_at >= self.timings.reopen_max:
            self._backoff = self.timings.reopen  # it worked for a while: try again soon
        # else it failed as soon as it opened (a failing cable or hub): the backoff keeps growing
        self._set_fault(f"absent: {exc}")
        logger.warning("reader fault; reopening", extra={"fields": {
            "url": str(self.url), "fault": str(self._fault)}})
        self._framer.reset()
        self._is_open = False
        try:
            self._close()
        except OSError as close_exc:
            logger.debug("closing the lost reader failed", extra={"fields": {"error": str(close_exc)}})
        self._schedule_reopen()
