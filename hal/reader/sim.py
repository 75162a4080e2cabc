"""A simulated document reader: a real pseudo-terminal whose master side plays the reader hardware.

URL: ``sim://reader?framing=lines&…`` (any framing option; serial options are accepted and apply to
the pty). The reader opens the pty slave through the real serial backend and exposes the simulated
hardware as ``.device``:

    >>> reader = open_reader("sim://reader?framing=stx-etx&bcc=xor")
    >>> reader.device.swipe(rows)            # framed like a real reader in that mode
    >>> reader.read(timeout=1.0)             # ReaderDocument(lines=rows, ...)

``SimReaderDevice(link=PATH)`` also serves another process: ``python -m hal.reader.sim --link
/tmp/reader --framing lines`` swipes each blank-line-separated document read from stdin, and a gate
config points ``serial:///tmp/reader`` at it, like a /dev/serial/by-id link.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import sys
import threading
import tty
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import SplitResult

from hal.errors import DeviceUnavailableError
from hal.reader import reader_grammar
from hal.reader.framing import FramingSpec, parse_framing
from hal.reader.serial import SERIAL_OPTIONS, SerialDocumentReader, SerialSettings, serial_settings

logger = logging.getLogger(__name__)

WRITE_STALL_S = 5.0


class SimReaderDevice:
    """The reader hardware on the master side of a real pty pair.

    ``swipe`` frames one document in the device's mode; ``unplug`` closes the master, so the reader
    side sees EIO / SerialException exactly as after a USB unplug; ``replug`` makes a new pty pair
    and re-points ``link`` (the way udev re-points /dev/serial/by-id). Writes raise
    DeviceUnavailableError while unplugged.
    """

    def __init__(
        self,
        framing: str = "lines",
        link: str | os.PathLike[str] | None = None,
        *,
        spec: FramingSpec | None = None,
        **options: str,
    ) -> None:
        """Make the pty pair; ``options`` are reader URL framing options (``bcc="xor"``, ``prefix=…``)."""
        self.spec = spec or parse_framing({"framing": framing, **options})[0]
        self.link = Path(link) if link is not None else None
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_path = ""
        self.replug()

    @property
    def port(self) -> str:
        """The path a serial reader opens: the link if one was given, else the pty slave."""
        return str(self.link) if self.link is not None else self._slave_path

    @property
    def is_plugged(self) -> bool:
        """True while the simulated reader is plugged in (its pty is open)."""
        return self._master is not None

    def swipe(self, lines: Sequence[str]) -> bytes:
        """Send one document (MRZ rows) framed in this device's mode; returns the bytes sent."""
        data = self.spec.encode(lines)
        self.write(data)
        return data

    def write(self, raw: bytes) -> None:
        """Send raw bytes as the reader would (any framing, noise, partial frames).

        Raises DeviceUnavailableError while unplugged, or when the pty stays full for
        WRITE_STALL_S (nobody reads the other side) instead of blocking forever.
        """
        with self._lock:
            if self._master is None:
                raise DeviceUnavailableError("simulated reader is unplugged")
            view = memoryview(raw)
            while view:
                try:
                    view = view[os.write(self._master, view) :]
                except BlockingIOError:
                    if not select.select([], [self._master], [], WRITE_STALL_S)[1]:
                        raise DeviceUnavailableError(
                            f"simulated reader: pty full for {WRITE_STALL_S} s ({len(view)} bytes unsent)"
                        ) from None

    def inject_noise(self, nbytes: int, seed: int | None = None) -> bytes:
        """Send ``nbytes`` random bytes (line noise, a reader's status chatter); returns them."""
        data = os.urandom(nbytes) if seed is None else _seeded_bytes(nbytes, seed)
        self.write(data)
        return data

    def unplug(self) -> None:
        """Pull the plug: close the master (and the simulator's slave handle), remove the link the
        way udev removes /dev/serial/by-id entries; idempotent."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
            self._slave_path = ""
            if self.link is not None and self.link.is_symlink():
                self.link.unlink(missing_ok=True)

    def replug(self) -> None:
        """Plug in again: a fresh pty pair in raw mode; the link (if any) is re-pointed atomically."""
        self.unplug()
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        with self._lock:
            self._master, self._slave = master, slave
            self._slave_path = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            os.symlink(self._slave_path, tmp)
            os.replace(tmp, self.link)
        logger.debug("simulated reader plugged in", extra={"fields": {"port": str(self.port)}})

    def close(self) -> None:
        """Unplug for good; idempotent."""
        self.unplug()


def _seeded_bytes(nbytes: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(nbytes)


class SimDocumentReader(SerialDocumentReader):
    """``sim://reader``: a SimReaderDevice in process, read through the real serial backend."""

    GRAMMAR = reader_grammar("sim://reader[?OPTIONS]", SERIAL_OPTIONS)
    device: SimReaderDevice

    @classmethod
    def _backend_settings(cls, url: str, parts: SplitResult, options: dict[str, str]) -> SerialSettings:
        if parts.netloc != "reader" or parts.path not in ("", "/"):
            raise cls.GRAMMAR.error(f"simulated reader URL {url!r}: expected sim://reader?framing=…")
        return serial_settings("", options)

    def _configure(self, settings: SerialSettings) -> None:
        self._settings = settings
        self.device = SimReaderDevice(spec=self.spec)

    def _device_path(self) -> str:
        if not self.device.is_plugged:  # its old /dev/pts/N may already serve another pty
            raise DeviceUnavailableError("simulated reader is unplugged")
        return self.device.port

    def close(self) -> None:
        """Close the reader, then the simulated device behind it."""
        super().close()
        self.device.close()


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE, e.g. bcc=xor")
    return key, value


def main(argv: list[str] | None = None) -> int:
    """Run a simulated reader for another process: stdin documents (blank line between) are swiped."""
    parser = argparse.ArgumentParser(prog="python -m hal.reader.sim", description=main.__doc__)
    parser.add_argument("--link", required=True, help="symlink the gate's serial:// URL points at")
    parser.add_argument("--framing", default="lines")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=_key_value,
        help="a framing option such as bcc=xor or prefix=]o1 (repeatable)",
    )
    args = parser.parse_args(argv)
    options = dict(args.option)
    device = SimReaderDevice(args.framing, args.link, **options)
    print(device.port, flush=True)
    rows: list[str] = []
    try:
        for line in sys.stdin:
            line = line.strip()
            if line:
                rows.append(line)
            elif rows:
                device.swipe(rows)
                rows = []
        if rows:
            device.swipe(rows)
    finally:
        device.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
