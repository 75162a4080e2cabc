"""PCA9685 driver and register model: what the chip would output, checked from its registers."""

import errno

import pytest

from hal.indicators import AMBER, GREEN, RED, IndicatorState
from hal.indicators import pca9685 as pca
from hal.indicators.simbus import Pca9685Model, SimI2cBus


def led(model, channel):
    return model.led_registers(channel)


@pytest.mark.parametrize(
    ("hz", "prescale"),
    [(24, 253), (50, 121), (200, 30), (440, 13), (1000, 5), (1526, 3)],
    ids=["min-24Hz", "servo-50Hz", "reset-200Hz", "tone-440Hz", "led-1kHz", "max-1526Hz"],
)
def test_prescale_follows_datasheet_formula(hz, prescale):
    assert pca.prescale_for(hz) == prescale == round(25_000_000 / (4096 * hz)) - 1


@pytest.mark.parametrize("hz", [0, 23, 1527, 40_000], ids=["zero", "below-24", "above-1526", "ultrasonic"])
def test_prescale_out_of_range_frequency_rejected(hz):
    with pytest.raises(pca.Pca9685ValueError, match=repr(hz)):
        pca.prescale_for(hz)


def test_power_on_reset_values_match_datasheet():
    chip = Pca9685Model(0x40)
    bus = SimI2cBus([chip])
    assert bus.read_byte_data(0x40, pca.MODE1) == 0x11
    assert bus.read_byte_data(0x40, pca.MODE2) == 0x04
    assert bus.read_byte_data(0x40, pca.PRE_SCALE) == 0x1E
    assert [led(chip, ch) for ch in range(16)] == [[0, 0, 0, 0x10]] * 16
    assert not chip.is_running


def test_safe_state_amber_and_relay_shut_at_open(open_board):
    ind = open_board()
    chip, pcf = ind.bus.device(0x40), ind.bus.device(0x20)
    assert ind.fault is None
    assert led(chip, 0) == [0x00, 0x10, 0x00, 0x00]  # red full on
    assert led(chip, 1) == [0x00, 0x00, 0x88, 0x07]  # green 120/255 -> 1928 counts
    assert led(chip, 2) == [0x00, 0x00, 0x00, 0x10]  # blue full off
    assert led(chip, 3) == [0x00, 0x00, 0x00, 0x10]  # buzzer silent
    assert chip.prescale == 5 and chip.is_running
    assert pcf.latch == 0xFF and pcf.pin(0)  # active-low coil de-energised


@pytest.mark.parametrize(
    ("colour", "regs"),
    [
        (GREEN, [[0, 0, 0, 0x10], [0, 0x10, 0, 0], [0, 0, 0, 0x10]]),
        (RED, [[0, 0x10, 0, 0], [0, 0, 0, 0x10], [0, 0, 0, 0x10]]),
        ((0, 128, 1), [[0, 0, 0, 0x10], [0, 0, 0x08, 0x08], [0, 0, 0x10, 0x00]]),
    ],
    ids=["green", "red", "half-green-dim-blue"],
)
def test_colour_sets_exact_led_registers(open_board, colour, regs):
    ind = open_board()
    ind.apply(IndicatorState(colour=colour))
    chip = ind.bus.device(0x40)
    assert [led(chip, ch) for ch in range(3)] == regs
    assert [chip.channel_duty(ch) for ch in range(3)] == [
        min(1.0, round(c * 4096 / 255) / 4096) for c in colour
    ]


def test_custom_channel_map_drives_named_channels(open_board):
    ind = open_board("sim://pca9685?red=15&green=7&blue=8&buzzer=none")
    ind.apply(IndicatorState(colour=RED))
    chip = ind.bus.device(0x40)
    assert chip.channel_duty(15) == 1.0 and chip.channel_duty(0) == 0.0 and chip.channel_duty(7) == 0.0


def test_buzzer_tone_is_the_pwm_frequency_and_leds_keep_their_duty(open_board):
    ind = open_board()
    writes = []
    ind.bus.on_write = lambda addr, reg, value: writes.append((addr, reg, value))
    ind.apply(IndicatorState(colour=AMBER, buzzer_hz=440))
    chip = ind.bus.device(0x40)
    assert chip.prescale == 13 and abs(chip.frequency_hz - 436.0) < 0.1
    assert chip.channel_duty(3) == 0.5
    assert chip.channel_duty(0) == 1.0 and chip.channel_duty(1) == 1928 / 4096
    # the sleep dance: SLEEP set, PRE_SCALE written, woken, RESTART
    mode1 = [(reg, value) for _, reg, value in writes if reg in (pca.MODE1, pca.PRE_SCALE)]
    assert mode1[0] == (pca.MODE1, pca.AI | pca.SLEEP)
    assert mode1[1] == (pca.PRE_SCALE, 13)
    assert mode1[2] == (pca.MODE1, pca.AI)
    assert mode1[3] == (pca.MODE1, pca.AI | pca.RESTART)
    assert chip.is_running and chip.ignored_writes == []
    ind.apply(IndicatorState(colour=AMBER))
    assert chip.prescale == 5 and chip.channel_duty(3) == 0.0


def test_prescale_write_ignored_while_oscillator_runs():
    chip = Pca9685Model(0x40)
    bus = SimI2cBus([chip])
    bus.write_byte_data(0x40, pca.MODE1, pca.AI)  # wake
    bus.write_byte_data(0x40, pca.PRE_SCALE, 100)
    assert chip.prescale == 0x1E
    assert chip.ignored_writes == [(pca.PRE_SCALE, 100, "PRE_SCALE is write-protected while SLEEP=0")]


def test_prescale_below_hardware_minimum_reads_three():
    chip = Pca9685Model(0x40)
    SimI2cBus([chip]).write_byte_data(0x40, pca.PRE_SCALE, 1)
    assert chip.prescale == 3


def test_restart_sooner_than_500us_after_wake_is_ignored(clock):
    chip = Pca9685Model(0x40, clock=clock)
    bus = SimI2cBus([chip])
    driver = pca.Pca9685(bus, 0x40, sleep=lambda s: None)  # a driver that forgets to wait
    driver.init(1000)
    driver.set_counts(0, 2048)
    driver.set_frequency(440)
    assert chip.restart_pending and chip.channel_duty(0) == 0.0
    assert chip.ignored_writes[-1][2] == "RESTART written less than 500 us after wake"


def test_restart_after_settle_resumes_previous_pwm(clock):
    chip = Pca9685Model(0x40, clock=clock)
    driver = pca.Pca9685(SimI2cBus([chip]), 0x40, sleep=clock.sleep)
    driver.init(1000)
    driver.set_counts(0, 1024)
    driver.set_frequency(440)
    assert chip.is_running and chip.channel_duty(0) == 0.25 and chip.ignored_writes == []


def test_block_write_without_auto_increment_hits_one_register():
    chip = Pca9685Model(0x40)
    bus = SimI2cBus([chip])
    bus.write_i2c_block_data(0x40, pca.LED0_ON_L, [1, 2, 3, 4])  # MODE1.AI is 0 after reset
    assert led(chip, 0) == [4, 0, 0, 0x10]


def test_auto_increment_rolls_over_from_led15_to_mode1():
    chip = Pca9685Model(0x40)
    bus = SimI2cBus([chip])
    bus.write_byte_data(0x40, pca.MODE1, pca.AI | pca.SLEEP)
    bus.write_i2c_block_data(0x40, 0x44, [0x05, 0x00, pca.AI | pca.SLEEP | pca.ALLCALL])
    assert chip.regs[0x44] == 0x05 and chip.mode1 == pca.AI | pca.SLEEP | pca.ALLCALL


def test_reserved_register_writes_are_ignored():
    chip = Pca9685Model(0x40)
    bus = SimI2cBus([chip])
    bus.write_byte_data(0x40, 0x50, 0xAA)
    bus.write_byte_data(0x40, 0xFF, 0x01)  # TestMode
    assert bus.read_byte_data(0x40, 0x50) == 0 and bus.read_byte_data(0x40, 0xFF) == 0
    assert [w[2] for w in chip.ignored_writes] == ["reserved register", "reserved register"]


def test_reserved_bits_read_zero():
    chip = Pca9685Model(0x40)
    bus = SimI2cBus([chip])
    bus.write_byte_data(0x40, pca.MODE2, 0xFF)
    bus.write_byte_data(0x40, pca.LED0_ON_L + 1, 0xFF)
    assert bus.read_byte_data(0x40, pca.MODE2) == 0x1F
    assert bus.read_byte_data(0x40, pca.LED0_ON_L + 1) == 0x1F


def test_all_led_write_sets_every_channel_and_reads_zero():
    chip = Pca9685Model(0x40)
    bus = SimI2cBus([chip])
    bus.write_byte_data(0x40, pca.MODE1, pca.AI)
    bus.write_i2c_block_data(0x40, pca.ALL_LED_ON_L, [0, 0, 0x00, 0x04])
    assert [chip.channel_duty(ch) for ch in range(16)] == [0.25] * 16
    assert bus.read_i2c_block_data(0x40, pca.ALL_LED_ON_L, 4) == [0, 0, 0, 0]


def test_full_off_wins_over_full_on():
    chip = Pca9685Model(0x40)
    bus = SimI2cBus([chip])
    bus.write_byte_data(0x40, pca.MODE1, pca.AI)
    bus.write_i2c_block_data(0x40, pca.LED0_ON_L, [0, 0x10, 0, 0x10])
    assert chip.channel_duty(0) == 0.0


def test_invrt_inverts_output_duty():
    chip = Pca9685Model(0x40)
    bus = SimI2cBus([chip])
    bus.write_byte_data(0x40, pca.MODE1, pca.AI)
    bus.write_byte_data(0x40, pca.MODE2, pca.INVRT | pca.OUTDRV)
    bus.write_i2c_block_data(0x40, pca.LED0_ON_L, [0, 0, 0x00, 0x04])
    assert chip.channel_duty(0) == 0.75


def test_transfer_to_absent_address_nacks():
    bus = SimI2cBus([Pca9685Model(0x40)])
    with pytest.raises(OSError) as err:
        bus.read_byte_data(0x41, 0)
    assert err.value.errno == errno.EREMOTEIO


def test_driver_never_relies_on_an_ignored_write(open_board):
    ind = open_board()
    for state in [
        IndicatorState(colour=GREEN, relay_open=True),
        IndicatorState(colour=RED, buzzer_hz=1500, blink_hz=4),
        IndicatorState(colour=RED, buzzer_hz=24),
        IndicatorState(),
    ]:
        ind.apply(state)
        assert ind.verify() is None
    assert ind.bus.device(0x40).ignored_writes == []


def test_unchanged_state_writes_nothing(open_board):
    ind = open_board()
    ind.apply(IndicatorState(colour=GREEN))
    writes = []
    ind.bus.on_write = lambda *w: writes.append(w)
    ind.apply(IndicatorState(colour=GREEN))
    ind.apply(IndicatorState(colour=GREEN, relay_open=True))
    assert writes == [(0x20, None, 0xFE)]


def test_tone_change_shows_colour_first_and_never_sounds_a_stray_tone(open_board):
    ind = open_board()
    ind.apply(IndicatorState(colour=GREEN))
    writes = []
    ind.bus.on_write = lambda addr, reg, value: writes.append(reg)
    red_off_h, buzzer_off_h = pca.LED0_ON_L + 3, pca.LED0_ON_L + 4 * 3 + 3
    ind.apply(IndicatorState(colour=RED, buzzer_hz=440))
    assert writes.index(red_off_h) < writes.index(pca.PRE_SCALE) < writes.index(buzzer_off_h)
    writes.clear()
    ind.apply(IndicatorState(colour=AMBER))
    assert writes.index(buzzer_off_h) < writes.index(pca.PRE_SCALE)


def test_sim_bus_has_the_smbus2_calls_the_drivers_make():
    import inspect

    import smbus2

    from hal.indicators.bus import I2cBus

    names = [n for n in vars(I2cBus) if not n.startswith("_")]
    assert len(names) == 7
    for name in names:
        real = list(inspect.signature(getattr(smbus2.SMBus, name)).parameters)
        sim = list(inspect.signature(getattr(SimI2cBus, name)).parameters)
        assert sim == real, name


def test_a_chip_left_inverted_or_open_drain_is_driven_totem_pole_and_not_inverted_at_open(clock):
    """docs/indicators.md "Wiring": the outputs drive low-side transistors, totem-pole and not inverted
    (MODE2.OUTDRV=1, INVRT=0), whatever the chip was left with; inverted, green would show where red is asked."""
    from hal.indicators.board import BoardConfig, Pca9685Indicators

    chip = Pca9685Model(0x40, clock=clock)
    bus = SimI2cBus([chip])
    bus.write_byte_data(0x40, pca.MODE2, pca.INVRT | pca.OCH)  # someone else's code: inverted, open-drain
    ind = Pca9685Indicators(bus, BoardConfig(relay=None), clock=clock, sleep=clock.sleep, background=False)
    ind.apply(IndicatorState(colour=RED))
    assert bus.read_byte_data(0x40, pca.MODE2) == pca.OUTDRV
    assert [chip.channel_duty(ch) for ch in range(3)] == [1.0, 0.0, 0.0]
    ind.close()
