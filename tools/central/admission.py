"""What the central node lets in, before any work is spent on a message (docs/protocol.md "Central node",
RELIABILITY 44): a token bucket per gate and message class, and a bounded inbound queue that pushes back
on the broker when full. ``FairQueues``: the same budgets for the federation relay's peer centres, each with
its own bounded queue, served in turn (docs/central.md "Federation").

The gate id comes from the topic, which the broker ACL lets only that gate publish to, so a gate spends
only its own budget. A message over budget is dropped unread and counted (an event is not acked, so the
gate sends it again later: nothing is lost). A rejected message (bad signature, out of range) costs
``reject_cost`` tokens more, so a gate that keeps sending junk is slowed down long before an honest one.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from agent.protocol import topics

T = TypeVar("T")


@dataclass(frozen=True)
class Rate:
    """A sustained rate (messages per second) and the burst allowed above it."""

    per_second: float
    burst: float


def default_rates() -> dict[str, Rate]:
    # events: an honest gate drains a backlog at a few thousand per second (docs/protocol.md figures)
    return {
        topics.EVENT: Rate(5000, 10000),
        topics.HIT: Rate(5000, 10000),
        topics.STATUS: Rate(5, 20),
        topics.CMD_RESULT: Rate(20, 100),
        topics.HITLIST_REQ: Rate(50, 200),  # each answer reads and sends up to 64 KiB
        topics.QUERY: Rate(50, 200),
        topics.KEY_ROTATE: Rate(1, 50),  # a pending rotation is repeated every 10 s
        topics.ENROL_REQ: Rate(0.5, 10),  # per enrolment client (enrol-{token id}): a person retrying
    }


MAX_BUCKETS = 100_000  # buckets kept before the full ones are forgotten (enrolment client ids are anyone's to pick)


@dataclass
class AdmissionConfig:
    """Per-gate budgets by topic leaf, the inbound queue bound and what a reject costs."""

    rates: dict[str, Rate] = field(default_factory=default_rates)
    queue_max: int = 20000
    reject_cost: float = 10.0


class TokenBucket:
    """Classic token bucket; ``take`` fails without taking when the bucket is empty or in debt."""

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = rate.burst
        self.at = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.rate.burst, self.tokens + (now - self.at) * self.rate.per_second)
        self.at = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def charge(self, cost: float, now: float) -> None:
        """Take ``cost`` tokens more, going into debt if need be (down to minus one burst)."""
        self._refill(now)
        self.tokens = max(-self.rate.burst, self.tokens - cost)


class Admission:
    """Per-(gate, leaf) token buckets. Thread-safe: the network thread admits, the writer charges rejects."""

    def __init__(self, config: AdmissionConfig, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._mono = monotonic
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._forget_at = MAX_BUCKETS
        self._lock = threading.Lock()

    def _bucket(self, gate_id: str, leaf: str) -> TokenBucket | None:
        rate = self.config.rates.get(leaf)
        if rate is None:
            return None
        b = self._buckets.get((gate_id, leaf))
        if b is None:
            now = self._mono()
            if len(self._buckets) >= self._forget_at:
                self._forget_full(now)
                self._forget_at = max(MAX_BUCKETS, 2 * len(self._buckets))  # amortised: no scan per new bucket
            b = self._buckets[(gate_id, leaf)] = TokenBucket(rate, now)
        return b

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that refilled to their burst: a new one is the same, so no decision changes. Without
        this, every client id that ever sent one message kept a bucket: anyone may connect to the public
        enrolment account under a new ``enrol-…`` client id for each request."""
        for key, bucket in list(self._buckets.items()):
            bucket._refill(now)
            if bucket.tokens >= bucket.rate.burst:
                del self._buckets[key]

    def admit(self, gate_id: str, leaf: str) -> bool:
        """True when this gate may send one more message on ``leaf`` now."""
        with self._lock:
            b = self._bucket(gate_id, leaf)
            return b is None or b.take(self._mono())

    def charge_reject(self, gate_id: str, leaf: str) -> None:
        """A message from this gate was rejected: it costs ``reject_cost`` more."""
        with self._lock:
            b = self._bucket(gate_id, leaf)
            if b is not None:
                b.charge(self.config.reject_cost, self._mono())


class InboundQueue:
    """A bounded FIFO between paho's network thread and the writer. ``put`` blocks while full (QoS 1: the
    network thread stops reading, so the broker holds the rest) or returns False (QoS 0: dropped, the gate
    resends what is not acked). An ``urgent`` item (a hit) is taken before every other item queued: a hit
    does not wait behind a backlog the gates are draining (the gates send hits first for the same reason)."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._urgent: deque[tuple[str, bytes]] = deque()
        self._items: deque[tuple[str, bytes]] = deque()
        self._cond = threading.Condition()
        self.high_water = 0
        self.blocked = 0  # times the network thread waited for room

    def __len__(self) -> int:
        return len(self._urgent) + len(self._items)

    @property
    def urgent(self) -> int:
        """Urgent items waiting."""
        return len(self._urgent)

    def put(self, item: tuple[str, bytes], *, block: bool, stop: threading.Event, urgent: bool = False) -> bool:
        with self._cond:
            if len(self) >= self.maxlen:
                if not block:
                    return False
                self.blocked += 1
                while len(self) >= self.maxlen and not stop.is_set():
                    self._cond.wait(0.5)
            (self._urgent if urgent else self._items).append(item)
            self.high_water = max(self.high_water, len(self))
            self._cond.notify_all()
            return True

    def take(self, most: int, linger: float, stop: threading.Event) -> list[tuple[str, bytes]]:
        """Up to ``most`` items, urgent ones first: waits up to 0.5 s for the first, then ``linger`` s for more,
        unless an urgent item is waiting: a hit is taken at once, with what came before it."""
        with self._cond:
            if not len(self):
                self._cond.wait(0.5)
            deadline = time.monotonic() + linger
            while 0 < len(self) < most and not self._urgent and not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch = [self._urgent.popleft() for _ in range(min(len(self._urgent), most))]
            batch += [self._items.popleft() for _ in range(min(len(self._items), most - len(batch)))]
            self._cond.notify_all()
            return batch

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class FairQueues(Generic[T]):
    """Per-sender bounded FIFOs served in turn, each sender at its own token-bucket ``rate``: a flooding sender
    fills only its own queue (``maxlen``; what does not fit is dropped and counted in ``dropped``) and spends only
    its own budget, so another sender's item is taken at the next turn. Thread-safe: the network thread puts, one
    worker takes."""

    def __init__(self, rate: Rate, maxlen: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.maxlen, self._mono = rate, maxlen, monotonic
        self._queues: dict[str, deque[T]] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._turn: deque[str] = deque()  # senders in the order they are served
        self._cond = threading.Condition()
        self.dropped: Counter[str] = Counter()

    def put(self, sender: str, item: T) -> bool:
        """Queue ``item`` of ``sender``; False (counted in ``dropped``) when that sender's queue is full."""
        with self._cond:
            queue = self._queues.get(sender)
            if queue is None:
                queue = self._queues[sender] = deque()
                self._buckets[sender] = TokenBucket(self.rate, self._mono())
                self._turn.append(sender)
            if len(queue) >= self.maxlen:
                self.dropped[sender] += 1
                return False
            queue.append(item)
            self._cond.notify_all()
            return True

    def take(self, stop: threading.Event, timeout: float = 0.5) -> tuple[str, T] | None:
        """The next (sender, item): the senders with items in turn, each only while its budget lasts. Waits up to
        ``timeout`` s (less when a budget refills sooner); None when nothing may be taken yet."""
        with self._cond:
            deadline = self._mono() + timeout
            while not stop.is_set():
                now = self._mono()
                refill = timeout
                for _ in range(len(self._turn)):
                    sender = self._turn[0]
                    self._turn.rotate(-1)
                    queue, bucket = self._queues[sender], self._buckets[sender]
                    if not queue:
                        continue
                    if bucket.take(now):
                        return sender, queue.popleft()
                    refill = min(refill, (1 - bucket.tokens) / bucket.rate.per_second)
                left = deadline - now
                if left <= 0:
                    return None
                self._cond.wait(min(left, max(refill, 0.001)))
            return None

    def charge(self, sender: str, cost: float) -> None:
        """``sender``'s item was refused: it costs ``cost`` tokens more (down to minus one burst)."""
        with self._cond:
            bucket = self._buckets.get(sender)
            if bucket is not None:
                bucket.charge(cost, self._mono())

    def depth(self, sender: str) -> int:
        """Items of ``sender`` waiting."""
        with self._cond:
            return len(self._queues.get(sender, ()))

    def wake(self) -> None:
        """Wake a waiting ``take`` (e.g. to stop)."""
        with self._cond:
            self._cond.notify_all()
