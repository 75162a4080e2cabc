"""``sim://plate[?OPTIONS]``: a simulated ANPR camera behind the real plate-reader code.

    >>> reader = open_plate_reader("sim://plate?seed=7")
    >>> reader.device.show("AB-123-CD", country="F", confidence=0.93, frames=3)

The device model writes what a real camera sends over its socket into a pipe the reader reads: for each
vehicle, ``frames`` reads (one per video frame) of the same plate with the confidence varying by up to
``jitter`` around the given one, each line written in two pieces (the reader must reassemble it); with
``confuse=1`` one frame of each vehicle reads a ``0`` as ``O`` (the confusion real cameras make), which
the agent's plate normalisation folds back. ``unplug()`` closes the device end: the reader then reports
the device gone.

Options: ``min_confidence`` (every plate reader), ``seed=N`` (jitter), ``jitter=0-1``
(default 0.03), ``confuse=0|1`` (default 0).
"""

from __future__ import annotations

import json
import os
import random
import select
from typing import Any

from hal.errors import DeviceUnavailableError
from hal.plate import OPTIONS, PlateReader
from hal.url import UrlGrammar, bool_value, int_value, seconds_value

GRAMMAR = UrlGrammar("plate reader", "sim://plate[?OPTIONS]",
                     {**OPTIONS, "seed": "N", "jitter": "0-1", "confuse": "0|1"})


class SimPlateCamera:
    """The camera end: ``show`` a vehicle's plate as the frames a real camera would send."""

    def __init__(self, *, seed: int = 0, jitter: float = 0.03, confuse: bool = False) -> None:
        self._read_fd, self._write_fd = os.pipe()
        self._rng = random.Random(seed)
        self.jitter, self.confuse = jitter, confuse

    def show(self, plate: str, country: str = "", confidence: float = 0.95, frames: int = 3) -> None:
        """One vehicle passing: ``frames`` reads of ``plate``."""
        confused = self._rng.randrange(frames) if self.confuse and "0" in plate else -1
        for i in range(frames):
            text = plate.replace("0", "O", 1) if i == confused else plate
            conf = min(1.0, max(0.0, confidence + self._rng.uniform(-self.jitter, self.jitter)))
            self.send({"plate": text, "country": country, "confidence": round(conf, 3)})

    def send(self, read: dict[str, Any] | bytes) -> None:
        """Write one line (a read, or raw bytes for a broken one) in two pieces, as a socket may deliver it."""
        line = read if isinstance(read, bytes) else json.dumps(read).encode() + b"\n"
        half = len(line) // 2
        for piece in (line[:half], line[half:]):
            if piece:
                os.write(self._write_fd, piece)

    def unplug(self) -> None:
        """The camera goes away: its end of the link closes."""
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1

    def close(self) -> None:
        """Close both ends; idempotent."""
        self.unplug()
        if self._read_fd >= 0:
            os.close(self._read_fd)
            self._read_fd = -1

    @property
    def fileno(self) -> int:
        """The reader's end."""
        return self._read_fd


class SimPlateReader(PlateReader):
    """The real plate-reader code over a ``SimPlateCamera``; ``device`` is the camera."""

    GRAMMAR = GRAMMAR

    def __init__(self, url: str = "sim://plate", **kwargs: Any) -> None:
        _, options = self.parse_url(url)
        sim = self._sim_options(options)
        super().__init__(**{**self.common_options(options), **kwargs})
        self.device = SimPlateCamera(**sim)

    @classmethod
    def _check_options(cls, options: dict[str, str]) -> object:
        cls._sim_options(options)
        return cls.common_options(options)

    @classmethod
    def _check_location(cls, url: str, parts: Any) -> None:
        if parts.netloc != "plate" or parts.path not in ("", "/"):
            raise GRAMMAR.error(f"sim plate reader URL {url!r}: expected sim://plate")

    @staticmethod
    def _sim_options(options: dict[str, str]) -> dict[str, Any]:
        return {"seed": int_value("plate reader", options, "seed", 0, 0, 2**31),
                "jitter": seconds_value("plate reader", options, "jitter", 0.03, 0.0, 1.0),
                "confuse": bool_value("plate reader", options, "confuse", False)}

    def _read_chunk(self, timeout: float) -> bytes | None:
        fd = self.device.fileno
        if fd < 0:
            raise DeviceUnavailableError("sim plate camera closed")
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return None
        data = os.read(fd, 4096)
        if not data:
            self.fault = "plate camera unplugged"
            raise DeviceUnavailableError("plate camera unplugged (its link closed)")
        return data

    def _release(self) -> None:
        self.device.close()
