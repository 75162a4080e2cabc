"""``sim://pca9685?…``: the real indicator driver over a simulated I2C bus.

URL grammar: ``sim://pca9685[?OPTIONS]`` with the options of ``i2c://`` (hal/indicators/board.py):
``red``, ``green``, ``blue``, ``buzzer``, ``relay``, ``relay_active``, ``pwm_hz``, ``chip``. The
PCA9685 model sits at 0x40 and the relay expander model where ``relay=`` says, so tests and
the demo watch the chips' outputs computed from their registers::

    >>> ind = open_sim_indicators("sim://pca9685?relay=mcp23017@0x21:B3", background=False)
    >>> ind.bus.device(0x40).channel_duty(0)   # red channel of the amber safe state
    1.0
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from hal.errors import BadUrlError
from hal.indicators.board import Pca9685Indicators, parse_options
from hal.indicators.simbus import Mcp23017Model, Pca9685Model, Pcf8574Model, SimChip, SimI2cBus

SIM_PCA_ADDRESS = 0x40


def open_sim_indicators(url: str, **kwargs: Any) -> Pca9685Indicators:
    """Indicators on a fresh SimI2cBus holding the chips the URL names; BadUrlError for a bad URL."""
    parts = urlsplit(url)
    if parts.netloc != "pca9685" or parts.path not in ("", "/"):
        raise BadUrlError(f"simulated indicators URL {url!r} invalid; expected sim://pca9685?OPTIONS")
    config = parse_options(url, parts.query, SIM_PCA_ADDRESS)
    # The chip model and the driver share one time base (an injected ``clock`` in tests).
    chips: list[SimChip] = [Pca9685Model(SIM_PCA_ADDRESS, clock=kwargs.get("clock", time.monotonic))]
    if config.relay is not None:
        model = Pcf8574Model if config.relay.chip == "pcf8574" else Mcp23017Model
        chips.append(model(config.relay.address))
    return Pca9685Indicators(SimI2cBus(chips), config, **kwargs)
