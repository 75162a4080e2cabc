"""Gate relay on PCF8574 / MCP23017: the bit the coil hangs on, fail-safe levels, pulses."""

import pytest

from hal.indicators import GREEN, IndicatorState, IndicatorStateError
from hal.indicators.expanders import IOCON, IODIRA, OLATA
from hal.indicators.simbus import Mcp23017Model, SimI2cBus

OPEN = IndicatorState(colour=GREEN, relay_open=True)
SHUT = IndicatorState(colour=GREEN, relay_open=False)


def test_pcf8574_relay_bit_sinks_only_while_open(open_board):
    ind = open_board("sim://pca9685?relay=pcf8574@0x20:3")
    pcf = ind.bus.device(0x20)
    ind.apply(OPEN)
    assert pcf.latch == 0xFF & ~(1 << 3) and not pcf.pin(3)
    ind.apply(SHUT)
    assert pcf.latch == 0xFF and pcf.pin(3)


def test_pcf8574_relay_active_high_option_inverts_level(open_board):
    ind = open_board("sim://pca9685?relay=pcf8574@0x27:0&relay_active=high")
    pcf = ind.bus.device(0x27)
    assert pcf.latch == 0xFE  # shut = low
    ind.apply(OPEN)
    assert pcf.latch == 0xFF


def test_pcf8574_input_held_low_is_not_latched_low(open_board):
    ind = open_board()
    pcf = ind.bus.device(0x20)
    pcf.pull_low(5)  # e.g. a door contact on pin 5
    ind.apply(OPEN)
    ind.apply(SHUT)
    pcf.pull_low(5, False)
    assert pcf.latch == 0xFF and pcf.pin(5)


def test_pcf8574_power_loss_leaves_relay_shut(open_board):
    ind = open_board()
    pcf = ind.bus.device(0x20)
    ind.apply(OPEN)
    pcf.power_cycle()
    assert pcf.pin(0)  # reset latch 1 = coil off: fail-safe wiring


@pytest.mark.parametrize(
    ("pin", "port", "bit"),
    [("A0", 0, 0), ("A7", 0, 7), ("B3", 1, 3)],
    ids=["A0", "A7", "B3"],
)
def test_mcp23017_relay_pin_is_output_driven_high_only_while_open(open_board, pin, port, bit):
    ind = open_board(f"sim://pca9685?relay=mcp23017@0x21:{pin}")
    mcp = ind.bus.device(0x21)
    assert mcp.r["IODIR", port] == 0xFF & ~(1 << bit)
    assert mcp.pin(pin) is False
    ind.apply(OPEN)
    assert mcp.r["OLAT", port] == 1 << bit and mcp.pin(pin) is True
    assert ind.bus.read_byte_data(0x21, OLATA + port) == 1 << bit
    ind.apply(SHUT)
    assert mcp.pin(pin) is False
    assert mcp.ignored_writes == []


def test_mcp23017_power_loss_makes_pin_an_input(open_board):
    ind = open_board("sim://pca9685?relay=mcp23017@0x20:A0")
    mcp = ind.bus.device(0x20)
    ind.apply(OPEN)
    mcp.power_cycle()
    assert mcp.pin("A0") is None  # Hi-Z; the driver transistor's pull-down keeps the coil off


def test_mcp23017_left_in_bank1_is_reset_to_bank0_at_open(clock):
    from hal.indicators.board import BoardConfig, Pca9685Indicators, RelaySpec
    from hal.indicators.simbus import Pca9685Model

    mcp = Mcp23017Model(0x20)
    bus = SimI2cBus([Pca9685Model(0x40, clock=clock), mcp])
    bus.write_byte_data(0x20, IOCON, 0x80)  # someone else's code chose BANK=1
    assert mcp.bank == 1
    cfg = BoardConfig(relay=RelaySpec("mcp23017", 0x20, 0, active_low=False))
    ind = Pca9685Indicators(bus, cfg, clock=clock, sleep=clock.sleep, background=False)
    ind.apply(OPEN)
    assert mcp.bank == 0 and mcp.pin("A0") is True
    assert bus.read_byte_data(0x20, IODIRA) == 0xFE
    ind.close()


def test_mcp23017_model_bank1_register_map():
    mcp = Mcp23017Model(0x20)
    bus = SimI2cBus([mcp])
    bus.write_byte_data(0x20, IOCON, 0x80)
    bus.write_byte_data(0x20, 0x10, 0x0F)  # IODIRB in BANK=1
    bus.write_byte_data(0x20, 0x0A, 0x01)  # OLATA in BANK=1
    assert mcp.r["IODIR", 1] == 0x0F and mcp.r["OLAT", 0] == 0x01
    bus.write_byte_data(0x20, 0x07, 0xFF)  # INTFA in BANK=1: read-only
    bus.write_byte_data(0x20, 0x0E, 0xFF)  # past OLATA in BANK=1: no register
    assert mcp.ignored_writes == [(0x07, 0xFF, "INTF is read-only"), (0x0E, 0xFF, "no such register")]


def test_pulse_relay_opens_for_given_seconds(open_board, clock):
    ind = open_board()
    pcf = ind.bus.device(0x20)
    ind.pulse_relay(2.0)
    assert not pcf.pin(0)
    assert ind.tick(clock.now + 1.9) == pytest.approx(0.1)
    assert not pcf.pin(0)
    ind.tick(clock.now + 2.0)
    assert pcf.pin(0) and ind.desired.relay_open is False


@pytest.mark.parametrize(
    "seconds", [0, -1, 31, float("nan"), "2"], ids=["zero", "negative", "too-long", "nan", "text"]
)
def test_pulse_relay_rejects_bad_duration(open_board, seconds):
    ind = open_board()
    with pytest.raises(IndicatorStateError, match="relay pulse"):
        ind.pulse_relay(seconds)
    assert ind.bus.device(0x20).pin(0)


def test_relay_none_board_still_shows_colours(open_board):
    ind = open_board("sim://pca9685?relay=none")
    ind.apply(OPEN)
    assert ind.fault is None and ind.bus.device(0x40).channel_duty(1) == 1.0


@pytest.mark.parametrize(
    "url",
    [
        "sim://pca9685",
        "sim://pca9685?relay=mcp23017@0x21:B3",
        "sim://pca9685?relay=pcf8574@0x20:1&relay_active=high",
    ],
    ids=["pcf8574-active-low", "mcp23017-B3", "pcf8574-active-high"],
)
def test_observe_reports_what_the_chips_output(open_board, url):
    from hal.indicators import RED
    from hal.indicators.sim import Observed, observe

    ind = open_board(url)
    assert observe(ind) == Observed((255, 120, 0), 0, False)
    ind.apply(IndicatorState(colour=RED, buzzer_hz=440))
    assert observe(ind) == Observed((255, 0, 0), 436, False)
    ind.apply(OPEN)
    assert observe(ind) == Observed((0, 255, 0), 0, True)


def test_mcp23017_silent_reset_caught_by_read_back(open_board, clock):
    ind = open_board("sim://pca9685?relay=mcp23017@0x20:B2", verify_interval=5.0)
    mcp = ind.bus.device(0x20)
    mcp.power_cycle()  # brown-out: every pin an input again, no I2C error
    ind.apply(OPEN)  # the latch write succeeds but the pin does not drive
    assert mcp.pin("B2") is None
    assert ind.verify() == "relay pin is not an output (expander reset?)"
    ind.tick(clock.now + 5.0)
    assert mcp.pin("B2") is True and ind.verify() is None
