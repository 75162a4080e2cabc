"""Indicators at the gate: RGB status LED, buzzer, gate relay.

    >>> from hal import open_indicators
    >>> ind = open_indicators("sim://pca9685")
    >>> ind.apply(IndicatorState(colour=GREEN, relay_open=True))

No business logic here: the agent decides which state a decision shows.
"""

from __future__ import annotations

from dataclasses import dataclass

Colour = tuple[int, int, int]  # 0-255 per channel
OFF: Colour = (0, 0, 0)
GREEN: Colour = (0, 255, 0)
RED: Colour = (255, 0, 0)
AMBER: Colour = (255, 120, 0)


@dataclass(frozen=True)
class IndicatorState:
    """What the indicator board should show; applied whole, so a fault recovery can re-apply it."""

    colour: Colour = AMBER
    blink_hz: float = 0.0  # 0: steady
    buzzer_hz: int = 0  # 0: silent
    relay_open: bool = False


SAFE_STATE = IndicatorState(colour=AMBER, relay_open=False)


class Indicators:
    """Interface of every indicator backend."""

    def apply(self, state: IndicatorState) -> None:
        """Show ``state``; on an I2C fault, retry, then record the fault and keep the desired state."""
        raise NotImplementedError

    def close(self) -> None:
        """Apply the safe state and release the bus; idempotent."""
