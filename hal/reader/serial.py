"""Readers on a serial line (RS-232, USB CDC, USB-serial bridges) through pyserial.

URL: ``serial:///dev/serial/by-id/NAME?baud=9600&bytesize=8&parity=N&stopbits=1&framing=…``
(absolute path; prefer the stable ``/dev/serial/by-id/`` name over ``/dev/ttyUSBn``, which changes
with plug order). Framing and timing options: docs/readers.md.

    >>> reader = open_reader("serial:///dev/serial/by-id/usb-ACME_OCR-if00?baud=115200&framing=stx-etx")
    >>> reader.read(timeout=1.0)
"""

from __future__ import annotations

import logging
import os
import select
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote

import serial

from hal.errors import BadUrlError, DeviceUnavailableError
from hal.reader import DocumentReader, reader_grammar

logger = logging.getLogger(__name__)

PARITIES = {
    "N": serial.PARITY_NONE,
    "E": serial.PARITY_EVEN,
    "O": serial.PARITY_ODD,
    "M": serial.PARITY_MARK,
    "S": serial.PARITY_SPACE,
}
STOPBITS = {"1": serial.STOPBITS_ONE, "1.5": serial.STOPBITS_ONE_POINT_FIVE, "2": serial.STOPBITS_TWO}
READ_CHUNK = 4096


def lower_latency_timer(path: str, ms: int, sysfs: str = "/sys/bus/usb-serial/devices") -> None:
    """Set an FTDI-style USB-serial bridge's latency timer (default 16 ms) to ``ms`` through sysfs.

    Without it the bridge holds a short read, like the end of an MRZ, for up to 16 ms. Silently
    skipped for devices without the attribute (ptys, CDC-ACM); a refused write is logged.
    """
    attribute = os.path.join(sysfs, os.path.basename(os.path.realpath(path)), "latency_timer")
    try:
        with open(attribute, encoding="ascii") as handle:
            current = int(handle.read().strip() or 0)
        if current > ms:
            with open(attribute, "w", encoding="ascii") as handle:  # like `echo 1 > latency_timer`
                handle.write(str(ms))
            logger.info("USB-serial latency timer lowered", extra={"fields": {
                "path": str(path), "from_ms": current, "to_ms": ms}})
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        logger.info("cannot lower the USB-serial latency timer", extra={"fields": {
            "path": str(path), "error": str(exc)}})


def stable_name(path: str, by_id: str = "/dev/serial/by-id") -> str | None:
    """The /dev/serial/by-id/ link that points at ``path``, if there is one (for a log hint)."""
    if path.startswith("/dev/serial/") or not os.path.isdir(by_id):
        return None
    real = os.path.realpath(path)
    for name in sorted(os.listdir(by_id)):
        if os.path.realpath(os.path.join(by_id, name)) == real:
            return os.path.join(by_id, name)
    return None


SERIAL_OPTIONS = {
    "baud": "50-4000000",
    "bytesize": "5|6|7|8",
    "parity": "|".join(PARITIES),
    "stopbits": "|".join(STOPBITS),
    "latency_timer": "1-255|keep",
}


@dataclass(frozen=True)
class SerialSettings:
    """A serial reader URL, checked: the device path, pyserial's port settings, the latency timer."""

    path: str
    port: dict[str, Any]  # baudrate, bytesize, parity, stopbits for serial.Serial
    latency_timer: int | None  # ms for a USB-serial bridge; None: keep the device's


def serial_settings(path: str, options: dict[str, str]) -> SerialSettings:
    """Check the serial options of a reader URL (pure); BadUrlError naming a bad value."""
    baud = options.get("baud", "9600")
    if not baud.isdigit() or not 50 <= int(baud) <= 4_000_000:
        raise BadUrlError(f"reader option baud={baud!r}: expected a rate such as 9600 or 115200")
    bytesize = options.get("bytesize", "8")
    if bytesize not in ("5", "6", "7", "8"):
        raise BadUrlError(f"reader option bytesize={bytesize!r}: expected 5, 6, 7 or 8")
    parity = options.get("parity", "N").upper()
    if parity not in PARITIES:
        raise BadUrlError(f"reader option parity={parity!r}: expected one of {', '.join(PARITIES)}")
    stopbits = options.get("stopbits", "1")
    if stopbits not in STOPBITS:
        raise BadUrlError(f"reader option stopbits={stopbits!r}: expected 1, 1.5 or 2")
    latency = options.get("latency_timer", "1")
    if latency != "keep" and not (latency.isdigit() and 1 <= int(latency) <= 255):
        raise BadUrlError(f"reader option latency_timer={latency!r}: expected 1 to 255 (ms) or keep")
    port = {"baudrate": int(baud), "bytesize": int(bytesize), "parity": PARITIES[parity],
            "stopbits": STOPBITS[stopbits]}  # fmt: skip
    return SerialSettings(path, port, None if latency == "keep" else int(latency))


class SerialDocumentReader(DocumentReader):
    """A document reader on a serial port; raw 8-bit reads, woken by select on the descriptor."""

    GRAMMAR = reader_grammar("serial:///dev/serial/by-id/NAME[?OPTIONS]", SERIAL_OPTIONS)
    _port: serial.Serial | None = None

    @classmethod
    def _backend_settings(cls, url: str, parts: SplitResult, options: dict[str, str]) -> SerialSettings:
        path = unquote(parts.netloc + parts.path)
        if not path.startswith("/") or "\0" in path:
            raise cls.GRAMMAR.error(f"serial reader URL {url!r}: expected serial:///dev/serial/by-id/NAME?baud=9600&…")
        return serial_settings(path, options)

    def _configure(self, settings: SerialSettings) -> None:
        self.path = settings.path
        self._settings = settings
        hint = stable_name(self.path)
        if hint:
            logger.info("prefer the stable reader name", extra={"fields": {
                "path": str(self.path), "stable": str(hint)}})

    def _device_path(self) -> str:
        return self.path

    def _open(self) -> None:
        path = self._device_path()
        if self._settings.latency_timer is not None:
            lower_latency_timer(path, self._settings.latency_timer)
        try:
            self._port = serial.Serial(path, timeout=0, exclusive=True, **self._settings.port)
        except ValueError as exc:  # pyserial: the driver refused a setting (e.g. a custom baud rate, TCSETS2)
            raise DeviceUnavailableError(f"serial port {path} refused its settings {self._settings.port!r}: {exc}") from exc
        self._fd = self._port.fileno()
        logger.info("reader open", extra={"fields": {"path": str(path)}})

    def _read_bytes(self, timeout: float | None) -> bytes:
        ready, _, _ = select.select([self._fd, self._wake_r], [], [], timeout)
        if self._fd not in ready or self._port is None:
            return b""
        return bytes(self._port.read(READ_CHUNK))

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            port.close()
