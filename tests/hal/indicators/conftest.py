import pytest

from hal.indicators.sim import open_sim_indicators
from tests.support.clock import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def open_board(clock):
    """Open sim indicators with injected time and no worker thread; closes them after the test."""
    opened = []

    def _open(url: str = "sim://pca9685", **kwargs):
        kwargs.setdefault("background", False)
        ind = open_sim_indicators(url, clock=clock, sleep=clock.sleep, **kwargs)
        opened.append(ind)
        return ind

    yield _open
    for ind in opened:
        ind.close()
