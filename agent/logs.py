"""Structured logs: one JSON object per line on stdout (journald keeps them as they are).

    >>> setup_logging("INFO")
    >>> logger.info("decision", extra={"fields": {"decision": "CLEAR", "seq": 7}})
    {"ts": 1795000000.123, "level": "INFO", "logger": "agent.screening", "msg": "decision", "decision": "CLEAR", "seq": 7}

Fields go in ``extra={"fields": {...}}``. MRZ contents and names are logged only at DEBUG: callers
put them under ``extra={"fields": ..., "private": {...}}``, which this formatter drops unless the
record is DEBUG, so an INFO line can never carry them by accident of a format string.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any


class JsonLinesFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, logger, msg, the record's fields, exception text."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object per record: time, level, logger, message and the record's structured fields."""
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        private = getattr(record, "private", None)
        if isinstance(private, dict) and record.levelno <= logging.DEBUG:
            out.update(private)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def setup_logging(level: str = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (stdout) as JSON lines; returns the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonLinesFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old.formatter, JsonLinesFormatter):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


@contextmanager
def logging_for_run(level: str = "INFO", stream: IO[str] | None = None) -> Iterator[logging.Handler]:
    """``setup_logging`` for the length of one command's run: on leaving, its handler comes off the root logger and
    the root's level is back. Left on, a caller in the same process (a test) kept a handler writing to the stream
    the command found, and once that stream was closed every later record printed "--- Logging error ---"."""
    root = logging.getLogger()
    level_before = root.level
    handler = setup_logging(level, stream)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level_before)
