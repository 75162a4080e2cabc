"""The online query's deadline is a hard bound (RELIABILITY 47, docs/online-query.md "Deadline"), proved on an
injected clock so that no figure depends on how fast this machine is: a reply that reached the gate after the
deadline is never used, however late the deciding thread wakes; one that reached it in time always is; the
wait is never asked to last past the deadline; and the screener's deadline never lies past the configured one.
The other side is scripted at the connection (``ScriptedConnection``), the queries code is the real one. With
a real screener and outbox: a silent centre's event is committed during the wait, so only showing follows the
deadline (docs/online-query.md "Commit")."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

import hal
from agent.config import ScreeningConfig
from agent.hitlist.memory import MemoryHitList
from agent.link.query import ANSWERED, LATE, UNREACHABLE, OnlineQueries
from agent.outbox import PRIORITY_HIT, PRIORITY_ROUTINE, Outbox
from agent.screening.decision import CLEAR, HIT
from agent.screening.events import EventSealer, decode_event
from agent.screening.pipeline import WAKE_MARGIN_S, Screener, centre_deadline_at
from agent.screening.sources import Query

DEADLINE = 0.3
SUBJECT = {"document": ["UTO", "L898902C3"]}


class Clock:
    """The gate's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class ScriptedConnection:
    """The MQTT connection as ``OnlineQueries`` sees it: connected with MQTT 5, every publish taken."""

    sent: list[str] = field(default_factory=list)
    is_connected: bool = True
    protocol: int = 5

    def publish(self, topic: str, payload: bytes, **_kw: Any) -> object:
        self.sent.append(topic)
        return object()


def queries(clock: Clock) -> OnlineQueries:
    return OnlineQueries("gate-t", ScriptedConnection(), lambda: SigningKey(b"k" * 32), lambda: 0.0,
                         sealer=EventSealer(SigningKey(b"c" * 32).verify_key), monotonic=clock)


def reply(pending, hit: bool = True) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"req": pending.qid, "gate": "gate-t", "hit": hit, "reason": "stolen", "ref": "R-1", "kind": "document",
            "lists": [{"list_id": "sltd", "version": 3}]}


# Times in seconds after the swipe: the reply reaches the gate at `reply_at` (None: never); the deciding thread
# looks at `wakes_at`, which a loaded machine may put anywhere after the deadline or after the reply.
times = st.floats(min_value=0.0, max_value=2.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(reply_at=st.one_of(st.none(), times), late_by=times, hit=st.booleans())
def test_reply_is_used_exactly_when_it_reached_the_gate_by_the_deadline(reply_at, late_by, hit) -> None:
    clock = Clock()
    swipe = clock.now
    q = queries(clock)
    pending = q.start(SUBJECT)
    deadline_at = swipe + DEADLINE
    if reply_at is not None:
        clock.now = swipe + reply_at
        q.on_reply(reply(pending, hit))
    # the thread wakes past the deadline, or once the reply is in: it has nothing to wait for (no real time)
    clock.now = max(deadline_at, swipe + (reply_at or 0.0)) + late_by
    answer = pending.wait_until(deadline_at)
    in_time = reply_at is not None and swipe + reply_at <= deadline_at
    assert (answer is not None) == in_time
    assert pending.state == (ANSWERED if in_time else LATE)
    stats = q.stats
    assert (stats.answered, stats.late) == ((1, 0) if in_time else (0, 1))
    assert stats.late_replies == (1 if reply_at is not None and not in_time else 0)
    assert stats.late_hits == (1 if reply_at is not None and not in_time and hit else 0)
    # a reply after the decision is still counted late, never used: nothing waits for it any more
    q.on_reply(reply(pending, hit))
    assert pending.answer is answer and q.stats.answered == (1 if in_time else 0)


def test_centre_that_never_answers_is_waited_for_until_the_deadline_and_no_longer() -> None:
    """The wait asked of the event is exactly what is left of the deadline (never more), then late."""
    clock = Clock()
    q = queries(clock)
    pending = q.start(SUBJECT)
    asked: list[float] = []

    class Event:
        def wait(self, timeout: float) -> bool:
            asked.append(timeout)
            clock.now += timeout  # nobody answers: the wait times out
            return False

    pending._event = Event()  # type: ignore[assignment]
    deadline_at = clock.now + DEADLINE
    clock.now += 0.12  # the local lists took 120 ms
    assert pending.wait_until(deadline_at) is None and pending.state == LATE
    assert len(asked) == 1 and abs(asked[0] - (DEADLINE - 0.12)) < 1e-9 and abs(clock.now - deadline_at) < 1e-9


def test_centre_that_answers_just_after_the_deadline_is_late() -> None:
    clock = Clock()
    q = queries(clock)
    pending = q.start(SUBJECT)
    deadline_at = clock.now + DEADLINE
    clock.now = deadline_at + 1e-6  # one microsecond late, before the deciding thread looked
    q.on_reply(reply(pending))
    assert pending.wait_until(deadline_at) is None and pending.state == LATE
    assert (q.stats.late_replies, q.stats.late_hits) == (1, 1)


def test_only_a_wait_resumed_past_its_deadline_counts_as_overslept() -> None:
    """What the screener keeps room for after the wait is the scheduler's lateness in resuming it: a wait resumed
    40 ms past its deadline overslept 40 ms; a call made once the deadline had passed (the held commit took that
    long) waited for nothing and overslept nothing; a reply that woke the wait in time leaves nothing either."""
    clock = Clock()
    q = queries(clock)

    class LateEvent:
        def wait(self, timeout: float) -> bool:
            clock.now += timeout + 0.04
            return False

    woken_late = q.start(SUBJECT)
    woken_late._event = LateEvent()  # type: ignore[assignment]
    assert woken_late.wait_until(clock.now + DEADLINE) is None and abs(woken_late.overslept - 0.04) < 1e-9
    called_late = q.start(SUBJECT)
    deadline_at = clock.now + DEADLINE
    clock.now = deadline_at + 0.2
    assert called_late.wait_until(deadline_at) is None and called_late.overslept == 0.0
    answered = q.start(SUBJECT)
    deadline_at = clock.now + DEADLINE
    clock.now += 0.002
    q.on_reply(reply(answered))
    assert answered.wait_until(deadline_at) is not None and answered.overslept == 0.0


@settings(max_examples=300, deadline=None)
@given(finish=st.lists(st.floats(min_value=0.0, max_value=5.0, allow_nan=False), max_size=40),
       deadline=st.floats(min_value=0.01, max_value=2.0, allow_nan=False))
def test_screener_deadline_never_lies_past_the_configured_one(finish, deadline) -> None:
    """However long committing and showing took lately, the wait for the centre ends no later than the
    configured deadline after the swipe, less the wake-up margin (or a third of the deadline, the smaller), and
    leaves the centre at least two thirds of it."""
    end = centre_deadline_at(500.0, deadline, finish)
    assert 500.0 + deadline * 2 / 3 - 1e-9 <= end <= 500.0 + deadline - min(WAKE_MARGIN_S, deadline / 3) + 1e-9


class WatchedOutbox(Outbox):
    """The real outbox, noting each write and whether the query was still in flight (not yet settled) then."""

    def __init__(self, path: Path, queries: OnlineQueries) -> None:
        super().__init__(path)
        self.queries = queries
        self.log: list[tuple[str, bool]] = []

    def _note(self, what: str) -> None:
        self.log.append((what, self.queries.stats.answered + self.queries.stats.late == 0))

    def append_with_seq(self, *args: Any, **kwargs: Any) -> int:
        seq = super().append_with_seq(*args, **kwargs)
        self._note("append held" if kwargs.get("held") else "append")
        return seq

    def replace(self, *args: Any, **kwargs: Any) -> None:
        super().replace(*args, **kwargs)
        self._note("replace")

    def release(self, seq: int) -> None:
        super().release(seq)
        self._note("release")


def screener(tmp_path: Path, deadline: float, connected: bool = True) -> tuple[Screener, OnlineQueries, WatchedOutbox]:
    node = SigningKey(b"c" * 32)
    q = OnlineQueries("gate-t", ScriptedConnection(is_connected=connected), lambda: SigningKey(b"k" * 32),
                      lambda: 0.0, sealer=EventSealer(node.verify_key))  # the gate's own monotonic clock
    box = WatchedOutbox(tmp_path / "outbox.sqlite3", q)
    s = Screener(gate_id="gate-t", site="s", reader_id="r", rules=ScreeningConfig(duplicate_window_s=0.0),
                 hitlist=MemoryHitList([], version=1), outbox=box, indicators=hal.open_indicators("sim://pca9685"),
                 sealer=EventSealer(node.verify_key), centre=q, centre_deadline_s=deadline)
    return s, q, box


def committed(path: Path) -> list[tuple[int, dict[str, Any]]]:
    db = sqlite3.connect(path)
    try:
        return [(prio, decode_event(body)) for prio, body in db.execute("SELECT priority, body FROM outbox")]
    finally:
        db.close()


def test_silent_centre_event_is_committed_while_it_could_still_answer_and_only_showing_follows(tmp_path) -> None:
    """With the centre gone the event (local answer, centre late) is made durable during the wait, held back
    from the link; at the deadline it is released as it is: no commit is left after the deadline."""
    s, _q, box = screener(tmp_path, deadline=0.5)
    decision = s.handle_query(Query(document=("UTO", "L898902C3")))
    assert (decision.verdict, decision.centre) == (CLEAR, LATE)
    assert box.log == [("append held", True), ("release", False)]
    [(priority, event)] = committed(box.path)
    assert (event["decision"], event["centre"], priority) == (CLEAR, LATE, PRIORITY_ROUTINE)
    assert [r.seq for r in box.pending(10)] == [event["seq"]]  # released: the link sends it


def test_centre_answering_after_the_held_commit_still_decides_and_its_event_replaces_the_held_one(tmp_path) -> None:
    """The centre answers HIT after the silent case's event was committed, before the deadline: the decision
    is the HIT, the held row is rewritten with it (a hit's priority) and only then shown and released; the
    link never saw the silent version."""
    s, q, box = screener(tmp_path, deadline=6.0)
    seen_while_held: list[list[int]] = []

    def centre() -> None:  # answers once the gate has committed the silent case (polls the file, no timing)
        while not committed(box.path):
            threading.Event().wait(0.01)
        seen_while_held.append([r.seq for r in box.pending(10)])
        [pending] = list(q._waiting.values())
        q.on_reply(reply(pending, hit=True))

    thread = threading.Thread(target=centre)
    thread.start()
    decision = s.handle_query(Query(document=("UTO", "L898902C3")))
    thread.join()
    assert seen_while_held == [[]]  # held: nothing for the link to send
    assert (decision.verdict, decision.centre) == (HIT, ANSWERED) and "online_hit" in decision.reasons
    assert box.log == [("append held", True), ("replace", False), ("release", False)]
    [(priority, event)] = committed(box.path)
    assert (event["decision"], event["centre"], priority) == (HIT, ANSWERED, PRIORITY_HIT)


def test_offline_gate_commits_once_and_holds_nothing(tmp_path) -> None:
    """Nothing was asked (no connection): nothing to wait for, one plain commit."""
    s, _q, box = screener(tmp_path, deadline=0.5, connected=False)
    decision = s.handle_query(Query(document=("UTO", "L898902C3")))
    assert (decision.verdict, decision.centre) == (CLEAR, UNREACHABLE)
    assert box.log == [("append", True)]


class SlowHeldOutbox(WatchedOutbox):
    """A disk that stalls on the silent case's held commit for ``stall`` seconds (real time)."""

    stall = 0.0

    def append_with_seq(self, *args: Any, **kwargs: Any) -> int:
        if kwargs.get("held"):
            time.sleep(self.stall)
        return super().append_with_seq(*args, **kwargs)


def test_held_commit_ending_past_the_deadline_does_not_shorten_the_next_waits(tmp_path) -> None:
    """A held commit the disk stalled past the deadline delays that decision (its event must be durable before
    it is shown), but it is not work after the wait: the next travellers' waits for the centre keep their whole
    deadline (ending them early would not make a held commit, which starts at SPECULATE_AFTER, any shorter)."""
    s, q, _box = screener(tmp_path, deadline=0.9)
    box = SlowHeldOutbox(tmp_path / "slow.sqlite3", q)
    box.stall = 1.3  # from ~90 ms after the entry: the commit ends ~0.5 s past the deadline
    s.outbox = box
    decision = s.handle_query(Query(document=("UTO", "L898902C3")))
    assert (decision.verdict, decision.centre) == (CLEAR, LATE)
    assert box.log == [("append held", True), ("release", False)]
    # what followed the wait was a release and the indicator's writes, not the stall (with it: the 0.3 s cap)
    assert centre_deadline_at(0.0, 0.9, s._finish_s) > 0.9 - 0.15


def test_deciding_thread_woken_late_makes_the_next_waits_end_that_much_earlier(tmp_path) -> None:
    """The deadline runs swipe to indicator: when the scheduler resumed the deciding thread late after a wait
    that ran out, the next waits end earlier by that much (within the cap), like a slow commit."""
    s, q, _box = screener(tmp_path, deadline=0.3)
    start = q.start

    class LateEvent:  # nobody answers, and the thread resumes 50 ms after each timed wait
        def wait(self, timeout: float) -> bool:
            time.sleep(timeout + 0.05)
            return False

        def is_set(self) -> bool:
            return False

    def late(fields: dict[str, Any]) -> Any:
        pending = start(fields)
        pending._event = LateEvent()
        return pending

    q.start = late  # type: ignore[method-assign]
    assert centre_deadline_at(0.0, 0.3, s._finish_s) == 0.3 - WAKE_MARGIN_S
    s.handle_query(Query(document=("UTO", "L898902C3")))
    assert centre_deadline_at(0.0, 0.3, s._finish_s) <= 0.3 - WAKE_MARGIN_S - 0.05
