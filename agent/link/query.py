"""Online queries to the centre (FIND; docs/protocol.md "Online query"): MQTT 5 request/response.

    pending = queries.start({"document": ["UTO", "L898902C3"], "person": ["ERIKSSON", "ANNA MARIA", "740812", False]})
    ...                                  # the local lists answer meanwhile
    answer = pending.wait_until(deadline_at)  # CentreAnswer, or None: the local answer stands

``start`` never blocks: it publishes a signed ``query`` whose document, person and vehicle fields are sealed
to the centre's key (the broker and anyone on the path see no identifier), with a response topic and the
query id as correlation data, and returns at once. ``Pending.wait_until`` waits at most until the deadline
it is given and takes no reply that reached the gate after it.
Replies are taken on paho's network thread (a traveller is waiting), never queued behind the worker; the
envelope (agent.link.gate ``_open_from_node``) has verified the centre's signature and the schema before
``on_reply`` sees a body. Each reply is stamped on arrival; one that arrived after its query's deadline, or
for a query whose decision was already taken, is *late*: counted, logged
(a late HIT as a warning), and otherwise ignored. Offline, on MQTT 3.1.1 or without a node key the query is
*unreachable* at once and costs the decision nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nacl.signing import SigningKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.link.connection import Connection
from agent.protocol import topics
from agent.protocol.envelope import seal

logger = logging.getLogger(__name__)

ANSWERED, LATE, UNREACHABLE = "answered", "late", "unreachable"
RECENT_KEPT = 1024  # query ids remembered after their deadline, to tell a late reply from a stray one


@dataclass(frozen=True)
class CentreAnswer:
    """The centre's answer: a hit (exact or weak) on one of its lists, and the versions it answered from."""

    hit: bool
    kind: str = ""
    reason: str = ""
    ref: str = ""
    strength: str = "exact"
    basis: str = ""  # a weak hit's basis (agent.hitlist.api.Hit: "birth_date_transposed", ...), "" otherwise
    list_id: str = ""
    lists: tuple[tuple[str, int], ...] = ()  # (list id, version) of every list the centre consulted


@dataclass
class QueryStats:
    """Counters reported in status (``online``)."""

    asked: int = 0
    answered: int = 0
    late: int = 0  # decisions taken without the centre: it did not answer within the deadline
    unreachable: int = 0  # decisions taken without asking: offline, MQTT 3.1.1, no node key
    hits: int = 0  # answers in time that named a hit
    late_replies: int = 0  # replies that came after their decision
    late_hits: int = 0  # of which named a hit (logged as a warning: the officer did not see it)
    stray: int = 0  # verified replies to no query of ours

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return dict(self.__dict__)


@dataclass
class Pending:
    """One query in flight; ``wait_until`` returns the centre's answer or None, and sets ``state``."""

    qid: str
    _owner: OnlineQueries | None
    state: str = UNREACHABLE
    answer: CentreAnswer | None = None
    asked_at: float = 0.0  # the owner's monotonic clock when the query was handed to the connection
    answered_at: float | None = None  # ... when the reply reached the gate (set by ``on_reply``)
    woke_at: float | None = None  # ... when ``wait_until`` stopped waiting (after its deadline if woken late)
    overslept: float = 0.0  # how far past its deadline ``wait_until``'s wait resumed (0: called after the deadline)
    _event: threading.Event = field(default_factory=threading.Event)

    def wait_until(self, deadline_at: float) -> CentreAnswer | None:
        """The answer if it reached the gate by ``deadline_at`` (the owner's monotonic clock: the reader's,
        ``time.monotonic``), else None. Waits at most until ``deadline_at``; and the deadline is a hard bound
        on what the decision learns, not only on the wait: a reply stamped after ``deadline_at`` is *late*
        even when this thread wakes after it arrived (a thread descheduled past the deadline cannot take it)."""
        if self._owner is None:
            return None  # never asked: unreachable
        left = deadline_at - self._owner.monotonic()
        if left > 0:
            self._event.wait(left)
        self.woke_at = self._owner.monotonic()
        if left > 0:  # the scheduler's lateness in resuming this wait; a call already past the deadline has none
            self.overslept = max(0.0, self.woke_at - deadline_at)
        self._owner._settle(self, deadline_at)
        return self.answer

    @property
    def sent(self) -> bool:
        """False for a query never published (unreachable at once: nothing to wait for)."""
        return self._owner is not None

    def arrived_by(self, at: float) -> bool:
        """Whether the reply has reached the gate, waiting for it at most until ``at`` (the owner's monotonic
        clock). Settles nothing: ``wait_until`` still decides, against the deadline, whether it is used."""
        if self._owner is None:
            return False
        left = at - self._owner.monotonic()
        return self._event.wait(left) if left > 0 else self._event.is_set()

    def wait(self, timeout: float) -> CentreAnswer | None:
        """``wait_until`` ``timeout`` seconds from now."""
        return self.wait_until((self._owner.monotonic() if self._owner is not None else 0.0) + timeout)


class OnlineQueries:
    """Queries awaiting the centre's answer, by query id."""

    def __init__(self, gate_id: str, connection: Connection, key: Callable[[], SigningKey],
                 clock: Callable[[], float], *, sealer: Any = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.gate_id = gate_id
        self._connection = connection
        self._key = key
        self._clock = clock
        self._sealer = sealer  # agent.screening.events.EventSealer: seals to the centre's key
        self.monotonic = monotonic  # stamps replies; deadlines are given in it (the reader's clock)
        self._lock = threading.Lock()
        self._waiting: dict[str, Pending] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()  # ids whose decision was taken without them
        self.stats = QueryStats()

    def start(self, fields: dict[str, Any]) -> Pending:
        """Publish a query about ``fields`` (what is asked, sealed to the centre: ``document`` [issuing state,
        number], ``person`` [surname, given names, birth date YYMMDD, name truncated], ``vehicle`` VIN; built by
        ``agent.screening.online.query_fields``) and return at once (see the module docstring)."""
        with self._lock:
            self.stats.asked += 1
        if self._sealer is None or not self._connection.is_connected or self._connection.protocol != 5:
            with self._lock:
                self.stats.unreachable += 1
            return Pending("", None)
        qid = uuid.uuid4().hex
        pending = Pending(qid, self)
        with self._lock:
            self._waiting[qid] = pending
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topics.gate(self.gate_id, topics.QUERY_REPLY)
        props.CorrelationData = qid.encode()
        body = {"id": qid, "ts": self._clock(), "gate": self.gate_id,
                "sealed": self._sealer.seal({"id": qid, **fields})}
        # QoS 0: paho holds QoS 1 messages beyond its in-flight window, so a query would wait behind a draining
        # backlog of events; and a query resent after a reconnect would come long after its deadline.
        info = self._connection.publish(topics.gate(self.gate_id, topics.QUERY), seal("query", body, [self._key()]),
                                        properties=props, qos=0)
        if info is None:  # the connection went away between the check and the publish
            with self._lock:
                self._waiting.pop(qid, None)
                self.stats.unreachable += 1
            return Pending("", None)
        pending.asked_at = self.monotonic()
        return pending

    def ask(self, issuing_state: str, document_number: str, timeout: float) -> dict[str, Any] | None:
        """Blocking form for one document (CLI, tests): {hit, reason, ref, source}, or None."""
        answer = self.start({"document": [issuing_state, document_number]}).wait(timeout)
        if answer is None:
            return None
        return {"hit": answer.hit, "reason": answer.reason, "ref": answer.ref, "source": "central"}

    def _settle(self, pending: Pending, deadline_at: float) -> None:
        """The decision stops waiting for ``pending``: answered (the reply reached the gate by ``deadline_at``),
        or late (remembered to spot its reply; a reply stamped after the deadline is counted as a late reply)."""
        with self._lock:
            if self._waiting.pop(pending.qid, None) is None:
                return  # settled before
            answer, at = pending.answer, pending.answered_at
            if answer is not None and at is not None and at <= deadline_at:
                pending.state = ANSWERED
                self.stats.answered += 1
                self.stats.hits += answer.hit
                return
            pending.state = LATE
            self.stats.late += 1
            if answer is not None:  # arrived, but after the deadline: the decision is taken without it
                pending.answer = None
                self._count_late_reply(answer.hit)
                late_hit = answer.hit
            else:
                late_hit = False
                self._recent[pending.qid] = None
                while len(self._recent) > RECENT_KEPT:
                    self._recent.popitem(last=False)
        if late_hit:
            self._warn_late_hit(pending.qid, answer.ref if answer is not None else "")

    def _count_late_reply(self, hit: bool) -> None:
        self.stats.late_replies += 1
        self.stats.late_hits += bool(hit)

    def _warn_late_hit(self, qid: str, ref: str) -> None:
        logger.warning("the centre answered HIT after the decision was taken without it",
                       extra={"fields": {"gate": self.gate_id, "query": qid, "ref": ref}})

    def on_reply(self, body: dict[str, Any]) -> None:
        """A verified ``query_reply`` body: stamps and wakes its query, or is counted as late or stray and
        ignored. Whether it came in time is judged against the query's deadline by ``_settle``."""
        req = body["req"]
        at = self.monotonic()
        with self._lock:
            pending = self._waiting.get(req) if body["gate"] == self.gate_id else None
            if pending is None:
                late = req in self._recent
                if late:
                    del self._recent[req]
                    self._count_late_reply(bool(body["hit"]))
                else:
                    self.stats.stray += 1
            elif pending.answer is None:
                pending.answer = CentreAnswer(
                    hit=bool(body["hit"]), kind=str(body.get("kind", "")), reason=str(body.get("reason", "")),
                    ref=str(body.get("ref", "")), strength=str(body.get("strength", "exact")),
                    basis=str(body.get("basis", "")),
                    list_id=str(body.get("list_id", "")),
                    lists=tuple((str(x["list_id"]), int(x["version"])) for x in body.get("lists", ())))
                pending.answered_at = at
                pending._event.set()
                return
            else:
                return
        if late and body["hit"]:
            self._warn_late_hit(req, str(body.get("ref", "")))
