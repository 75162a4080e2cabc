"""The delivery window: which outbox rows are out on the wire and when each is due again.

docs/protocol.md "Delivery", RELIABILITY 17-20: at most ``size`` rows await the central node's ack; a
row not acked within the ack timeout is due again (same id; the centre dedupes); a broker PUBACK with a
failure reason is not delivery: the row is held back for ``refused_retry`` and then due again; a row
leaves the window only when the centre acknowledged it, or the full outbox dropped it (``forget``). What is on
the wire is forgotten on a new connection.

The ack timeout adapts to a centre that is connected but slow (a backlog): an ack that arrives after the row
timed out shows the ack was late, not lost, so the timeout doubles (up to ``ack_timeout_max``) instead of every
row being sent again each ``ack_timeout``; acks that arrive within ``ack_timeout`` of the first send set it back.
A row's age is counted from its first send, so a resend does not hide how late its ack was.

A row the centre never acknowledges (it refuses it: sealed to a node key it no longer has, a bug) must not keep
the rows behind it from being sent: pending rows come oldest first, so enough of them would fill the window at
every resend for ever. A row whose ack timed out twice running is therefore *held back*: sent again after a
wait that doubles from ``ack_timeout`` up to ``HOLD_MAX_S``, and not counted in the window meanwhile, so the rows
behind it go out. It stays in the outbox (nothing is lost) until acked. An ack for a row that had timed out,
or the first ack after a silence of an ack timeout (a centre that was down while its broker ran: the rows sent
since it came back had not timed out yet), shows a centre that was away or slow, not one refusing: every held
row is due again at once. A new connection
makes held rows due too (every pending row is sent again), and the rows still unacknowledged are held again
after their next timeout.

Where the outbox query starts (``start``): each class (hits, the rest) has a first seq to read; taking a row out
moves it past the row. A row coming due again below it (timed out, its refusal or hold over, a publish that did
not leave, a new connection) is read by its seq (``again``) and the query goes on from the start, so it never
steps over the rows still out (thousands held back when the centre refuses every row). Only a row the outbox
lets go below the start (``rewind``: a held commit released, salvaged rows restored; the outbox knows which rows,
the window does not) moves the start back to it, and ``skip`` then lists the rows out at or above it.

Pure bookkeeping: no broker, no clock, no lock. The link calls it under its own lock with its
monotonic time, so it is unit-tested without a broker (tests/link/test_window.py).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable
from dataclasses import dataclass

EARLY_MAX = 10_000  # PUBACKs remembered for publishes whose mid is not known yet
HOLD_MAX_S = 3600.0  # the longest wait before a row the centre never acknowledged is sent again
STALE_HOLDS_SLACK = 64  # stale entries the heap of holds may keep beyond twice the rows held (``forget``)


@dataclass(frozen=True)
class Refusal:
    """A row the broker refused (PUBACK reason >= 0x80)."""

    msg_id: str
    reason: str


class DeliveryWindow:
    """Rows in flight (sent, awaiting the centre's ack), by message id and by the MQTT packet id."""

    def __init__(self, size: int, *, ack_timeout: float, refused_retry: float,
                 ack_timeout_max: float | None = None) -> None:
        self.size = size
        self.base_timeout = ack_timeout
        self.ack_timeout = ack_timeout  # current: between base_timeout and ack_timeout_max
        self.ack_timeout_max = max(ack_timeout, ack_timeout if ack_timeout_max is None else ack_timeout_max)
        self.refused_retry = refused_retry
        self._inflight: dict[str, float] = {}  # msg_id -> time sent
        self._first: dict[str, float] = {}  # msg_id -> time first sent on this connection, until acked
        self._mids: dict[int, str] = {}  # MQTT packet id -> msg_id
        self._early: dict[int, str | None] = {}  # packet id -> PUBACK failure (None: ok) seen before sent()
        self._refused: dict[str, float] = {}  # msg_id -> time refused, oldest first
        self._timeouts: dict[str, int] = {}  # msg_id -> ack timeouts running (kept across connections), until acked
        self._held: dict[str, float] = {}  # msg_id -> when due again: held back, its ack timed out twice running
        self._holds: list[tuple[float, str]] = []  # ``_held`` as a heap of (when due, msg_id); stale entries skipped
        self._last_ack: float | None = None  # when the centre last acknowledged anything
        self._rows: dict[str, tuple[bool, int]] = {}  # msg_id -> (a hit, seq) of every row sent, until acked
        self._out: dict[str, tuple[bool, int]] = {}  # the same of the rows out: in flight or held back
        self._start = {True: 0, False: 0}  # hit or not -> first seq the outbox query reads (every row below is out
        # or due again)
        self._again: dict[bool, list[int]] = {True: [], False: []}  # hit or not -> the rows due again below the
        # start, read by seq: their seqs negated and sorted, so the lowest is last (taken first, deleted cheaply)
        self._top = {True: -1, False: -1}  # hit or not -> highest seq reserved: no row out above it

    def __len__(self) -> int:
        """Rows awaiting the centre's ack."""
        return len(self._inflight)

    @property
    def idle(self) -> bool:
        """True when no row awaits an ack or a retry after a refusal or a hold: nothing here is timed."""
        return not self._inflight and not self._refused and not self._held

    @property
    def held(self) -> int:
        """Rows held back, not in the window: refused by the broker, or never acknowledged by the centre (each once:
        a PUBACK refused late may come for a row held already)."""
        return len(self._refused.keys() | self._held.keys())

    @property
    def out(self) -> int:
        """Rows in flight or held back: what ``reserve`` refuses, so what the link does not read from the outbox
        again (``GateLink._drain``)."""
        return len(self._out)

    @property
    def start(self) -> tuple[int, int]:
        """The first seq the outbox query reads, of hits and of the rest (``Outbox.pending``'s ``start``)."""
        return self._start[True], self._start[False]

    def again(self, limit: int) -> tuple[list[int], list[int]]:
        """The lowest ``limit`` seqs of the rows due again below ``start``, of hits and of the rest: read by seq
        (``Outbox.pending``'s ``again``), so the query from ``start`` does not step back over the rows still out."""
        if limit <= 0:
            return [], []
        hits, rest = ([-s for s in reversed(self._again[hit][-limit:])] for hit in (True, False))
        return hits, rest

    def skip(self) -> list[str]:
        """Ids out at or above ``start``: the only ones the query must leave out (none while no row came due again
        below a row still out): no walk over the rows out while the start is above every row sent."""
        if all(self._start[hit] > top for hit, top in self._top.items()):
            return []
        return [m for m, (hit, seq) in self._out.items() if seq >= self._start[hit]]

    def rewind(self, seq: int) -> None:
        """A row at ``seq`` became readable below rows already sent (``Outbox.surfaced``): the query starts there
        (the outbox knows the rows, the window does not), and reads the rows due again from there on too."""
        self._start = {hit: min(first, seq) for hit, first in self._start.items()}
        for again in self._again.values():
            del again[:bisect.bisect_right(again, -seq)]

    def _due(self, msg_ids: Iterable[str]) -> None:
        """Rows no longer in flight, refused or held: due again, read by seq when below the start."""
        added = set()
        for m in msg_ids:
            if m in self._out and m not in self._inflight and m not in self._refused and m not in self._held:
                hit, seq = self._out.pop(m)
                if seq < self._start[hit]:
                    self._again[hit].append(-seq)
                    added.add(hit)
        for hit in added:
            self._again[hit].sort()  # a sorted run and the rows appended: a merge, not a whole sort

    def _unrow(self, msg_id: str) -> tuple[int, float | None]:
        """Row ``msg_id`` left the outbox (acked, dropped): out of every per-row map. Returns the ack timeouts it
        had run and when it was first sent on this connection (None: not sent on it), which ``acked`` adapts by."""
        for rows in (self._inflight, self._held, self._refused, self._out):
            rows.pop(msg_id, None)
        row = self._rows.pop(msg_id, None)
        if row is not None:
            self._unagain(*row)
        return self._timeouts.pop(msg_id, 0), self._first.pop(msg_id, None)

    def _unagain(self, hit: bool, seq: int) -> None:
        """Row ``seq`` is no longer due again (taken out, or gone)."""
        again = self._again[hit]
        i = bisect.bisect_left(again, -seq)
        if i < len(again) and again[i] == -seq:
            del again[i]

    @property
    def unacked(self) -> int:
        """Rows whose ack timed out at least twice running (the centre refuses them, or is away)."""
        return sum(1 for n in self._timeouts.values() if n >= 2)

    @property
    def room(self) -> int:
        """Rows that may be sent before ``size`` await an ack."""
        return self.size - len(self._inflight)

    @property
    def has_room(self) -> bool:
        """True while fewer than ``size`` rows await an ack."""
        return self.room > 0

    def reset(self) -> None:
        """A new connection: every row not acked is due again; packet ids of the old one mean nothing."""
        due = [*self._inflight, *self._held]
        self._inflight.clear()
        self._held.clear()
        self._holds.clear()
        self._first.clear()
        self._mids.clear()
        self._early.clear()
        self._due(due)

    def release_due(self, now: float) -> tuple[int, int]:
        """Make rows due again whose ack timed out, whose refusal is old enough or whose hold is over; returns
        (timed out, refusals and holds over). A row timing out the second time running is held back instead."""
        expired = [m for m, t in self._inflight.items() if now - t >= self.ack_timeout]
        for m in expired:
            del self._inflight[m]
            n = self._timeouts[m] = self._timeouts.get(m, 0) + 1
            if n >= 2:
                due = self._held[m] = now + min(HOLD_MAX_S, self.base_timeout * 2 ** (n - 2))
                heapq.heappush(self._holds, (due, m))
        retry = []  # oldest first, so the rows still refused are not walked at every drain
        for m, t in self._refused.items():
            if now - t < self.refused_retry:
                break
            retry.append(m)
        for m in retry:
            del self._refused[m]
        over = []
        while self._holds and now >= self._holds[0][0]:
            due, m = heapq.heappop(self._holds)
            if self._held.get(m) == due:
                del self._held[m]
                over.append(m)
        self._due(expired + retry + over)
        return len(expired), len(retry) + len(over)

    def reserve(self, msg_id: str, now: float, seq: int = 0, hit: bool = False) -> bool:
        """Take row ``msg_id`` (``seq``, a hit or not) into flight before publishing it; False when it is already out
        or held back. The link reserves the rows of a query in its order, so every row of the class up to this
        one is out: the next query starts after it."""
        if msg_id in self._out:
            return False
        self._inflight[msg_id] = now
        self._first.setdefault(msg_id, now)
        self._rows[msg_id] = self._out[msg_id] = (hit, seq)
        self._unagain(hit, seq)
        self._start[hit] = max(self._start[hit], seq + 1)
        self._top[hit] = max(self._top[hit], seq)
        return True

    def unreserve(self, msg_id: str) -> None:
        """The publish did not leave (client gone, queue full): the row is due again."""
        self._inflight.pop(msg_id, None)
        self._due([msg_id])

    def sent(self, msg_id: str, mid: int, now: float) -> Refusal | None:
        """The publish of ``msg_id`` got packet id ``mid``; a refusal when its PUBACK already came back refused."""
        if mid not in self._early:
            self._mids[mid] = msg_id
            return None
        failure = self._early.pop(mid)
        return None if failure is None else self._refuse(msg_id, failure, now)

    def on_puback(self, mid: int, failure: str | None, now: float) -> Refusal | None:
        """The broker answered packet ``mid`` (``failure`` is its reason when refused); a refusal to report."""
        msg_id = self._mids.pop(mid, None)
        if msg_id is None:  # before sent() was called, or not a row (status, result, request)
            if len(self._early) > EARLY_MAX:
                self._early.clear()
            self._early[mid] = failure
            return None
        return None if failure is None else self._refuse(msg_id, failure, now)

    def acked(self, msg_ids: Iterable[str], now: float) -> bool:
        """The centre acknowledged ``msg_ids`` (already gone from the outbox); True when the window wants a refill
        (half empty: one outbox query per half window, not per ack). Adapts the ack timeout: doubled when an
        ack came after its row timed out, back to ``base_timeout`` when every ack came within it. An ack for a row
        that had timed out, or the first after a silence, makes every held row due (the centre was away or slow,
        not refusing them)."""
        oldest = 0.0
        timed_out = silence = False
        for m in msg_ids:
            silence = silence or self._last_ack is None or now - self._last_ack >= self.ack_timeout
            self._last_ack = now
            timeouts, first = self._unrow(m)  # refused too: an earlier copy got through, and ``held`` counts rows
            # still queued only
            timed_out = bool(timeouts) or timed_out
            if first is not None:
                oldest = max(oldest, now - first)
        if timed_out or silence:
            due = list(self._held)
            self._held.clear()
            self._holds.clear()
            self._timeouts.clear()
            self._due(due)
        if oldest >= self.ack_timeout:
            self.ack_timeout = min(self.ack_timeout_max, 2 * self.ack_timeout)
        elif oldest and oldest < self.base_timeout:
            self.ack_timeout = self.base_timeout
        return len(self._inflight) <= self.size // 2

    def forget(self, msg_ids: Iterable[str]) -> None:
        """Rows the outbox dropped unacknowledged (``Outbox.gone``: it was full): never acked, so nothing else
        would take them out of the per-row maps. A held row's entry in ``_holds`` goes stale; once stale entries
        outnumber the live ones twice over (and ``STALE_HOLDS_SLACK``) the heap is rebuilt from ``_held``, so a
        full outbox dropping held rows all the while does not keep an hour of them (``HOLD_MAX_S``). A PUBACK
        still due finds the row unknown (``_refuse``)."""
        for m in msg_ids:
            self._unrow(m)
        if len(self._holds) > 2 * len(self._held) + STALE_HOLDS_SLACK:
            self._holds = [(due, m) for m, due in self._held.items()]
            heapq.heapify(self._holds)

    def refuse(self, msg_id: str, reason: str, now: float) -> Refusal:
        """``msg_id`` could not be sent (the gate's own schema refused it): held back like a broker's refusal."""
        return self._refuse(msg_id, reason, now)

    def _refuse(self, msg_id: str, reason: str, now: float) -> Refusal:
        self._inflight.pop(msg_id, None)
        self._refused.pop(msg_id, None)  # to the end: the oldest refusal first
        if msg_id in self._rows:  # not a row acked or dropped since; a late refusal of one due again: out again
            self._refused[msg_id] = now
            self._out[msg_id] = self._rows[msg_id]
            self._unagain(*self._rows[msg_id])
        return Refusal(msg_id, reason)
