"""Replay a capture file through the real framer: how framing is debugged and tested from outside.

URL: ``replay://FILE?framing=…`` (``replay:///abs/path.hex`` or a path relative to the working
directory, ``replay://captures/desko.hex``). Reads come back in order, each as one read; a gap
between timestamps longer than ``idle`` counts as the line going idle, and so does the end of the
file, after which ``read()`` returns None.

    >>> reader = open_reader("replay://tests/data/captures/access-is.hex?framing=stx-etx")
    >>> reader.read()
"""

from __future__ import annotations

from urllib.parse import SplitResult, unquote

from hal.errors import DeviceUnavailableError
from hal.reader import DocumentReader, reader_grammar
from hal.reader.capture import CapturedRead, parse_capture
from hal.reader.serial import SERIAL_OPTIONS


class ReplayDocumentReader(DocumentReader):
    """A capture played back read by read; time is the capture's own (no waiting)."""

    # a live reader's URL replays as is: its serial options are accepted and ignored
    GRAMMAR = reader_grammar("replay://FILE[?OPTIONS]", SERIAL_OPTIONS)

    @classmethod
    def _backend_settings(cls, url: str, parts: SplitResult, options: dict[str, str]) -> str:
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise cls.GRAMMAR.error(f"replay URL {url!r}: expected replay://FILE?framing=…")
        return path

    def _configure(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise DeviceUnavailableError(f"cannot read capture {path!r}: {exc}") from exc
        self._reads: list[CapturedRead] = parse_capture(text, path)
        self._next = 0
        self._at = 0.0

    def _open(self) -> None:
        pass

    def _read_bytes(self, timeout: float | None) -> bytes | None:
        if self._next >= len(self._reads):
            return None
        item = self._reads[self._next]
        self._next += 1
        if item.at is not None:
            self._at = item.at
        return item.data

    def _now(self) -> float:
        return self._at

    def _close(self) -> None:
        pass
