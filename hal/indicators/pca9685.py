"""Register-level driver for the NXP PCA9685 16-channel, 12-bit PWM controller.

Datasheet: NXP PCA9685 rev. 4 (2015). One internal 25 MHz oscillator and one PRE_SCALE register
set a single PWM frequency for all 16 channels, 24-1526 Hz::

    prescale = round(25 MHz / (4096 * f)) - 1        (hardware minimum 3, maximum 255)

PRE_SCALE can only be written while MODE1.SLEEP is 1, so changing the frequency is the sleep
dance: SLEEP, write PRE_SCALE, wake, wait 500 us for the oscillator, write RESTART.

Each channel n has four registers at 0x06 + 4n: ON_L, ON_H, OFF_L, OFF_H. The output goes high at
count ON and low at count OFF of each 4096-count period; bit 4 of ON_H is "full on", bit 4 of
OFF_H "full off" (full off wins). We always start at count 0, so a duty of ``k/4096`` is
``ON=0, OFF=k``.

    >>> from hal.indicators.simbus import SimI2cBus, Pca9685Model
    >>> pwm = Pca9685(SimI2cBus([Pca9685Model(0x40)]), 0x40)
    >>> pwm.init(1000); pwm.set_counts(0, 2048)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hal.errors import HalError
from hal.indicators.bus import I2cBus, I2cDevice

OSC_HZ = 25_000_000
MODE1, MODE2 = 0x00, 0x01
LED0_ON_L = 0x06
ALL_LED_ON_L = 0xFA
PRE_SCALE = 0xFE

# MODE1 bits
RESTART, EXTCLK, AI, SLEEP, ALLCALL = 0x80, 0x40, 0x20, 0x10, 0x01
# MODE2 bits
INVRT, OCH, OUTDRV = 0x10, 0x08, 0x04
FULL = 0x10  # bit 4 of LEDn_ON_H / LEDn_OFF_H
PERIOD = 4096
CHANNELS = 16
MIN_HZ, MAX_HZ = 24, 1526
PRESCALE_MIN, PRESCALE_MAX = 3, 255
OSC_SETTLE_S = 0.0005  # datasheet: SLEEP must be 0 for 500 us before RESTART is written


class Pca9685ValueError(HalError, ValueError):
    """A frequency, channel or duty outside what the chip can do."""


def prescale_for(frequency_hz: float, osc_hz: int = OSC_HZ) -> int:
    """PRE_SCALE for ``frequency_hz`` (datasheet eq. 1); raises Pca9685ValueError outside 24-1526 Hz."""
    if not MIN_HZ <= frequency_hz <= MAX_HZ:
        raise Pca9685ValueError(
            f"PWM frequency {frequency_hz!r} Hz out of range; expected {MIN_HZ}-{MAX_HZ} Hz"
        )
    return min(PRESCALE_MAX, max(PRESCALE_MIN, round(osc_hz / (PERIOD * frequency_hz)) - 1))


def frequency_for(prescale: int, osc_hz: int = OSC_HZ) -> float:
    """The PWM frequency a PRE_SCALE value gives."""
    return osc_hz / (PERIOD * (prescale + 1))


def led_registers(counts: int) -> list[int]:
    """LEDn ON_L, ON_H, OFF_L, OFF_H for a high time of ``counts``/4096 (0 = full off, 4096 = full on)."""
    if not 0 <= counts <= PERIOD:
        raise Pca9685ValueError(f"PWM counts {counts!r} out of range; expected 0-{PERIOD}")
    if counts == 0:
        return [0x00, 0x00, 0x00, FULL]
    if counts == PERIOD:
        return [0x00, FULL, 0x00, 0x00]
    return [0x00, 0x00, counts & 0xFF, counts >> 8]


class Pca9685:
    """PCA9685 at ``address`` on ``bus``. Every method may raise ``I2cError``; none retries."""

    def __init__(
        self,
        bus: I2cBus,
        address: int = 0x40,
        *,
        osc_hz: int = OSC_HZ,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.dev = I2cDevice(bus, address)
        self.osc_hz = osc_hz
        self._sleep = sleep
        self.prescale: int | None = None  # what we last wrote; None until init

    def init(self, frequency_hz: float) -> None:
        """Bring the chip from any state (power-on, brown-out, other software) to known outputs all off.

        Totem-pole outputs (MODE2.OUTDRV), not inverted, auto-increment on so one block write
        sets a channel's four registers.
        """
        prescale = prescale_for(frequency_hz, self.osc_hz)
        self.dev.write(MODE1, SLEEP | AI)  # also clears RESTART-pending writes and sub-addresses
        self.dev.write(PRE_SCALE, prescale)
        self.dev.write(MODE2, OUTDRV)
        self.dev.write_block(ALL_LED_ON_L, led_registers(0))
        self._wake(AI)
        self.prescale = prescale

    def set_frequency(self, frequency_hz: float) -> None:
        """Change the one PWM frequency of all channels (sleep dance); a no-op when it is already set."""
        prescale = prescale_for(frequency_hz, self.osc_hz)
        if prescale == self.prescale:
            return
        mode1 = self.dev.read(MODE1) & ~RESTART & 0xFF
        self.dev.write(MODE1, mode1 | SLEEP)
        self.dev.write(PRE_SCALE, prescale)
        self._wake(mode1 & ~SLEEP)
        self.prescale = prescale

    def _wake(self, mode1: int) -> None:
        self.dev.write(MODE1, mode1)
        self._sleep(OSC_SETTLE_S)
        if self.dev.read(MODE1) & RESTART:
            self.dev.write(MODE1, mode1 | RESTART)

    def set_counts(self, channel: int, counts: int) -> None:
        """Drive ``channel`` high for ``counts`` of every 4096 (one 4-byte auto-increment write)."""
        if not 0 <= channel < CHANNELS:
            raise Pca9685ValueError(f"PCA9685 channel {channel!r} out of range; expected 0-{CHANNELS - 1}")
        self.dev.write_block(LED0_ON_L + 4 * channel, led_registers(counts))

    def read_counts(self, channel: int) -> list[int]:
        """The four LEDn registers as the chip holds them (for self-test read-back)."""
        return self.dev.read_block(LED0_ON_L + 4 * channel, 4)

    def all_off(self) -> None:
        """Every channel full off in one write (ALL_LED_OFF_H full-off bit)."""
        self.dev.write_block(ALL_LED_ON_L, led_registers(0))

    def sleep(self) -> None:
        """Stop the oscillator (outputs off); ``init`` or ``set_frequency`` wakes it."""
        self.dev.write(MODE1, (self.dev.read(MODE1) & ~RESTART & 0xFF) | SLEEP)
