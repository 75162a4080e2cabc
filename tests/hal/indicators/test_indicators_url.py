"""Indicator URL grammar: every option checked, bad ones named with the expected form."""

import pytest

from hal import open_indicators
from hal.errors import BadUrlError
from hal.indicators.board import RelaySpec, parse_options
from hal.indicators.i2c import open_i2c_indicators


def test_defaults_match_documented_wiring():
    cfg = parse_options("sim://pca9685", "", 0x40)
    assert (cfg.red, cfg.green, cfg.blue, cfg.buzzer, cfg.pwm_hz) == (0, 1, 2, 3, 1000)
    assert cfg.relay == RelaySpec("pcf8574", 0x20, 0, active_low=True)


def test_full_url_parses():
    cfg = parse_options(
        "i2c://1/0x41?...",
        "chip=pca9685&red=4&green=5&blue=6&buzzer=none&relay=mcp23017@0x22:B7&pwm_hz=500",
        0x41,
    )
    assert (cfg.address, cfg.red, cfg.green, cfg.blue, cfg.buzzer, cfg.pwm_hz) == (0x41, 4, 5, 6, None, 500)
    assert cfg.relay == RelaySpec("mcp23017", 0x22, 15, active_low=False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sim://pca9685?colour=red", r"unknown indicator option colour='red'.*grammar: i2c://BUS.*chip=pca9685&red=0-15"),
        ("sim://pca9685?chip=pca9633", r"chip='pca9633' invalid; expected pca9685"),
        ("sim://pca9685?red=16", r"red='16' invalid; expected a PCA9685 channel 0-15"),
        ("sim://pca9685?green=x", r"green='x' invalid"),
        ("sim://pca9685?buzzer=-1", r"buzzer='-1' invalid; expected a PCA9685 channel 0-15 or none"),
        ("sim://pca9685?red=1", r"must differ.*\[1, 1, 2, 3\]"),
        ("sim://pca9685?relay=pcf8574@0x20:8", r"relay='pcf8574@0x20:8' invalid; a PCF8574 pin is 0-7"),
        ("sim://pca9685?relay=pcf8574@0x30:0",
         r"relay PCF8574 address '0x30' invalid; expected an I2C address 0x20-0x27 or 0x38-0x3f$"),
        ("sim://pca9685?relay=mcp23017@0x20:0", r"an MCP23017 pin is A0-A7 or B0-B7"),
        ("sim://pca9685?relay=mcp23017@0x28:A0", r"relay MCP23017 address '0x28' invalid"),
        ("sim://pca9685?relay=gpio17", r"relay='gpio17' invalid; expected pcf8574@0x20:0"),
        ("sim://pca9685?relay_active=maybe", r"relay_active='maybe' invalid; expected low or high"),
        ("sim://pca9685?relay=none&relay_active=low", r"relay_active given with relay=none"),
        ("sim://pca9685?pwm_hz=2000", r"pwm_hz='2000' invalid; expected 24-1526"),
        ("sim://pca9685?red=0&red=1", r"'red' given 2 times"),
        ("sim://pca9685?red", r"malformed query"),
        ("sim://pca9633", r"expected sim://pca9685\?OPTIONS"),
        ("i2c://one/0x40", r"I2C bus 'one'.*expected i2c://BUS/ADDR"),
        ("i2c://1/0x20", r"PCA9685 address '0x20' invalid; expected an I2C address 0x40-0x7f"),
    ],
    ids=[
        "unknown-option",
        "other-chip",
        "channel-16",
        "channel-text",
        "buzzer-negative",
        "channel-clash",
        "pcf-pin-8",
        "pcf-bad-address",
        "mcp-pin-without-port",
        "mcp-bad-address",
        "relay-free-text",
        "relay-active-word",
        "relay-active-without-relay",
        "pwm-too-fast",
        "option-twice",
        "bare-option",
        "sim-other-chip",
        "i2c-bus-word",
        "i2c-expander-address",
    ],
)
def test_bad_indicator_url_rejected_with_expected_form(url, message):
    with pytest.raises(BadUrlError, match=message):
        open_indicators(url, background=False)


def test_i2c_missing_adapter_is_a_fault_not_an_exception():
    ind = open_i2c_indicators("i2c://99/0x40", background=False)
    try:
        assert ind.fault is not None and ind.fault.startswith("bus gone") and "/dev/i2c-99 cannot be opened" in ind.fault
    finally:
        ind.close()


def test_sim_url_through_hal_table_gives_register_level_bus():
    from hal.indicators.simbus import Mcp23017Model, Pca9685Model, SimI2cBus

    ind = open_indicators("sim://pca9685?relay=mcp23017@0x20:A0", background=False)
    try:
        assert isinstance(ind.bus, SimI2cBus)
        assert isinstance(ind.bus.device(0x40), Pca9685Model)
        assert isinstance(ind.bus.device(0x20), Mcp23017Model)
    finally:
        ind.close()


def test_smbus2_is_imported_only_when_an_i2c_board_is_opened():
    """docs/indicators.md: checking an `i2c://` URL and a `sim://` board never load smbus2; opening `i2c://` does."""
    import subprocess
    import sys

    from tests.support.paths import REPO

    script = ("import sys, hal; hal.check_url('indicators', 'i2c://1/0x40?relay=pcf8574@0x20:0'); "
              "hal.open_indicators('sim://pca9685', background=False).close(); print('smbus2' in sys.modules); "
              "hal.open_indicators('i2c://99', background=False).close(); print('smbus2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60,
                         cwd=REPO)  # python -c imports this checkout's hal from its working directory
    assert out.stdout.split() == ["False", "True"]
