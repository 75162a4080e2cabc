"""Screening: the decision for each read, its durable event and the indicator state it shows."""

from agent.screening.decision import CLEAR, HIT, REFER, Decision, decide
from agent.screening.pipeline import Screener, indicator_state

__all__ = ["CLEAR", "HIT", "REFER", "Decision", "Screener", "decide", "indicator_state"]
