"""What an officer does on the screen: each action is an event to the centre and a line in the audit log.

    >>> actions = OfficerActions(outbox, gate_id="gate-a", site="site-a", audit_path=state / "audit.log")
    >>> actions.record("amina", "ack_hit", event="3f0c…")          # -> the event's id

Actions (docs/screen.md): ``ack_hit``, ``outcome`` (``intercepted``, ``false_match``, ``released``),
``override`` (``admit`` or ``refuse``, with a reason), ``ack_alert``, ``manual_entry`` (what kind was
entered, and the decision it produced). Each is queued in the outbox as kind ``officer`` (one durable
transaction, so it survives a restart and reaches the centre over the link like a decision's event, signed
by the gate's device key), and only then appended to ``STATE_DIR/audit.log`` (JSON lines, 0600, fsynced),
the booth's own record. Neither the event nor the audit line holds a traveller's document number or name:
they refer to the decision by its event id (the decision's own event carries the document, sealed). The
override reason is the officer's free text and may name someone: like a decision's personal fields it is
sealed to the central node's key (``seal_private``; left out without a node key), and the audit line and
the logs only say that there was one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.durable import write_all
from agent.outbox import PRIORITY_ROUTINE, Outbox
from agent.screening.events import EVENT_VERSION, EventSealer, encode_event, new_event_id, seal_private

logger = logging.getLogger(__name__)

ACTIONS = ("ack_hit", "outcome", "override", "ack_alert", "manual_entry")
OUTCOMES = ("intercepted", "false_match", "released")
OVERRIDES = ("admit", "refuse")
MAX_REASON = 500
SEALED_FIELDS = ("reason",)  # free text: sealed to the centre, never on the gate's disk in clear


class OfficerActions:
    """Queues officers' actions and keeps the audit log; see the module docstring. Thread-safe."""

    def __init__(self, outbox: Outbox, *, gate_id: str, site: str, audit_path: Path,
                 clock: Callable[[], float] = time.time, on_committed: Callable[[], None] | None = None,
                 sealer: EventSealer | None = None) -> None:
        self.outbox = outbox
        self.sealer = sealer  # the override reason (free text, may name someone) is sealed to the centre
        self.on_committed = on_committed  # wakes the link to send the new event
        self.gate_id, self.site = gate_id, site
        self.audit_path = audit_path
        self._clock = clock
        self._lock = threading.Lock()

    def record(self, officer: str, action: str, **details: Any) -> str:
        """Queue ``action`` by ``officer`` with its ``details`` (``event``, ``alert``, ``outcome``, ``override``,
        ``reason``, ``entry``); returns the new event's id. Raises ``ValueError`` for an unknown action and
        ``OutboxError`` when nothing could be committed (then nothing is audited either)."""
        if action not in ACTIONS:
            raise ValueError(f"officer action {action!r}: expected one of {', '.join(ACTIONS)}")
        event_id, wall = new_event_id(), self._clock()
        body = {k: v for k, v in details.items() if v is not None}

        def encode(seq: int) -> bytes:
            return encode_event(seal_private({"v": EVENT_VERSION, "type": "officer", "id": event_id, "seq": seq,
                                              "gate": self.gate_id, "site": self.site, "wall": wall,
                                              "officer": officer, "action": action, **body},
                                             self.sealer, SEALED_FIELDS))

        seq = self.outbox.append_with_seq("officer", event_id, encode, priority=PRIORITY_ROUTINE, now=wall)
        if self.on_committed is not None:
            self.on_committed()
        clear = {k: v for k, v in body.items() if k not in SEALED_FIELDS}
        self._audit({"ts": wall, "officer": officer, "action": action, "id": event_id, "seq": seq, **clear,
                     **{f"has_{k}": True for k in SEALED_FIELDS if k in body}})
        logger.info("officer action", extra={"fields": {
            "officer": officer, "action": action, "id": event_id, "seq": seq, **clear}})
        return event_id

    def _audit(self, line: dict[str, Any]) -> None:
        """Append one JSON line to the audit log and fsync it; a failure is logged (the event is queued)."""
        data = (json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                fd = os.open(self.audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    write_all(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                logger.error("audit log not written", extra={"fields": {"error": str(exc)}})
