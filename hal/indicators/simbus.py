"""A simulated I2C bus with register-level models of the PCA9685, PCF8574 and MCP23017.

The bus has the smbus2 method names and turns each call into the I2C transactions the Linux
i2c-dev driver would put on the wire (``write_byte_data(a, r, v)`` is one write of ``[r, v]``;
``read_byte_data(a, r)`` a write of ``[r]`` then a repeated-start read). Each chip model sees only
those bytes and behaves as its datasheet says: register pointer and auto-increment, reset
values, read-only and reserved registers, PRE_SCALE locked while the oscillator runs, RESTART,
the PCF8574's quasi-bidirectional port. So the real drivers run unchanged and tests check what
the chip would output, computed from its registers::

    >>> bus = SimI2cBus([Pca9685Model(0x40), Pcf8574Model(0x20)])
    >>> bus.write_byte_data(0x40, 0xFE, 5)      # PRE_SCALE while asleep: accepted
    >>> bus.device(0x40).prescale
    5
    >>> bus.fail(0x40); bus.read_byte_data(0x40, 0)
    Traceback (most recent call last):
    OSError: [Errno 121] Remote I/O error

A write a real chip would ignore is ignored here too and recorded in ``model.ignored_writes``
as ``(reg, value, reason)`` so tests can prove the driver never relies on one.
"""

from __future__ import annotations

import errno as errno_mod
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hal.indicators import pca9685 as pca

OnWrite = Callable[[int, "int | None", int], None]
SMBUS_BLOCK_MAX = 32


class SimChip:
    """A device on the simulated bus: receives write bytes and answers reads, like an I2C slave."""

    def __init__(self, address: int) -> None:
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"I2C address {address!r} out of range; expected 0x03-0x77")
        self.address = address
        self.ignored_writes: list[tuple[int | None, int, str]] = []
        self.on_write: OnWrite | None = None

    def _notify(self, reg: int | None, value: int) -> None:
        if self.on_write is not None:
            self.on_write(self.address, reg, value)

    def write(self, data: bytes) -> None:
        """Take the bytes of one write transfer (after the address)."""
        raise NotImplementedError

    def read(self, length: int) -> bytes:
        """Answer a read transfer of ``length`` bytes."""
        raise NotImplementedError

    def power_cycle(self) -> None:
        """Lose every register, as after a brown-out."""
        raise NotImplementedError


class RegisterChip(SimChip):
    """A chip whose first written byte is a register pointer; subclasses define the map."""

    def __init__(self, address: int) -> None:
        super().__init__(address)
        self.pointer = 0
        self.power_cycle()

    def write(self, data: bytes) -> None:
        """Set the register pointer from the first byte, then write the rest from it on."""
        if not data:
            return
        self.pointer = data[0]
        for value in data[1:]:
            self.write_reg(self.pointer, value)
            self._notify(self.pointer, value)
            self.pointer = self.next_pointer(self.pointer)

    def read(self, length: int) -> bytes:
        """Read ``length`` registers from the pointer on, advancing it as the chip does."""
        out = bytearray()
        for _ in range(length):
            out.append(self.read_reg(self.pointer))
            self.pointer = self.next_pointer(self.pointer)
        return bytes(out)

    def write_reg(self, reg: int, value: int) -> None:
        """What writing ``value`` to ``reg`` does on this chip."""
        raise NotImplementedError

    def read_reg(self, reg: int) -> int:
        """What reading ``reg`` answers on this chip."""
        raise NotImplementedError

    def next_pointer(self, reg: int) -> int:
        """Where the pointer goes after ``reg`` (auto-increment rules of this chip)."""
        raise NotImplementedError


class Pca9685Model(RegisterChip):
    """PCA9685 register map (datasheet rev. 4, table 4) with its reset values and write rules.

    ``clock`` is the time base for the 500 us oscillator settle time before RESTART.
    """

    def __init__(self, address: int = 0x40, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        super().__init__(address)

    def power_cycle(self) -> None:
        """Power-on reset values of the datasheet (MODE1 asleep with ALLCALL, MODE2 totem-pole)."""
        self.regs = bytearray(256)
        self.regs[pca.MODE1] = pca.SLEEP | pca.ALLCALL  # 0x11
        self.regs[pca.MODE2] = pca.OUTDRV  # 0x04
        self.regs[0x02:0x06] = bytes([0xE2, 0xE4, 0xE8, 0xE0])  # SUBADR1-3, ALLCALLADR
        for ch in range(pca.CHANNELS):
            self.regs[pca.LED0_ON_L + 4 * ch + 3] = pca.FULL  # LEDn_OFF_H: full off
        self.regs[pca.PRE_SCALE] = 0x1E  # 200 Hz
        self.restart_pending = False
        self.woke_at = 0.0
        self.pointer = 0

    # -- observation helpers ---------------------------------------------------------------
    @property
    def mode1(self) -> int:
        """The MODE1 register."""
        return self.regs[pca.MODE1]

    @property
    def prescale(self) -> int:
        """The PRE_SCALE register."""
        return self.regs[pca.PRE_SCALE]

    @property
    def frequency_hz(self) -> float:
        """The PWM frequency the prescale gives."""
        return pca.frequency_for(self.prescale)

    @property
    def is_running(self) -> bool:
        """Oscillator on and PWM not waiting for a RESTART: outputs follow the LED registers."""
        return not self.mode1 & pca.SLEEP and not self.restart_pending

    def led_registers(self, channel: int) -> list[int]:
        """ON_L, ON_H, OFF_L, OFF_H of ``channel``."""
        base = pca.LED0_ON_L + 4 * channel
        return list(self.regs[base : base + 4])

    def channel_duty(self, channel: int) -> float:
        """Fraction of each period the output pin is high (INVRT and sleep taken into account)."""
        on_l, on_h, off_l, off_h = self.led_registers(channel)
        if not self.is_running or off_h & pca.FULL:
            duty = 0.0
        elif on_h & pca.FULL:
            duty = 1.0
        else:
            on, off = (on_h & 0x0F) << 8 | on_l, (off_h & 0x0F) << 8 | off_l
            duty = ((off - on) % pca.PERIOD) / pca.PERIOD
        return 1.0 - duty if self.regs[pca.MODE2] & pca.INVRT else duty

    # -- register behaviour ----------------------------------------------------------------
    def next_pointer(self, reg: int) -> int:
        """Auto-increment only with MODE1.AI, rolling over from LED15_OFF_H to MODE1."""
        if not self.mode1 & pca.AI:
            return reg
        if reg == 0x45:  # auto-increment rolls over within MODE1..LED15_OFF_H
            return 0x00
        return (reg + 1) & 0xFF

    def read_reg(self, reg: int) -> int:
        """Reserved and ALL_LED registers read 0, others their value."""
        if pca.ALL_LED_ON_L <= reg < pca.PRE_SCALE:
            return 0  # ALL_LED registers are write-only and read back 0
        if 0x46 <= reg < pca.ALL_LED_ON_L or reg == 0xFF:
            return 0
        return self.regs[reg]

    def _ignore(self, reg: int, value: int, reason: str) -> None:
        self.ignored_writes.append((reg, value, reason))

    def write_reg(self, reg: int, value: int) -> None:
        """Apply the chip's rules: ignored writes (reserved, prescale while running), restart, ALL_LED."""
        if 0x46 <= reg < pca.ALL_LED_ON_L or reg == 0xFF:
            self._ignore(reg, value, "reserved register")
            return
        if reg == pca.MODE1:
            self._write_mode1(value)
        elif reg == pca.MODE2:
            self.regs[reg] = value & 0x1F  # bits 7:5 reserved, read 0
        elif reg == pca.PRE_SCALE:
            if not self.mode1 & pca.SLEEP:
                self._ignore(reg, value, "PRE_SCALE is write-protected while SLEEP=0")
                return
            self.regs[reg] = max(pca.PRESCALE_MIN, value)  # hardware minimum is 3
        elif pca.ALL_LED_ON_L <= reg < pca.PRE_SCALE:
            offset = reg - pca.ALL_LED_ON_L
            for ch in range(pca.CHANNELS):
                self._write_led(pca.LED0_ON_L + 4 * ch + offset, value)
        elif pca.LED0_ON_L <= reg <= 0x45:
            self._write_led(reg, value)
        else:
            self.regs[reg] = value  # SUBADRx, ALLCALLADR

    def _write_led(self, reg: int, value: int) -> None:
        if (reg - pca.LED0_ON_L) % 2 == 1:
            value &= 0x1F  # ON_H/OFF_H bits 7:5 reserved
        self.regs[reg] = value
        self.restart_pending = False  # a PWM register write clears RESTART (datasheet 7.3.1.1)

    def _write_mode1(self, value: int) -> None:
        old = self.mode1
        new = value & ~pca.RESTART & 0xFF
        new |= old & pca.EXTCLK  # EXTCLK is sticky until power cycle
        if old & pca.SLEEP and not new & pca.SLEEP:
            self.woke_at = self.clock()
        if not old & pca.SLEEP and new & pca.SLEEP and self._pwm_active():
            self.restart_pending = True
        if value & pca.RESTART and self.restart_pending:
            if new & pca.SLEEP:
                self._ignore(pca.MODE1, value, "RESTART written while SLEEP=1")
            elif self.clock() - self.woke_at < pca.OSC_SETTLE_S - 1e-9:  # float slack
                self._ignore(pca.MODE1, value, "RESTART written less than 500 us after wake")
            else:
                self.restart_pending = False
        self.regs[pca.MODE1] = new | (pca.RESTART if self.restart_pending else 0)

    def _pwm_active(self) -> bool:
        return any(not self.regs[pca.LED0_ON_L + 4 * ch + 3] & pca.FULL for ch in range(pca.CHANNELS))


class Pcf8574Model(SimChip):
    """PCF8574 quasi-bidirectional port: each written byte sets the latch; reads return pin levels.

    ``pull_low(pin)`` models something outside holding an input low (a pin latched 1 reads 0).
    """

    def __init__(self, address: int = 0x20) -> None:
        super().__init__(address)
        self.external_low: set[int] = set()
        self.power_cycle()

    def power_cycle(self) -> None:
        """Power-on: every pin high (weak pull-up, relay released)."""
        self.latch = 0xFF

    def write(self, data: bytes) -> None:
        """Each byte written sets the port latch."""
        for value in data:  # every byte after the address goes to the port
            self.latch = value
            self._notify(None, value)

    def read(self, length: int) -> bytes:
        """The pin levels: the latch, with pins held low from outside reading low."""
        return bytes([self.port_levels()] * length)

    def port_levels(self) -> int:
        """The levels on the pins now."""
        levels = self.latch
        for pin in self.external_low:
            levels &= ~(1 << pin)
        return levels & 0xFF

    def pin(self, n: int) -> bool:
        """Level of pin ``n``: True high (weak pull-up), False low (sinking)."""
        return bool(self.port_levels() >> n & 1)

    def pull_low(self, pin: int, low: bool = True) -> None:
        """Hold ``pin`` low from outside (or release it), as a wired input would."""
        (self.external_low.add if low else self.external_low.discard)(pin)


MCP_REGS = ("IODIR", "IPOL", "GPINTEN", "DEFVAL", "INTCON", "IOCON", "GPPU", "INTF", "INTCAP", "GPIO", "OLAT")


class Mcp23017Model(RegisterChip):
    """MCP23017 with both register maps (IOCON.BANK=0 interleaved, BANK=1 split by port).

    Reset: IODIR 0xFF (all inputs), everything else 0. INTF/INTCAP are read-only; writing GPIO
    writes OLAT; IOCON bit 0 is unimplemented. SEQOP=0 lets the pointer increment.
    """

    def __init__(self, address: int = 0x20) -> None:
        super().__init__(address)
        self.inputs = [0xFF, 0xFF]  # levels driven from outside on input pins (pulled up)

    def power_cycle(self) -> None:
        """Power-on reset: every pin an input, BANK 0, pointer 0."""
        self.r: dict[tuple[str, int], int] = {(name, port): 0 for name in MCP_REGS for port in (0, 1)}
        self.r["IODIR", 0] = self.r["IODIR", 1] = 0xFF
        self.pointer = 0

    @property
    def bank(self) -> int:
        """The IOCON.BANK mode (0: registers paired by port, 1: by bank)."""
        return 1 if self.r["IOCON", 0] & 0x80 else 0

    def decode(self, reg: int) -> tuple[str, int] | None:
        """Register name and port at address ``reg`` under the current BANK setting."""
        if self.bank:
            port, index = reg >> 4, reg & 0x0F
            if reg & 0xE0 or index >= len(MCP_REGS):
                return None
        else:
            port, index = reg & 1, reg >> 1
            if index >= len(MCP_REGS):
                return None
        return MCP_REGS[index], port

    def next_pointer(self, reg: int) -> int:
        """Sequential addressing unless IOCON.SEQOP, within the bank layout."""
        if self.r["IOCON", 0] & 0x20:  # SEQOP=1: pointer does not increment
            return reg
        if self.bank:
            return (reg + 1) if (reg & 0x0F) < 0x0A else (0x10 if reg < 0x10 else 0x00)
        return (reg + 1) % 0x16

    def read_reg(self, reg: int) -> int:
        """The register's value (GPIO reads the pin levels); unknown addresses read 0."""
        decoded = self.decode(reg)
        if decoded is None:
            return 0
        name, port = decoded
        if name == "GPIO":
            return self.pin_levels(port) ^ self.r["IPOL", port]
        return self.r[decoded]

    def write_reg(self, reg: int, value: int) -> None:
        """Write a register (GPIO writes the latch); unknown addresses are recorded as ignored."""
        decoded = self.decode(reg)
        if decoded is None:
            self.ignored_writes.append((reg, value, "no such register"))
            return
        name, port = decoded
        if name in ("INTF", "INTCAP"):
            self.ignored_writes.append((reg, value, f"{name} is read-only"))
        elif name == "GPIO":
            self.r["OLAT", port] = value
        elif name == "IOCON":
            self.r["IOCON", 0] = self.r["IOCON", 1] = value & 0xFE
        else:
            self.r[decoded] = value

    def pin_levels(self, port: int) -> int:
        """Levels of ``port``'s pins: the latch on outputs, the outside on inputs."""
        iodir = self.r["IODIR", port]
        return (self.r["OLAT", port] & ~iodir | self.inputs[port] & iodir) & 0xFF

    def pin(self, name: str) -> bool | None:
        """Level of pin ``"A0"``..``"B7"``: True/False when driven as an output, None when an input."""
        port, bit = "AB".index(name[0].upper()), int(name[1:])
        if self.r["IODIR", port] >> bit & 1:
            return None
        return bool(self.r["OLAT", port] >> bit & 1)


@dataclass
class _Fault:
    errno: int
    remaining: int | None  # None: until heal()
    delay: float


class SimI2cBus:
    """smbus2-compatible bus over chip models, with a write hook and fault injection."""

    def __init__(self, chips: Iterable[SimChip] = (), *, on_write: OnWrite | None = None) -> None:
        self._chips: dict[int, SimChip] = {}
        self._lock = threading.Lock()
        self._faults: dict[int | None, _Fault] = {}
        self.on_write = on_write
        self.closed = False
        self.transfers = 0
        for chip in chips:
            self.attach(chip)

    def attach(self, chip: SimChip) -> SimChip:
        """Put ``chip`` on the bus at its address; ValueError when the address is taken."""
        if chip.address in self._chips:
            raise ValueError(f"two devices at I2C address 0x{chip.address:02x}")
        chip.on_write = self._forward_write
        self._chips[chip.address] = chip
        return chip

    def device(self, address: int) -> SimChip:
        """The chip model at ``address`` (tests look at its registers)."""
        return self._chips[address]

    def _forward_write(self, addr: int, reg: int | None, value: int) -> None:
        if self.on_write is not None:
            self.on_write(addr, reg, value)

    # -- fault injection ---------------------------------------------------------------------
    def fail(
        self,
        addr: int | None = None,
        errno: int = errno_mod.EREMOTEIO,
        count: int | None = None,
        delay: float = 0.0,
    ) -> None:
        """Make transfers to ``addr`` (None: every address) raise OSError(errno), ``count`` times or until heal().

        ``delay`` seconds before each failure models an adapter timeout (SDA held low: ETIMEDOUT).
        """
        with self._lock:
            self._faults[addr] = _Fault(errno, count, delay)

    def heal(self) -> None:
        """End every injected fault."""
        with self._lock:
            self._faults.clear()

    def _check(self, addr: int) -> SimChip:
        if self.closed:
            raise OSError(errno_mod.EBADF, os.strerror(errno_mod.EBADF))
        self.transfers += 1
        for key in (addr, None):
            rule = self._faults.get(key)
            if rule is None:
                continue
            if rule.remaining is not None:
                if rule.remaining <= 0:
                    del self._faults[key]
                    continue
                rule.remaining -= 1
            if rule.delay:
                time.sleep(rule.delay)
            raise OSError(rule.errno, os.strerror(rule.errno))
        chip = self._chips.get(addr)
        if chip is None:  # nobody ACKs the address byte
            raise OSError(errno_mod.EREMOTEIO, os.strerror(errno_mod.EREMOTEIO))
        return chip

    def _write(self, addr: int, data: bytes) -> None:
        with self._lock:
            chip = self._check(addr)
            chip.write(data)

    def _write_read(self, addr: int, data: bytes, length: int) -> bytes:
        with self._lock:
            chip = self._check(addr)
            if data:
                chip.write(data)
            return chip.read(length)

    # -- smbus2 surface ----------------------------------------------------------------------
    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        """smbus2's ``write_byte`` over the models."""
        self._write(i2c_addr, bytes([value]))

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        """smbus2's ``read_byte`` over the models."""
        return self._write_read(i2c_addr, b"", 1)[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        """smbus2's ``write_byte_data`` over the models."""
        self._write(i2c_addr, bytes([register, value]))

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        """smbus2's ``read_byte_data`` over the models."""
        return self._write_read(i2c_addr, bytes([register]), 1)[0]

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        """smbus2's ``write_i2c_block_data`` (at most 32 bytes) over the models."""
        if len(data) > SMBUS_BLOCK_MAX:
            raise ValueError(f"Data length cannot exceed {SMBUS_BLOCK_MAX} bytes")
        self._write(i2c_addr, bytes([register, *data]))

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        """smbus2's ``read_i2c_block_data`` (at most 32 bytes) over the models."""
        if length > SMBUS_BLOCK_MAX:
            raise ValueError(f"Desired block length over {SMBUS_BLOCK_MAX} bytes")
        return list(self._write_read(i2c_addr, bytes([register]), length))

    def close(self) -> None:
        """Mark the bus closed; later transfers fail as on a real closed bus."""
        self.closed = True
