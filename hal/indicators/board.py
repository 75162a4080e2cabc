"""The indicator board: a PCA9685 (RGB LED + buzzer) and a GPIO expander (gate relay) on one I2C bus.

URL options, shared by ``i2c://BUS/ADDR?…`` and ``sim://pca9685?…`` (docs/indicators.md):

    chip=pca9685                PWM controller (the only one so far)
    red=0 green=1 blue=2        PCA9685 channels 0-15 of the LED's colours
    buzzer=3                    channel of a passive piezo buzzer, or ``none``
    relay=pcf8574@0x20:0        relay coil pin: ``pcf8574@ADDR:PIN`` (PIN 0-7, ADDR 0x20-0x27 or
                                0x38-0x3f) or ``mcp23017@ADDR:PORTPIN`` (A0-A7, B0-B7, ADDR 0x20-0x27),
                                or ``none``
    relay_active=low|high       coil drive level; default low on a PCF8574, high on an MCP23017
    pwm_hz=1000                 PWM frequency while the buzzer is silent, 24-1526

One PWM frequency serves all 16 channels, so the buzzer's tone *is* the PWM frequency while it
sounds (50 % duty on its channel); the LED channels keep their duty cycle at that frequency, which
only changes the flicker rate (invisible above ~100 Hz). When the buzzer is silent the frequency
returns to ``pwm_hz``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hal.errors import BadUrlError
from hal.indicators import SAFE_OUTPUT, Indicators, IndicatorState, IndicatorStateError, Output
from hal.indicators import pca9685 as pca
from hal.indicators.bus import I2cBus, I2cError
from hal.indicators.expanders import Mcp23017, Pcf8574, RelayOutput
from hal.url import UrlGrammar

RELAY_FORM = "pcf8574@0x20:0 (pins 0-7) or mcp23017@0x20:A0 (pins A0-A7, B0-B7) or none"
#: The URL grammar shared by ``i2c://`` and ``sim://pca9685`` (module docstring).
GRAMMAR = UrlGrammar(
    "indicator",
    "i2c://BUS[/ADDR][?OPTIONS] or sim://pca9685[?OPTIONS]",
    {"chip": "pca9685", "red": "0-15", "green": "0-15", "blue": "0-15", "buzzer": "0-15|none",
     "relay": "pcf8574@ADDR:PIN|mcp23017@ADDR:PORTPIN|none", "relay_active": "low|high", "pwm_hz": "24-1526"},
)  # fmt: skip
PCF8574_ADDRS = (*range(0x20, 0x28), *range(0x38, 0x40))
MCP23017_ADDRS = tuple(range(0x20, 0x28))


@dataclass(frozen=True)
class RelaySpec:
    """Where the relay coil is wired: expander chip, its address, pin (MCP23017: 0-7 = A, 8-15 = B)."""

    chip: str
    address: int
    pin: int
    active_low: bool


@dataclass(frozen=True)
class BoardConfig:
    """The board's wiring: chip address, channel of each LED colour and the buzzer, PWM frequency, relay."""
    address: int = 0x40
    red: int = 0
    green: int = 1
    blue: int = 2
    buzzer: int | None = 3
    relay: RelaySpec | None = RelaySpec("pcf8574", 0x20, 0, active_low=True)
    pwm_hz: int = 1000


def parse_address(text: str, what: str, allowed: range | tuple[int, ...]) -> int:
    """Parse ``0x40`` (or decimal) and check it is in ``allowed``; BadUrlError otherwise."""
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if value not in allowed:
        spans: list[list[int]] = []  # the runs of allowed addresses (a PCF8574's are two), each named
        for a in sorted(allowed):
            if spans and a == spans[-1][1] + 1:
                spans[-1][1] = a
            else:
                spans.append([a, a])
        expected = " or ".join(f"0x{lo:02x}-0x{hi:02x}" for lo, hi in spans)
        raise BadUrlError(f"{what} {text!r} invalid; expected an I2C address {expected}")
    return value


def _channel(name: str, text: str, extra: str = "") -> int:
    if not re.fullmatch(r"\d{1,2}", text) or int(text) >= pca.CHANNELS:
        raise BadUrlError(f"option {name}={text!r} invalid; expected a PCA9685 channel 0-15{extra}")
    return int(text)


def parse_relay(text: str, active: str | None) -> RelaySpec | None:
    """The relay wiring from its URL option (``pcf8574@0x20:0``, ``mcp23017@0x20:A0`` or ``none``)."""
    if text == "none":
        return None
    m = re.fullmatch(r"(pcf8574|mcp23017)@(0x[0-9a-fA-F]{1,2}|\d+):([ABab]?)(\d)", text)
    if m is None:
        raise BadUrlError(f"option relay={text!r} invalid; expected {RELAY_FORM}")
    chip, addr, port, pin = m.group(1), m.group(2), m.group(3).upper(), int(m.group(4))
    if chip == "pcf8574":
        if port or pin > 7:
            raise BadUrlError(f"option relay={text!r} invalid; a PCF8574 pin is 0-7 (expected {RELAY_FORM})")
        address = parse_address(addr, "relay PCF8574 address", PCF8574_ADDRS)
    else:
        if not port or pin > 7:
            raise BadUrlError(f"option relay={text!r} invalid; an MCP23017 pin is A0-A7 or B0-B7")
        address = parse_address(addr, "relay MCP23017 address", MCP23017_ADDRS)
        pin += 8 if port == "B" else 0
    if active is None:
        active_low = chip == "pcf8574"
    elif active in ("low", "high"):
        active_low = active == "low"
    else:
        raise BadUrlError(f"option relay_active={active!r} invalid; expected low or high")
    return RelaySpec(chip, address, pin, active_low)


def parse_options(url: str, query: str, address: int) -> BoardConfig:
    """BoardConfig from a URL query; BadUrlError names an unknown or malformed option and its form."""
    opts = GRAMMAR.parse_query(url, query)
    if opts.get("chip", "pca9685") != "pca9685":
        raise BadUrlError(f"option chip={opts['chip']!r} invalid; expected pca9685")
    default = BoardConfig()
    red = _channel("red", opts.get("red", str(default.red)))
    green = _channel("green", opts.get("green", str(default.green)))
    blue = _channel("blue", opts.get("blue", str(default.blue)))
    buzzer_text = opts.get("buzzer", str(default.buzzer))
    buzzer = None if buzzer_text == "none" else _channel("buzzer", buzzer_text, " or none")
    used = [c for c in (red, green, blue, buzzer) if c is not None]
    if len(set(used)) != len(used):
        raise BadUrlError(f"indicator channels red/green/blue/buzzer must differ in {url!r}; got {used!r}")
    relay = parse_relay(opts.get("relay", "pcf8574@0x20:0"), opts.get("relay_active"))
    if relay is None and "relay_active" in opts:
        raise BadUrlError(f"option relay_active given with relay=none in {url!r}")
    pwm_text = opts.get("pwm_hz", str(default.pwm_hz))
    if not pwm_text.isdigit() or not pca.MIN_HZ <= int(pwm_text) <= pca.MAX_HZ:
        raise BadUrlError(f"option pwm_hz={pwm_text!r} invalid; expected {pca.MIN_HZ}-{pca.MAX_HZ}")
    return BoardConfig(address, red, green, blue, buzzer, relay, int(pwm_text))


def counts_for(level: int) -> int:
    """PWM counts (of 4096) for a colour level 0-255: 0 is full off, 255 full on, linear between."""
    return round(level * pca.PERIOD / 255)


class Pca9685Indicators(Indicators):
    """The indicator board over any smbus2-compatible ``bus`` (``smbus2.SMBus`` or ``SimI2cBus``).

    Writes only the registers whose value changes; ``reinit`` rewrites everything. With ``open_bus`` (how
    ``i2c://`` opens ``/dev/i2c-BUS``) the adapter itself may be missing: ``bus`` None opens it on the first
    write, and a transfer that finds it gone (ENODEV, ENXIO, … ``I2cError.is_bus_gone``) closes it, so the
    worker's next retry opens it again; until then that is the ``"bus gone: …"`` fault, never an exception.
    """

    def __init__(
        self,
        bus: I2cBus | None,
        config: BoardConfig,
        *,
        open_bus: Callable[[], I2cBus] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if bus is None and open_bus is None:
            raise ValueError("Pca9685Indicators needs a bus or open_bus")
        self.config = config
        self._open_bus = open_bus
        self._sleep = sleep
        self.bus: I2cBus | None = None
        self.relay: RelayOutput | None = None
        if bus is not None:
            self._attach(bus)
        self._counts: dict[int, int] = {}
        self._relay_shown: bool | None = None
        self._start()

    def _attach(self, bus: I2cBus) -> None:
        """Drive the chips through ``bus`` (their drivers start from scratch: the next write re-initialises)."""
        config = self.config
        self.bus = bus
        self.pwm = pca.Pca9685(bus, config.address, sleep=self._sleep)
        if config.relay is not None:
            spec = config.relay
            expander = Pcf8574(bus, spec.address) if spec.chip == "pcf8574" else Mcp23017(bus, spec.address)
            self.relay = RelayOutput(expander, spec.pin, active_low=spec.active_low)

    def _ensure_bus(self) -> None:
        """Open the adapter when it is not open (missing at start, or gone since); OSError while it is absent."""
        if self.bus is None and self._open_bus is not None:
            self._attach(self._open_bus())

    def _bus_failed(self, exc: OSError) -> None:
        """After a failed transfer: close an adapter that went away, so the next attempt opens it again."""
        if self._open_bus is None or self.bus is None or not (isinstance(exc, I2cError) and exc.is_bus_gone):
            return
        bus, self.bus = self.bus, None
        try:
            bus.close()
        except OSError:
            pass

    def _check_state(self, state: IndicatorState) -> None:
        if state.buzzer_hz and not pca.MIN_HZ <= state.buzzer_hz <= pca.MAX_HZ:
            raise IndicatorStateError(
                f"buzzer_hz {state.buzzer_hz!r} out of range; the PCA9685 makes {pca.MIN_HZ}-{pca.MAX_HZ} Hz"
            )
        if state.buzzer_hz and self.config.buzzer is None:
            raise IndicatorStateError(f"buzzer_hz {state.buzzer_hz!r} asked but the board has buzzer=none")

    def _channel_counts(self, out: Output) -> dict[int, int]:
        cfg = self.config
        counts = {
            cfg.red: counts_for(out.colour[0]),
            cfg.green: counts_for(out.colour[1]),
            cfg.blue: counts_for(out.colour[2]),
        }
        if cfg.buzzer is not None:
            counts[cfg.buzzer] = pca.PERIOD // 2 if out.buzzer_on else 0
        return counts

    def _write(self, output: Output, *, reinit: bool) -> None:
        try:
            if self.bus is None:
                self._ensure_bus()
                reinit = True
            self._write_output(output, reinit=reinit)
        except OSError as exc:
            self._bus_failed(exc)
            raise

    def _write_output(self, output: Output, *, reinit: bool) -> None:
        if reinit:
            self._counts.clear()
            self._relay_shown = None
            if self.relay is not None:
                self.relay.init()  # de-energised first, before anything else
                self._relay_shown = False
            self.pwm.init(self.config.pwm_hz)
            self._counts = dict.fromkeys(self._channel_counts(output), 0)
        # Order: relay shut first; colour before the (0.5 ms) frequency change so the LED shows at
        # once; the buzzer channel off before and on after a frequency change, so no stray tone.
        if not output.relay_energised:
            self._write_relay(False)
        counts = self._channel_counts(output)
        buzzer = self.config.buzzer
        for channel in (self.config.red, self.config.green, self.config.blue):
            self._write_channel(channel, counts[channel])
        if buzzer is not None and not output.buzzer_on:
            self._write_channel(buzzer, 0)
        self.pwm.set_frequency(output.buzzer_hz or self.config.pwm_hz)
        if buzzer is not None and output.buzzer_on:
            self._write_channel(buzzer, counts[buzzer])
        if output.relay_energised:
            self._write_relay(True)

    def _write_channel(self, channel: int, counts: int) -> None:
        if self._counts.get(channel) != counts:
            self._counts.pop(channel, None)  # unknown until the write succeeds
            self.pwm.set_counts(channel, counts)
            self._counts[channel] = counts

    def _write_relay(self, energised: bool) -> None:
        if self.relay is not None and self._relay_shown is not energised:
            self._relay_shown = None
            self.relay.set(energised)
            self._relay_shown = energised

    def _write_safe(self) -> None:
        self._counts.clear()
        self._relay_shown = None
        try:
            self._ensure_bus()
        except OSError:
            return  # no adapter: nothing answers (the relay is de-energised in hardware)
        if self.relay is not None:
            try:
                self.relay.init()
            except OSError as exc:
                self._bus_failed(exc)
        if self.bus is None:
            return
        try:
            self.pwm.init(self.config.pwm_hz)
            for channel, counts in self._channel_counts(SAFE_OUTPUT).items():
                self.pwm.set_counts(channel, counts)
        except OSError as exc:
            self._bus_failed(exc)

    def _read_back(self, output: Output) -> str | None:
        if self.bus is None:
            return "I2C adapter not open"
        mode1 = self.pwm.dev.read(pca.MODE1)
        if mode1 & pca.SLEEP:
            return f"PCA9685 asleep (MODE1=0x{mode1:02x})"
        for channel, counts in self._channel_counts(output).items():
            regs = self.pwm.read_counts(channel)
            if regs != pca.led_registers(counts):
                return f"PCA9685 channel {channel} registers {regs!r}, expected {pca.led_registers(counts)!r}"
        if self.relay is not None:
            energised = self.relay.is_energised()
            if energised is None:
                return "relay pin is not an output (expander reset?)"
            if energised != output.relay_energised:
                return f"relay reads {'energised' if energised else 'de-energised'}"
        return None

    def _release(self) -> None:
        if self.bus is None:
            return
        try:
            self.bus.close()
        except OSError:
            pass
