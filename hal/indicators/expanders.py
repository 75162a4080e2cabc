"""GPIO expanders that drive the gate relay: NXP/TI PCF8574 and Microchip MCP23017.

PCF8574 (8-bit quasi-bidirectional port, no registers): a write of one byte sets the port
latch, a read of one byte returns the pin levels. A latch bit of 1 is a weak pull-up (also how
the pin is used as an input), 0 a strong sink. Power-on latch is 0xFF. The driver keeps its own
shadow of the latch and never writes back what it read: a pin held low from outside would
otherwise be latched low for good.

MCP23017 (two 8-bit ports, IOCON.BANK=0 register map): IODIRA/B 0x00/0x01 (1 = input, reset
0xFF), GPIOA/B 0x12/0x13 (pin levels), OLATA/B 0x14/0x15 (output latches). The driver writes the
latch first and the direction second, so the pin never drives the wrong level, and forces
BANK=0 at init even if someone left the chip in BANK=1.

A relay is wired fail-safe: de-energised (chip reset, power loss, pin an input) = gate shut.
With a PCF8574 the coil driver is active-low (the port sinks current; the reset state 1 is off);
with an MCP23017 it is active-high through a transistor with a pull-down (reset state input/Hi-Z is
off). ``RelayOutput`` hides which.

    >>> from hal.indicators.simbus import SimI2cBus, Pcf8574Model
    >>> relay = RelayOutput(Pcf8574(SimI2cBus([Pcf8574Model(0x20)]), 0x20), pin=0, active_low=True)
    >>> relay.init(); relay.set(False)
"""

from __future__ import annotations

from typing import Protocol

from hal.errors import HalError
from hal.indicators.bus import I2cBus, I2cDevice

# MCP23017, BANK=0 addresses (port A; port B is +1)
IODIRA, IPOLA, GPINTENA, DEFVALA, INTCONA, IOCON, GPPUA, INTFA, INTCAPA, GPIOA, OLATA = range(0, 22, 2)
IOCON_BANK = 0x80
IOCON_BANK1_ADDR = 0x05  # where IOCON sits when BANK=1 (GPINTENB, reset 0, when BANK=0)


class ExpanderValueError(HalError, ValueError):
    """A pin that the expander does not have."""


class PinExpander(Protocol):
    """One output pin on some expander; the relay needs nothing more."""

    def init_output(self, pin: int, level: bool) -> None:
        """Make ``pin`` an output at ``level`` (at open, before anything else drives it)."""

    def set_output(self, pin: int, level: bool) -> None:
        """Drive ``pin`` to ``level``."""

    def read_output(self, pin: int) -> bool | None:
        """The level ``pin`` is driven to, read back from the chip (None: not an output any more)."""


class Pcf8574:
    """PCF8574/PCF8574A: one byte out, one byte in. Pins 0-7."""

    def __init__(self, bus: I2cBus, address: int = 0x20) -> None:
        self.dev = I2cDevice(bus, address)
        self.latch = 0xFF  # power-on value: every pin a weak pull-up

    @staticmethod
    def _check(pin: int) -> None:
        if not 0 <= pin < 8:
            raise ExpanderValueError(f"PCF8574 pin {pin!r} out of range; expected 0-7")

    def init_output(self, pin: int, level: bool) -> None:
        """Set every pin high (the chip's inputs-by-default level), then drive ``pin``."""
        self._check(pin)
        self.latch = 0xFF
        self.set_output(pin, level)

    def set_output(self, pin: int, level: bool) -> None:
        """Drive ``pin`` through the port latch (the other pins keep their level)."""
        self._check(pin)
        latch = (self.latch | (1 << pin)) if level else (self.latch & ~(1 << pin))
        self.dev.write_byte(latch)
        self.latch = latch

    def read_output(self, pin: int) -> bool:
        """The pin level the chip reports (read-back for self-test)."""
        return bool(self.dev.read_byte() >> pin & 1)


class Mcp23017:
    """MCP23017 with IOCON.BANK=0. Pins 0-7 are GPA0-7, 8-15 GPB0-7."""

    def __init__(self, bus: I2cBus, address: int = 0x20) -> None:
        self.dev = I2cDevice(bus, address)

    @staticmethod
    def _split(pin: int) -> tuple[int, int]:
        if not 0 <= pin < 16:
            raise ExpanderValueError(f"MCP23017 pin {pin!r} out of range; expected 0-15 (A0-A7, B0-B7)")
        return pin >> 3, pin & 7

    def init_output(self, pin: int, level: bool) -> None:
        """Force BANK=0 (write 0 at 0x05: IOCON if BANK=1, harmless GPINTENB if BANK=0), then set up the pin."""
        port, bit = self._split(pin)
        self.dev.write(IOCON_BANK1_ADDR, 0x00)
        self.dev.write(IOCON, 0x00)
        self.set_output(pin, level)
        iodir = self.dev.read(IODIRA + port)
        self.dev.write(IODIRA + port, iodir & ~(1 << bit) & 0xFF)

    def set_output(self, pin: int, level: bool) -> None:
        """Drive ``pin`` through its port's output latch (read, modify, write)."""
        port, bit = self._split(pin)
        olat = self.dev.read(OLATA + port)
        self.dev.write(OLATA + port, (olat | (1 << bit)) if level else (olat & ~(1 << bit) & 0xFF))

    def read_output(self, pin: int) -> bool | None:
        """The level the pin drives, or None when it is an input (e.g. the chip reset since init)."""
        port, bit = self._split(pin)
        if self.dev.read(IODIRA + port) >> bit & 1:
            return None
        return bool(self.dev.read(GPIOA + port) >> bit & 1)


class RelayOutput:
    """The gate relay coil on one expander pin; ``set(True)`` energises it (gate released)."""

    def __init__(self, expander: PinExpander, pin: int, *, active_low: bool) -> None:
        self.expander = expander
        self.pin = pin
        self.active_low = active_low

    def _level(self, energised: bool) -> bool:
        return energised != self.active_low

    def init(self) -> None:
        """Configure the pin as an output, de-energised."""
        self.expander.init_output(self.pin, self._level(False))

    def set(self, energised: bool) -> None:
        """Energise (open the gate) or de-energise the relay, honouring its active level."""
        self.expander.set_output(self.pin, self._level(energised))

    def is_energised(self) -> bool | None:
        """Read back from the chip whether the coil is driven; None when the pin is no longer an output."""
        level = self.expander.read_output(self.pin)
        return None if level is None else level == self._level(True)
