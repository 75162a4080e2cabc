"""Gaps in a gate's event sequence numbers (docs/protocol.md "Central node", RELIABILITY 44).

A gate numbers its events 1, 2, 3, ... (the outbox sequence) and sends hits ahead of routine events, so
numbers arrive out of order; a number still missing ``grace`` seconds after a higher one arrived means an
event held back or lost on the way (a broker that keeps one hit, a gate that dropped routine events when
its outbox was full). ``SeqGaps`` keeps the missing numbers as at most ``MAX_RANGES`` ranges, each with the
time it was first missed; it is stored per gate as JSON (``gates.seq_gaps``).

    g = SeqGaps.loads(row_json)
    g.add(seq, now)          # per stored event
    g.missing(), g.overdue(now, grace)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

MAX_RANGES = 64  # a gate that sends wild numbers cannot grow this without bound; the oldest ranges merge


@dataclass
class SeqGaps:
    """Highest sequence seen and the missing ranges below it: [first, last, since]."""

    high: int = 0
    ranges: list[list[float]] = field(default_factory=list)

    def add(self, seq: int, now: float) -> None:
        """Account for a stored event's sequence number (duplicates change nothing)."""
        if seq > self.high:
            if seq > self.high + 1:
                self.ranges.append([self.high + 1, seq - 1, now])
            self.high = seq
            if len(self.ranges) > MAX_RANGES:  # merge the two oldest: counts stay right, ranges bounded
                a, b = self.ranges[0], self.ranges[1]
                self.ranges[0:2] = [[a[0], b[1], min(a[2], b[2])]]
            return
        for i, (first, last, since) in enumerate(self.ranges):
            if first <= seq <= last:
                parts = [[first, seq - 1, since]] if seq > first else []
                parts += [[seq + 1, last, since]] if seq < last else []
                self.ranges[i : i + 1] = parts
                return

    def missing(self) -> int:
        """How many sequence numbers below the highest have not arrived (merged ranges count their span)."""
        return int(sum(last - first + 1 for first, last, _ in self.ranges))

    def overdue(self, now: float, grace: float) -> int:
        """Missing numbers that have been missing for more than ``grace`` seconds."""
        return int(sum(last - first + 1 for first, last, since in self.ranges if now - since > grace))

    def oldest(self) -> float | None:
        """When the oldest gap still open was first seen."""
        return min((since for _, _, since in self.ranges), default=None)

    def dumps(self) -> str:
        return json.dumps({"high": self.high, "ranges": self.ranges})

    @classmethod
    def loads(cls, text: str | None) -> SeqGaps:
        if not text:
            return cls()
        d = json.loads(text)
        return cls(int(d["high"]), [[int(a), int(b), float(c)] for a, b, c in d["ranges"]])
