"""Document readers: the MRZ rows a reader sends, framed into documents.

    >>> from hal import open_reader
    >>> reader = open_reader("sim://reader?framing=lines")
    >>> reader.read(timeout=1.0)   # ReaderDocument, Misread, or None on timeout

The base class owns framing, limits, reopen-with-backoff and fault reporting; a backend fills
``_read_bytes`` (and ``_open``/``_close``).
"""

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


class DocumentReader:
    """Interface of every reader backend (the readers work fills in the framing base class)."""

    def read(self, timeout: float | None = None) -> ReaderDocument | Misread | None:
        """Next document or misread, or None when ``timeout`` passes with nothing complete."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the port; idempotent."""
