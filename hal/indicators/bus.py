"""The I2C bus protocol the chip drivers use, and one chip at one address on it.

Drivers take an injected bus object with the smbus2 method names (pimoroni i2cdevice style), so
the same driver code runs against ``smbus2.SMBus`` on a gate and ``SimI2cBus`` in tests::

    >>> from hal.indicators.simbus import SimI2cBus, Pca9685Model
    >>> chip = I2cDevice(SimI2cBus([Pca9685Model(0x40)]), 0x40)
    >>> chip.read(0x00)          # MODE1 after power-on: SLEEP | ALLCALL
    17
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Protocol

from hal.errors import DeviceUnavailableError

#: errno values meaning the adapter or its device node went away, not just one chip NACKing.
BUS_GONE_ERRNOS = frozenset({errno.ENODEV, errno.ENXIO, errno.ENOENT, errno.EBADF, errno.ESHUTDOWN})


class I2cBus(Protocol):
    """The subset of ``smbus2.SMBus`` the drivers call."""

    def write_byte(self, i2c_addr: int, value: int) -> None:
        """Send one byte to the device (no register)."""

    def read_byte(self, i2c_addr: int) -> int:
        """Read one byte from the device (no register)."""

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None:
        """Write ``value`` to ``register``."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int:
        """Read ``register``."""

    def write_i2c_block_data(self, i2c_addr: int, register: int, data: Sequence[int]) -> None:
        """Write ``data`` from ``register`` on (at most 32 bytes)."""

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        """Read ``length`` bytes from ``register`` on (at most 32)."""

    def close(self) -> None:
        """Release the bus."""


class I2cError(DeviceUnavailableError):
    """A transfer failed (NACK, bus gone); the message names the chip address and register."""

    @property
    def is_bus_gone(self) -> bool:
        """True when the adapter itself is gone (reopen it), not just one device silent."""
        return self.errno in BUS_GONE_ERRNOS


def describe_fault(exc: OSError) -> str:
    """Short fault text for status: ``"nack: …"``, ``"bus gone: …"`` or ``"i2c: …"``."""
    if exc.errno == errno.EREMOTEIO:
        kind = "nack"
    elif exc.errno in BUS_GONE_ERRNOS:
        kind = "bus gone"
    else:
        kind = "i2c"
    return f"{kind}: {exc}"


class I2cDevice:
    """One chip at one 7-bit address; wraps every transfer so a failure names chip and register."""

    def __init__(self, bus: I2cBus, address: int) -> None:
        self.bus = bus
        self.address = address

    def _fail(self, what: str, exc: OSError) -> I2cError:
        return I2cError(exc.errno, f"{what} at 0x{self.address:02x}: {exc.strerror or exc}")

    def read(self, reg: int) -> int:
        """Read one register; I2cError on a bus failure."""
        try:
            return self.bus.read_byte_data(self.address, reg)
        except OSError as exc:
            raise self._fail(f"read reg 0x{reg:02x}", exc) from exc

    def write(self, reg: int, value: int) -> None:
        """Write one register; I2cError on a bus failure."""
        try:
            self.bus.write_byte_data(self.address, reg, value)
        except OSError as exc:
            raise self._fail(f"write reg 0x{reg:02x}", exc) from exc

    def write_block(self, reg: int, data: Sequence[int]) -> None:
        """Write consecutive registers in one transfer; I2cError on a bus failure."""
        try:
            self.bus.write_i2c_block_data(self.address, reg, list(data))
        except OSError as exc:
            raise self._fail(f"write reg 0x{reg:02x}+{len(data)}", exc) from exc

    def read_block(self, reg: int, length: int) -> list[int]:
        """Read consecutive registers in one transfer; I2cError on a bus failure."""
        try:
            return self.bus.read_i2c_block_data(self.address, reg, length)
        except OSError as exc:
            raise self._fail(f"read reg 0x{reg:02x}+{length}", exc) from exc

    def write_byte(self, value: int) -> None:
        """Send one byte with no register (e.g. a PCF8574's port); I2cError on a bus failure."""
        try:
            self.bus.write_byte(self.address, value)
        except OSError as exc:
            raise self._fail("write", exc) from exc

    def read_byte(self) -> int:
        """Read one byte with no register; I2cError on a bus failure."""
        try:
            return self.bus.read_byte(self.address)
        except OSError as exc:
            raise self._fail("read", exc) from exc
