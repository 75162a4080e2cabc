"""What a document reader yields: a document (MRZ rows) or a misread. Kept apart so framers import it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReaderDocument:
    """One complete MRZ block as rows of ``A-Z0-9<`` (2x44, 2x36 or 3x30)."""

    lines: tuple[str, ...]
    received_at: float  # time.monotonic() when the last byte of the block arrived


@dataclass(frozen=True)
class Misread:
    """A read that cannot be a document (bad characters, bad BCC, truncated); never an event of its own."""

    reason: str
    received_at: float
