"""Online document queries (docs/protocol.md "Online query"): MQTT 5 request/response with the centre.

The gate publishes a signed ``query`` with a response topic and correlation data and waits at most
``timeout`` seconds for the centre's signed ``query_reply``; offline, on MQTT 3.1.1 or without an answer
in time the caller gets None and falls back to the local list. Replies are taken on paho's network
thread (a traveller is waiting), never queued behind the worker.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from nacl.signing import SigningKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.link.connection import Connection
from agent.protocol import topics
from agent.protocol.envelope import seal


class _Waiter:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.answer: dict[str, Any] | None = None


class OnlineQueries:
    """Queries awaiting the centre's answer, by query id."""

    def __init__(self, gate_id: str, connection: Connection, key: Callable[[], SigningKey],
                 clock: Callable[[], float]) -> None:
        self.gate_id = gate_id
        self._connection = connection
        self._key = key
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: dict[str, _Waiter] = {}

    def ask(self, issuing_state: str, document_number: str, timeout: float) -> dict[str, Any] | None:
        """The centre's answer {hit, reason, ref, source} about a document, or None (offline, MQTT 3.1.1, late)."""
        if not self._connection.is_connected or self._connection.protocol != 5:
            return None
        qid = uuid.uuid4().hex
        waiter = _Waiter()
        with self._lock:
            self._waiting[qid] = waiter
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topics.gate(self.gate_id, topics.QUERY_REPLY)
        props.CorrelationData = qid.encode()
        body = {"id": qid, "ts": self._clock(), "gate": self.gate_id, "issuing_state": issuing_state,
                "document_number": document_number}
        try:
            info = self._connection.publish(topics.gate(self.gate_id, topics.QUERY),
                                            seal("query", body, [self._key()]), properties=props)
            if info is not None:
                waiter.event.wait(timeout)
        finally:
            with self._lock:
                self._waiting.pop(qid, None)
        return waiter.answer

    def on_reply(self, body: dict[str, Any]) -> None:
        """A verified ``query_reply`` body; wakes its caller unless it is late or not ours."""
        with self._lock:
            waiter = self._waiting.get(body["req"])
        if waiter is None or body["gate"] != self.gate_id:
            return  # late (the caller already fell back) or not ours
        waiter.answer = {"hit": body["hit"], "reason": str(body.get("reason", "")), "ref": str(body.get("ref", "")),
                         "source": "central"}
        waiter.event.set()
