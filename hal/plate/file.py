"""``file://PATH[?OPTIONS]``: replay a plate camera's capture (the same lines the camera sends).

    >>> reader = open_plate_reader("file:///var/lib/sharaka/plates.jsonl?pace=1")

The file holds one JSON read per line, exactly as the camera sends them
(``{"plate": "AB-123-CD", "country": "F", "confidence": 0.93}``); a read may carry ``"t"``, seconds since
the capture began, which ``pace=1`` honours (the reads come as fast as they came); ``#`` lines are comments.
At the end of the file ``read`` returns None and ``eof`` is true. This is how a technician replays what a
camera sent in the field, and how the agent's plate path is tested from outside.

Options: ``min_confidence`` (every plate reader), ``pace=0|1`` (default 0).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hal.errors import DeviceUnavailableError
from hal.plate import OPTIONS, PlateReader
from hal.url import UrlGrammar, bool_value

GRAMMAR = UrlGrammar("plate reader", "file://PATH[?OPTIONS]", {**OPTIONS, "pace": "0|1"})


class ReplayPlateReader(PlateReader):
    """The real plate-reader code over a capture file."""

    GRAMMAR = GRAMMAR

    def __init__(self, url: str, **kwargs: Any) -> None:
        parts, options = self.parse_url(url)
        self.pace = bool_value("plate reader", options, "pace", False)
        super().__init__(**{**self.common_options(options), **kwargs})
        self.path = Path(parts.netloc + parts.path)
        try:
            self._lines = [line for line in self.path.read_bytes().splitlines(keepends=True)
                           if not line.lstrip().startswith(b"#")]
        except OSError as exc:
            raise DeviceUnavailableError(f"plate capture {str(self.path)!r}: {exc.strerror or exc}") from exc
        self._next = 0
        self._start = time.monotonic()

    @classmethod
    def _check_options(cls, options: dict[str, str]) -> object:
        bool_value("plate reader", options, "pace", False)
        return cls.common_options(options)

    @classmethod
    def _check_location(cls, url: str, parts: Any) -> None:
        if not (parts.netloc + parts.path):
            raise GRAMMAR.error(f"plate capture URL {url!r}: expected file://PATH")

    def _read_chunk(self, timeout: float) -> bytes | None:
        if self._next >= len(self._lines):
            return b""
        line = self._lines[self._next]
        if self.pace:
            due = self._start + _offset(line)
            wait = due - time.monotonic()
            if wait > timeout:
                time.sleep(timeout)
                return None
            if wait > 0:
                time.sleep(wait)
        self._next += 1
        return line if line.endswith(b"\n") else line + b"\n"


def _offset(line: bytes) -> float:
    try:
        t = json.loads(line).get("t", 0.0)
        return float(t) if isinstance(t, int | float) else 0.0
    except (ValueError, AttributeError):
        return 0.0
