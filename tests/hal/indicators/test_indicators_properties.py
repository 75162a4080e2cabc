"""Whatever faults happen in whatever order, the board ends up showing the desired state."""

import errno
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hal.indicators import AMBER, GREEN, RED, IndicatorState
from hal.indicators.sim import Observed, observe, open_sim_indicators
from tests.support.clock import FakeClock

states = st.builds(
    IndicatorState,
    colour=st.sampled_from([GREEN, RED, AMBER, (0, 0, 255), (10, 200, 30)]),
    buzzer_hz=st.sampled_from([0, 440, 1000, 1526]),
    relay_open=st.booleans(),
)
ops = st.one_of(
    st.tuples(st.just("apply"), states),
    st.tuples(
        st.just("fail"), st.sampled_from([None, 0x40, 0x20]), st.sampled_from([errno.EREMOTEIO, errno.ENODEV])
    ),
    st.tuples(st.just("fail_once"), st.sampled_from([0x40, 0x20])),
    st.tuples(st.just("heal")),
    st.tuples(st.just("power_cycle"), st.sampled_from([0x40, 0x20])),
    st.tuples(st.just("wait"), st.floats(0.0, 3.0)),
    st.tuples(st.just("pulse"), st.floats(0.1, 2.0)),
)


def expected(state: IndicatorState) -> Observed:
    hz = {0: 0, 440: 436, 1000: 1017, 1526: 1526}[state.buzzer_hz]
    return Observed(state.colour, hz, state.relay_open)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, max_size=25), st.sampled_from(["pcf8574@0x20:0", "mcp23017@0x20:B2"]))
def test_desired_state_shown_after_any_fault_sequence_heals(script, relay):
    clock = FakeClock(0.0)
    ind = open_sim_indicators(
        f"sim://pca9685?relay={relay}", clock=clock, sleep=clock.sleep, background=False
    )
    bus = ind.bus
    try:
        for op in script:
            if op[0] == "apply":
                ind.apply(op[1])
            elif op[0] == "fail":
                bus.fail(op[1], errno=op[2])
            elif op[0] == "fail_once":
                bus.fail(op[1], count=1)
            elif op[0] == "heal":
                bus.heal()
            elif op[0] == "power_cycle":
                bus.device(op[1]).power_cycle()
            elif op[0] == "pulse":
                ind.pulse_relay(op[1])
            else:
                clock.now += op[1]
                ind.tick()
        bus.heal()
        clock.now += 2.0  # past any pulse and the retry interval
        ind.tick()
        clock.now += 5.0  # past the read-back interval: catches a silent power cycle
        ind.tick()
        assert ind.fault is None
        assert observe(ind) == expected(ind.desired)
        assert bus.device(0x40).ignored_writes == [] and bus.device(0x20).ignored_writes == []
    finally:
        ind.close()
    assert observe(ind) == Observed(AMBER, 0, False)


@pytest.mark.slow
def test_a_minute_of_i2c_errors_never_blocks_apply_and_recovers_within_2s():
    """RELIABILITY 33 in real time: every transfer fails for 60 s while decisions keep coming."""
    ind = open_sim_indicators("sim://pca9685")
    try:
        ind.bus.fail(errno=errno.EREMOTEIO)
        worst, end = 0.0, time.monotonic() + 60
        i = 0
        while time.monotonic() < end:
            t0 = time.monotonic()
            ind.apply(IndicatorState(colour=RED if i % 2 else GREEN, relay_open=not i % 2))
            worst = max(worst, time.monotonic() - t0)
            assert ind.fault is not None
            i += 1
            time.sleep(0.05)
        ind.bus.heal()
        assert ind.wait_for_recovery(2.0)
        assert worst < 0.05
        assert observe(ind) == expected(ind.desired)
    finally:
        ind.close()
