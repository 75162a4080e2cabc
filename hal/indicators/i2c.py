"""``i2c://BUS/ADDR?…``: the indicator board on a Linux I2C adapter through smbus2.

URL grammar: ``i2c://BUS[/ADDR][?OPTIONS]``; BUS is the adapter number of ``/dev/i2c-BUS``, ADDR
the PCA9685 address 0x40-0x7f (default 0x40); OPTIONS as in hal/indicators/board.py, e.g.
``i2c://1/0x40?chip=pca9685&red=0&green=1&blue=2&buzzer=3&relay=pcf8574@0x20:0``.
smbus2 is imported only when such a URL is opened.

    >>> ind = open_i2c_indicators("i2c://1/0x40?relay=mcp23017@0x20:A0")   # on a gate
"""

from __future__ import annotations

import re
from typing import Any

from hal.errors import BackendImportError, BadUrlError, DeviceUnavailableError
from hal.indicators.board import BoardConfig, Pca9685Indicators, parse_address, parse_options
from hal.indicators.bus import I2cBus
from hal.url import split_url

FORM = "i2c://BUS/ADDR?OPTIONS, e.g. i2c://1/0x40?relay=pcf8574@0x20:0"


def check_i2c_url(url: str) -> BoardConfig:
    """The board an ``i2c://`` URL describes; BadUrlError naming the bad part. Opens nothing."""
    parts = split_url(url)
    if not re.fullmatch(r"\d{1,3}", parts.netloc):
        raise BadUrlError(f"I2C bus {parts.netloc!r} in {url!r} invalid; expected {FORM}")
    path = parts.path.strip("/")
    address = parse_address(path, "PCA9685 address", range(0x40, 0x80)) if path else 0x40
    return parse_options(url, parts.query, address)


def open_i2c_indicators(url: str, **kwargs: Any) -> Pca9685Indicators:
    """The board on ``/dev/i2c-BUS``; BadUrlError for a bad URL, BackendImportError without smbus2.

    Nothing that is missing raises here: an adapter that cannot be opened (``/dev/i2c-BUS`` absent: i2c-dev not
    loaded yet, a USB adapter unplugged) and chips that do not answer open the board with ``.fault`` set
    (``"bus gone: … /dev/i2c-BUS cannot be opened …"``, ``"nack: …"``); its worker keeps retrying, opening the
    adapter again, and shows the desired state once everything answers, as after any I2C fault.
    """
    config = check_i2c_url(url)
    number = int(split_url(url).netloc)
    try:
        from smbus2 import SMBus
    except ImportError as exc:
        raise BackendImportError(f"i2c indicators need smbus2 (pip install smbus2): {exc}") from exc
    device = f"/dev/i2c-{number}"

    def open_bus() -> I2cBus:
        try:
            return SMBus(number)
        except OSError as exc:
            raise DeviceUnavailableError(exc.errno, f"I2C adapter {device} cannot be opened: {exc.strerror}") from exc

    return Pca9685Indicators(None, config, open_bus=open_bus, **kwargs)
