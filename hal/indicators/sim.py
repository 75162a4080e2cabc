"""``sim://pca9685?…``: the real indicator driver over a simulated I2C bus.

URL grammar: ``sim://pca9685[?OPTIONS]`` with the options of ``i2c://`` (hal/indicators/board.py):
``red``, ``green``, ``blue``, ``buzzer``, ``relay``, ``relay_active``, ``pwm_hz``, ``chip``. The
PCA9685 model sits at 0x40 and the relay expander model where ``relay=`` says, so tests and
the demo watch the chips' outputs computed from their registers::

    >>> ind = open_sim_indicators("sim://pca9685?relay=mcp23017@0x21:B3", background=False)
    >>> ind.bus.device(0x40).channel_duty(0)   # red channel of the amber safe state
    1.0
    >>> observe(ind)
    Observed(colour=(255, 120, 0), buzzer_hz=0, relay_energised=False)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from hal.errors import BadUrlError
from hal.indicators.board import BoardConfig, Pca9685Indicators, parse_options
from hal.indicators.simbus import Mcp23017Model, Pca9685Model, Pcf8574Model, SimChip, SimI2cBus
from hal.url import split_url

SIM_PCA_ADDRESS = 0x40


@dataclass(frozen=True)
class Observed:
    """What a person at the gate would see and hear, computed from the simulated chips' registers."""

    colour: tuple[int, int, int]  # duty of the red/green/blue channels, scaled to 0-255
    buzzer_hz: int  # 0 when the buzzer channel is silent, else the PWM frequency (rounded)
    relay_energised: bool | None  # None when the board has no relay


def observe(ind: Pca9685Indicators) -> Observed:
    """Read the outputs of a ``sim://pca9685`` board from its chip models (not from the driver)."""
    cfg, bus = ind.config, ind.bus
    if not isinstance(bus, SimI2cBus):
        raise TypeError(f"observe() needs a board on a SimI2cBus, not {type(bus).__name__}")
    pca = bus.device(cfg.address)
    if not isinstance(pca, Pca9685Model):
        raise TypeError(f"no PCA9685 model at 0x{cfg.address:02x}")
    colour = (
        round(pca.channel_duty(cfg.red) * 255),
        round(pca.channel_duty(cfg.green) * 255),
        round(pca.channel_duty(cfg.blue) * 255),
    )
    buzzing = cfg.buzzer is not None and pca.channel_duty(cfg.buzzer) > 0
    relay: bool | None = None
    if cfg.relay is not None:
        chip = bus.device(cfg.relay.address)
        level: bool | None = None
        if isinstance(chip, Pcf8574Model):
            level = chip.pin(cfg.relay.pin)
        elif isinstance(chip, Mcp23017Model):
            level = chip.pin("AB"[cfg.relay.pin >> 3] + str(cfg.relay.pin & 7))
        relay = level is not None and level != cfg.relay.active_low
    return Observed(colour, round(pca.frequency_hz) if buzzing else 0, relay)


def check_sim_url(url: str) -> BoardConfig:
    """The board a ``sim://pca9685`` URL describes; BadUrlError naming the bad part."""
    parts = split_url(url)
    if parts.netloc != "pca9685" or parts.path not in ("", "/"):
        raise BadUrlError(f"simulated indicators URL {url!r} invalid; expected sim://pca9685?OPTIONS")
    return parse_options(url, parts.query, SIM_PCA_ADDRESS)


def open_sim_indicators(url: str, **kwargs: Any) -> Pca9685Indicators:
    """Indicators on a fresh SimI2cBus holding the chips the URL names; BadUrlError for a bad URL."""
    config = check_sim_url(url)
    # The chip model and the driver share one time base (an injected ``clock`` in tests).
    chips: list[SimChip] = [Pca9685Model(SIM_PCA_ADDRESS, clock=kwargs.get("clock", time.monotonic))]
    if config.relay is not None:
        model = Pcf8574Model if config.relay.chip == "pcf8574" else Mcp23017Model
        chips.append(model(config.relay.address))
    return Pca9685Indicators(SimI2cBus(chips), config, **kwargs)
