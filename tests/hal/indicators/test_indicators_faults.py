"""I2C faults: retried, reported as .fault without raising, safe state where possible, re-applied on recovery."""

import atexit
import errno
import threading
import time

import pytest

from hal.errors import DeviceUnavailableError
from hal.indicators import AMBER, GREEN, RED, SAFE_STATE, IndicatorState, IndicatorStateError
from hal.indicators.sim import open_sim_indicators

CLEAR = IndicatorState(colour=GREEN, relay_open=True)
HIT = IndicatorState(colour=RED, buzzer_hz=1000)


def duties(ind):
    chip = ind.bus.device(0x40)
    return [chip.channel_duty(ch) for ch in range(4)]


@pytest.mark.parametrize(
    ("err", "kind"),
    [(errno.EREMOTEIO, "nack"), (errno.ENODEV, "bus gone"), (errno.ENXIO, "bus gone"), (errno.EIO, "i2c")],
    ids=["nack-121", "bus-gone-ENODEV", "bus-gone-ENXIO", "EIO"],
)
def test_i2c_error_reported_as_fault_then_cleared_after_heal(open_board, clock, err, kind):
    ind = open_board()
    ind.bus.fail(errno=err)
    ind.apply(HIT)  # must not raise
    assert ind.fault is not None and ind.fault.startswith(kind + ":")
    assert ind.desired == HIT
    ind.bus.heal()
    ind.tick(clock.now + 0.4)  # before the retry interval: still faulted
    assert ind.fault is not None
    ind.tick(clock.now + 0.5)
    assert ind.fault is None
    assert duties(ind)[0] == 1.0 and duties(ind)[3] == 0.5 and ind.verify() is None


def test_transient_nack_is_retried_inside_apply(open_board):
    ind = open_board(attempts=3)
    ind.bus.fail(0x40, count=2)
    ind.apply(IndicatorState(colour=GREEN))
    assert ind.fault is None and duties(ind)[:3] == [0.0, 1.0, 0.0]


def test_retries_exhausted_sets_fault(open_board):
    ind = open_board(attempts=3)
    ind.bus.fail(0x40, count=3)
    before = ind.bus.transfers
    ind.apply(IndicatorState(colour=GREEN))
    assert ind.fault is not None and "0x40" in ind.fault
    assert ind.bus.transfers - before >= 3


def test_led_chip_fault_still_shuts_relay(open_board, clock):
    ind = open_board(attempts=1)
    ind.apply(CLEAR)
    pcf = ind.bus.device(0x20)
    assert not pcf.pin(0)  # gate released
    ind.bus.fail(0x40)  # the PCA9685 stops answering; the expander still does
    ind.apply(IndicatorState(colour=RED, relay_open=True))
    assert ind.fault is not None and "0x40" in ind.fault
    assert ind.tick() == 0.5  # the worker's first job: the safe state; next retry in 0.5 s
    assert pcf.pin(0)  # safe state where possible: relay de-energised


def test_stalled_bus_does_not_stall_apply():
    """An adapter that times out (SDA held low) costs apply one bounded attempt, then nothing."""
    ind = open_sim_indicators("sim://pca9685", retry_interval=0.05)
    try:
        ind.bus.fail(errno=errno.ETIMEDOUT, delay=0.2)
        t0 = time.monotonic()
        ind.apply(CLEAR)
        first = time.monotonic() - t0
        assert ind.fault is not None and ind.fault.startswith("i2c:")
        worst = 0.0
        for i in range(20):  # meanwhile the worker keeps retrying, each retry stalling 0.2 s
            t0 = time.monotonic()
            ind.apply(HIT if i % 2 else CLEAR)
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.01)
        assert first < 0.35  # one stalled transfer, no further attempts past the budget
        assert worst < 0.05
        ind.bus.heal()
        assert ind.wait_for_recovery(2.0)
        assert duties(ind)[:3] == [1.0, 0.0, 0.0] and duties(ind)[3] == 0.5  # HIT, the last state asked for
    finally:
        ind.close()


def test_desired_state_reapplied_after_chip_power_loss(open_board, clock):
    ind = open_board()
    ind.apply(CLEAR)
    ind.bus.fail(errno=errno.ENODEV)
    ind.bus.device(0x40).power_cycle()  # board lost power: registers back to reset values
    ind.bus.device(0x20).power_cycle()
    ind.tick(clock.now + 10)  # verify read-back fails -> fault
    assert ind.fault is not None and ind.fault.startswith("bus gone")
    ind.bus.heal()
    ind.tick(clock.now + 11)
    assert ind.fault is None
    assert duties(ind)[:3] == [0.0, 1.0, 0.0] and not ind.bus.device(0x20).pin(0)


def test_silent_chip_reset_detected_by_read_back(open_board, clock):
    ind = open_board(verify_interval=5.0)
    ind.apply(IndicatorState(colour=GREEN))
    ind.bus.device(0x40).power_cycle()  # brown-out without any I2C error
    assert duties(ind)[1] == 0.0
    ind.tick(clock.now + 5.0)
    assert duties(ind)[:3] == [0.0, 1.0, 0.0] and ind.fault is None


def test_recovery_reapplies_within_two_seconds_with_worker_thread():
    ind = open_sim_indicators("sim://pca9685", retry_interval=0.5)
    try:
        ind.bus.fail()
        ind.apply(CLEAR)
        assert ind.fault is not None
        ind.bus.heal()
        healed = time.monotonic()
        assert ind.wait_for_recovery(2.0)
        assert time.monotonic() - healed < 2.0
        assert duties(ind)[1] == 1.0 and not ind.bus.device(0x20).pin(0)
    finally:
        ind.close()


def test_apply_never_raises_during_a_long_outage(open_board, clock):
    ind = open_board()
    ind.bus.fail()
    for i in range(200):  # every call fails, for a simulated minute
        clock.now += 0.3
        ind.apply(CLEAR if i % 2 else HIT)
        ind.tick()
    assert ind.fault is not None and ind.desired == CLEAR  # the last state asked for
    ind.bus.heal()
    ind.tick(clock.now + 0.5)
    assert ind.fault is None and duties(ind) == [0.0, 1.0, 0.0, 0.0] and not ind.bus.device(0x20).pin(0)


def test_open_with_absent_chips_reports_fault_and_recovers(clock):
    ind = open_sim_indicators("sim://pca9685", clock=clock, sleep=clock.sleep, background=False)
    ind.close()
    # a board that is not powered yet: fault at open, no exception
    from hal.indicators.board import BoardConfig, Pca9685Indicators
    from hal.indicators.simbus import Pca9685Model, Pcf8574Model, SimI2cBus

    bus = SimI2cBus()
    board = Pca9685Indicators(bus, BoardConfig(), clock=clock, sleep=clock.sleep, background=False)
    assert board.fault is not None and board.fault.startswith("nack")
    bus.attach(Pca9685Model(0x40, clock=clock))
    bus.attach(Pcf8574Model(0x20))
    board.tick(clock.now + 1)
    assert board.fault is None and bus.device(0x40).channel_duty(0) == 1.0  # amber safe state
    board.close()


class SimAdapter:
    """``/dev/i2c-N`` of a USB I2C adapter: present or not; each open is a new SimI2cBus (a new descriptor) over
    the same chips. ``unplug()`` makes every open bus fail with ENODEV for good, as a removed adapter's does."""

    def __init__(self, clock, present=True):
        from hal.indicators.simbus import Pca9685Model, Pcf8574Model

        self.chips = [Pca9685Model(0x40, clock=clock), Pcf8574Model(0x20)]
        self.present = present
        self.opened = []

    def open(self):
        from hal.indicators.simbus import SimI2cBus

        if not self.present:
            raise DeviceUnavailableError(errno.ENOENT, "I2C adapter /dev/i2c-7 cannot be opened: No such file")
        bus = SimI2cBus(self.chips)
        self.opened.append(bus)
        return bus

    def unplug(self):
        self.present = False
        for bus in self.opened:
            bus.fail(errno=errno.ENODEV)


def test_i2c_adapter_missing_at_open_is_a_fault_then_opened_and_desired_state_shown(clock):
    from hal.indicators.board import BoardConfig, Pca9685Indicators
    from hal.indicators.sim import observe

    adapter = SimAdapter(clock, present=False)
    board = Pca9685Indicators(None, BoardConfig(), open_bus=adapter.open, clock=clock, sleep=clock.sleep,
                              background=False)  # fmt: skip
    assert board.fault is not None and board.fault.startswith("bus gone") and "/dev/i2c-7" in board.fault
    board.apply(CLEAR)  # recorded, not raised
    board.tick(clock.now + 1)
    assert board.fault is not None and adapter.opened == []
    adapter.present = True  # i2c-dev loaded, or the adapter plugged in
    board.tick(clock.now + 2)
    assert board.fault is None and observe(board).colour == GREEN and observe(board).relay_energised
    board.close()
    assert not observe(board).relay_energised


def test_i2c_adapter_gone_mid_run_is_opened_again_and_the_desired_state_reapplied(clock):
    """A removed adapter's descriptor never works again: the board closes it and opens the node anew."""
    from hal.indicators.board import BoardConfig, Pca9685Indicators
    from hal.indicators.sim import observe

    adapter = SimAdapter(clock)
    board = Pca9685Indicators(None, BoardConfig(), open_bus=adapter.open, clock=clock, sleep=clock.sleep,
                              background=False)  # fmt: skip
    first = board.bus
    adapter.unplug()
    board.apply(HIT)
    assert board.fault is not None and board.fault.startswith("bus gone") and first.closed
    for chip in adapter.chips:
        chip.power_cycle()  # the board lost power with its adapter
    adapter.present = True
    board.tick(clock.now + 1)
    assert board.fault is None and board.bus is not first and len(adapter.opened) == 2
    assert observe(board).colour == RED and observe(board).buzzer_hz > 0 and not observe(board).relay_energised
    board.close()


def test_close_applies_safe_state_and_is_idempotent(open_board):
    ind = open_board()
    ind.apply(CLEAR)
    ind.close()
    ind.close()
    chip = ind.bus.device(0x40)
    assert ind.bus.device(0x20).pin(0)
    assert [chip.channel_duty(ch) for ch in range(3)] == [1.0, 1928 / 4096, 0.0]
    assert ind.bus.closed
    with pytest.raises(DeviceUnavailableError, match="closed"):
        ind.apply(CLEAR)


def test_close_during_bus_fault_does_not_raise(open_board):
    ind = open_board()
    ind.apply(CLEAR)
    ind.bus.fail()
    ind.close()
    assert ind.bus.closed


def test_close_joins_worker_thread():
    before = set(threading.enumerate())  # other tests' boards are not this test's business
    ind = open_sim_indicators("sim://pca9685?relay=mcp23017@0x20:A0")
    ind.apply(IndicatorState(colour=RED, blink_hz=5))
    (worker,) = [t for t in threading.enumerate() if t not in before and t.name == "Pca9685Indicators"]
    ind.close()
    assert not worker.is_alive()


def test_blink_toggles_led_and_buzzer_without_changing_frequency(open_board, clock):
    ind = open_board()
    start = clock.now  # the pattern's phase starts when it is applied
    ind.apply(IndicatorState(colour=RED, blink_hz=2, buzzer_hz=800))
    chip = ind.bus.device(0x40)
    prescale = chip.prescale
    assert duties(ind) == [1.0, 0.0, 0.0, 0.5]
    assert ind.tick(start + 0.1) == pytest.approx(0.15)
    ind.tick(start + 0.25)
    assert duties(ind) == [0.0, 0.0, 0.0, 0.0] and chip.prescale == prescale
    ind.tick(start + 0.5)
    assert duties(ind) == [1.0, 0.0, 0.0, 0.5]


@pytest.mark.parametrize(
    "state",
    [
        IndicatorState(colour=(256, 0, 0)),
        IndicatorState(colour=(0, -1, 0)),
        IndicatorState(colour=(0, 0)),  # type: ignore[arg-type]
        IndicatorState(colour="green"),  # type: ignore[arg-type]
        IndicatorState(blink_hz=-1),
        IndicatorState(blink_hz=100),
        IndicatorState(buzzer_hz=23),
        IndicatorState(buzzer_hz=1527),
        IndicatorState(buzzer_hz=1000.5),  # type: ignore[arg-type]
    ],
    ids=[
        "red-256",
        "green-negative",
        "two-channels",
        "colour-name",
        "blink-negative",
        "blink-100Hz",
        "buzzer-below-24Hz",
        "buzzer-above-1526Hz",
        "buzzer-float",
    ],
)
def test_unshowable_state_rejected_and_previous_state_kept(open_board, state):
    ind = open_board()
    ind.apply(CLEAR)
    with pytest.raises(IndicatorStateError, match=r"invalid|out of range"):
        ind.apply(state)
    assert ind.desired == CLEAR and duties(ind)[1] == 1.0 and ind.fault is None


def test_buzzer_state_rejected_when_board_has_no_buzzer(open_board):
    ind = open_board("sim://pca9685?buzzer=none")
    with pytest.raises(IndicatorStateError, match="buzzer=none"):
        ind.apply(HIT)
    assert ind.desired == SAFE_STATE and ind.desired.colour == AMBER


def test_open_after_crash_shuts_relay_left_energised(clock):
    """RELIABILITY 34: a restarted agent finds the relay as the crashed one left it and shuts it first."""
    from hal.indicators.board import BoardConfig, Pca9685Indicators
    from hal.indicators.simbus import Pca9685Model, Pcf8574Model, SimI2cBus

    bus = SimI2cBus([Pca9685Model(0x40, clock=clock), Pcf8574Model(0x20)])
    crashed = Pca9685Indicators(bus, BoardConfig(), clock=clock, sleep=clock.sleep, background=False)
    crashed.apply(CLEAR)  # ... and the process dies here without close() or atexit
    atexit.unregister(crashed.close)
    assert not bus.device(0x20).pin(0)
    writes = []
    bus.on_write = lambda addr, reg, value: writes.append((addr, reg, value))
    restarted = Pca9685Indicators(bus, BoardConfig(), clock=clock, sleep=clock.sleep, background=False)
    assert writes[0] == (0x20, None, 0xFF)  # the very first write de-energises the relay
    assert bus.device(0x20).pin(0) and restarted.fault is None
    restarted.close()


EXIT_SCRIPT = """
import sys
from hal.indicators import GREEN, IndicatorState
from hal.indicators.sim import open_sim_indicators
ind = open_sim_indicators("sim://pca9685")
ind.apply(IndicatorState(colour=GREEN, relay_open=True))
ind.bus.on_write = lambda a, r, v: print(a, r, v, flush=True)
{ending}
"""


@pytest.mark.parametrize(
    "ending", ["sys.exit(0)", "raise RuntimeError('agent bug')"], ids=["sys-exit", "unhandled-exception"]
)
def test_interpreter_exit_without_close_leaves_relay_shut(ending):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT.format(ending=ending)], capture_output=True, text=True, timeout=60
    )
    assert "32 None 255" in out.stdout.splitlines()  # PCF8574 @0x20 latch 0xFF: coil off
