"""Capture files: what a reader sent, one read per line, for replay through the real framer.

Format (docs/readers.md): UTF-8 text; ``#`` starts a comment; each non-blank line is one read as hex
bytes (spaces between bytes optional), optionally preceded by a timestamp in seconds that contains a
decimal point and a space::

    # sharaka-gate reader capture serial:///dev/serial/by-id/usb-ACME-if00?baud=9600
    0.000000 1c 02 50 3c 55 54 4f
    0.012417 45 52 49 4b 53 53 4f 4e
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.errors import HalError


class BadCaptureError(HalError, ValueError):
    """A capture file line that is not ``[SECONDS ]HEX BYTES``; names the line and the value."""


@dataclass(frozen=True)
class CapturedRead:
    """One read: its bytes and, if the capture has them, its time in seconds."""

    at: float | None
    data: bytes


def parse_capture(text: str, source: str = "<capture>") -> list[CapturedRead]:
    """Parse a capture; raises BadCaptureError naming ``source:line`` and the offending text."""
    reads = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        head, _, rest = line.partition(" ")
        at = None
        if "." in head:
            try:
                at = float(head)
            except ValueError:
                raise BadCaptureError(f"{source}:{number}: timestamp {head!r} is not a number of seconds")
            line = rest
        try:
            data = bytes.fromhex(line)
        except ValueError:
            raise BadCaptureError(
                f"{source}:{number}: {line[:40]!r} is not hex bytes; expected e.g. '0.125 02 50 3c'"
            )
        reads.append(CapturedRead(at, data))
    return reads


def format_read(at: float | None, data: bytes) -> str:
    """One capture line for a read."""
    hexed = data.hex(" ")
    return hexed if at is None else f"{at:.6f} {hexed}"
