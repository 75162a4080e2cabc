"""Plate readers (ANPR cameras at a land crossing): a read is a plate string, its country and a confidence.

    >>> from hal import open_plate_reader
    >>> reader = open_plate_reader("sim://plate?min_confidence=0.6")
    >>> reader.device.show("AB-123-CD", country="F", confidence=0.93)
    >>> reader.read(timeout=1.0)
    PlateRead(plate='AB-123-CD', country='F', confidence=0.93, received_at=...)

Device protocol (docs/readers.md "Plate readers"): the camera sends one read per line, a UTF-8 JSON object
``{"plate": "AB-123-CD", "country": "F", "confidence": 0.93}`` (``country`` may be ``""`` when the camera
cannot tell; ``confidence`` 0-1). A camera sends several reads while a vehicle passes (one per frame).

The base class owns the invariants: line framing (a line may arrive in pieces), a bounded line length,
dropping reads below ``min_confidence`` (counted in ``low_confidence``), malformed lines counted in
``misreads`` and skipped, and ``close()`` idempotent. A backend fills ``_read_chunk``. Every frame's read
is returned as read: the agent normalises the plate (agent/hitlist/vehicle_ids.py) and makes one passage of
the frames of one vehicle (agent/vehicles.py ``PlateFeed``), since only it knows which plates are the same.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from hal.errors import DeviceUnavailableError, HalError
from hal.url import UrlBackend, seconds_value

MAX_LINE = 1024  # a read is a short JSON object; a longer line is a device fault, skipped
OPTIONS = {"min_confidence": "0-1 (default 0.5)"}


@dataclass(frozen=True)
class PlateRead:
    """One plate as the camera read it."""

    plate: str
    country: str  # registration code as the camera gives it, "" when unknown
    confidence: float  # 0..1
    received_at: float  # monotonic time the line ended


class PlateReader(UrlBackend):
    """Interface of every plate-reader backend; a backend declares its ``GRAMMAR`` and fills ``_read_chunk``."""

    def __init__(self, *, min_confidence: float = 0.5, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.min_confidence = min_confidence
        self._monotonic = monotonic
        self._buffer = b""
        self._overlong = False  # the line being received passed MAX_LINE: dropped (counted) up to its end
        self._closed = False
        self.eof = False
        self.misreads = self.low_confidence = 0
        self.fault: str | None = None

    @classmethod
    def _check_options(cls, options: dict[str, str]) -> object:
        return cls.common_options(options)

    @staticmethod
    def common_options(options: dict[str, str]) -> dict[str, float]:
        """``min_confidence`` from a URL's options (BadUrlError for a bad value)."""
        return {"min_confidence": seconds_value("plate reader", options, "min_confidence", 0.5, 0.0, 1.0)}

    def read(self, timeout: float) -> PlateRead | None:
        """The next read within ``timeout`` seconds, or None. Raises DeviceUnavailableError
        when the reader is closed or gone."""
        if self._closed:
            raise DeviceUnavailableError(f"{type(self).__name__} is closed")
        deadline = self._monotonic() + timeout
        while True:
            line = self._next_line(max(0.0, deadline - self._monotonic()))
            if line is None:
                return None
            read = self._parse(line)
            if read is not None:
                return read
            if self._monotonic() >= deadline:
                return None

    def _next_line(self, timeout: float) -> bytes | None:
        while b"\n" not in self._buffer:
            if self.eof:
                return None
            chunk = self._read_chunk(timeout)
            if chunk is None:  # nothing within the timeout
                return None
            if chunk == b"":  # end of input: a last line without its newline still counts
                self.eof = True
                self._buffer += b"\n" if self._buffer else b""
                continue
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE and b"\n" not in self._buffer:  # bounded memory: drop it now
                self.misreads += 0 if self._overlong else 1
                self._buffer, self._overlong = b"", True
        line, _, self._buffer = self._buffer.partition(b"\n")
        if self._overlong or len(line) > MAX_LINE:  # the whole line goes, its tail too, however it arrived
            self.misreads += 0 if self._overlong else 1
            self._overlong = False
            return b""
        return line.strip()

    def _parse(self, line: bytes) -> PlateRead | None:
        if not line:
            return None
        try:
            obj = json.loads(line.decode("utf-8"))
            plate, country, confidence = obj["plate"], obj.get("country", ""), obj.get("confidence", 1.0)
            if not (isinstance(plate, str) and plate.strip() and isinstance(country, str)
                    and isinstance(confidence, int | float) and not isinstance(confidence, bool)
                    and math.isfinite(confidence) and 0 <= confidence <= 1):
                raise ValueError(line[:80])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            self.misreads += 1
            return None
        if confidence < self.min_confidence:
            self.low_confidence += 1
            return None
        return PlateRead(plate, country, float(confidence), self._monotonic())

    def close(self) -> None:
        """Release the device; idempotent."""
        if not self._closed:
            self._closed = True
            self._release()

    def __enter__(self) -> PlateReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_chunk(self, timeout: float) -> bytes | None:
        """Bytes from the device within ``timeout`` (None: nothing yet; b"": end of input)."""
        raise NotImplementedError

    def _release(self) -> None:
        """Free the device."""


class PlateReaderError(HalError, ValueError):
    """A plate-reader capture file that cannot be read as one; the message names the file and line."""
