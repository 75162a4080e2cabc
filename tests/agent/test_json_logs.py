"""Logs are JSON lines; MRZ contents and names reach them only at DEBUG."""

from __future__ import annotations

import ast
import io
import json
import logging

from agent.logs import setup_logging
from tests.support.gatesim import CLEAR_DOC
from tests.support.paths import REPO


def test_private_fields_are_dropped_above_debug_and_kept_at_debug():
    stream = io.StringIO()
    handler = setup_logging("DEBUG", stream=stream)
    try:
        log = logging.getLogger("agent.test")
        private = {"mrz": {"surname": "MUSTERMANN"}}
        log.info("decision", extra={"fields": {"decision": "CLEAR", "seq": 3}, "private": private})
        log.debug("decision detail", extra={"fields": {"seq": 3}, "private": private})
    finally:
        logging.getLogger().removeHandler(handler)
    info, debug = (json.loads(line) for line in stream.getvalue().splitlines())
    assert info["msg"] == "decision" and info["decision"] == "CLEAR" and info["seq"] == 3
    assert info["level"] == "INFO" and "mrz" not in info
    assert debug["mrz"] == {"surname": "MUSTERMANN"}


def test_screening_log_at_info_carries_no_mrz(make_gate):
    stream = io.StringIO()
    handler = setup_logging("INFO", stream=stream)
    try:
        make_gate().swipe(CLEAR_DOC)
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert '"msg":"decision"' in text
    assert "MUSTERMANN" not in text and "C01X00T47" not in text and "ERIKA" not in text


LEVELS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _formats(args: list[ast.expr]) -> bool:
    """A message with %-arguments, or one that is not a constant string (an f-string, a concatenation)."""
    return len(args) > 1 or (bool(args) and not isinstance(args[0], ast.Constant))


def test_no_log_call_formats_values_into_its_message():
    """agent/logs.py: values go in ``extra={"fields": ...}`` (or ``"private"``), the message stays constant."""
    formatted = []
    for path in sorted([*REPO.glob("agent/**/*.py"), *REPO.glob("hal/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LEVELS
                    and isinstance(node.func.value, ast.Name) and node.func.value.id.endswith("logger")
                    and _formats(node.args[1:] if node.func.attr == "log" else node.args)):
                formatted.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not formatted, f"log calls that format values into the message: {formatted}"
