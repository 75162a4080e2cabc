"""The delivery window on its own: no broker, the time passed in (docs/protocol.md "Delivery")."""

from __future__ import annotations

from agent.link.window import STALE_HOLDS_SLACK, DeliveryWindow, Refusal


def _window(size: int = 4) -> DeliveryWindow:
    return DeliveryWindow(size, ack_timeout=30.0, refused_retry=10.0)


def test_window_never_holds_more_rows_than_its_size():
    w = _window(2)
    assert w.reserve("a", 0.0) and w.reserve("b", 0.0)
    assert not w.has_room
    assert len(w) == 2


def test_row_in_flight_is_not_sent_twice_until_its_ack_times_out():
    w = _window()
    assert w.reserve("a", 0.0)
    assert not w.reserve("a", 1.0), "a row awaiting its ack was taken again"
    assert w.release_due(29.9) == (0, 0)
    assert w.release_due(30.0) == (1, 0)  # the ack timed out: due again, same id
    assert w.reserve("a", 30.0)


def test_puback_is_not_delivery_only_the_centres_ack_frees_the_row():
    w = _window()
    w.reserve("a", 0.0)
    assert w.sent("a", 7, 0.0) is None
    assert w.on_puback(7, None, 0.1) is None
    assert len(w) == 1, "a broker PUBACK took the row out of flight"
    w.acked(["a"], 0.2)
    assert len(w) == 0


def test_refused_puback_holds_the_row_back_then_retries_it():
    w = _window()
    w.reserve("a", 0.0)
    w.sent("a", 7, 0.0)
    assert w.on_puback(7, "Quota exceeded", 1.0) == Refusal("a", "Quota exceeded")
    assert len(w) == 0
    assert not w.reserve("a", 2.0), "a refused row was resent before refused_retry"
    assert w.release_due(10.9) == (0, 0)
    assert w.release_due(11.0) == (0, 1)
    assert w.reserve("a", 11.0)


def test_puback_that_overtakes_the_publish_call_is_matched_to_its_row():
    w = _window()
    w.reserve("a", 0.0)
    assert w.on_puback(3, "Not authorized", 0.0) is None  # paho answered before publish() returned
    assert w.sent("a", 3, 0.0) == Refusal("a", "Not authorized")
    w.reserve("b", 0.0)
    assert w.on_puback(4, None, 0.0) is None
    assert w.sent("b", 4, 0.0) is None
    assert len(w) == 1


def test_a_new_connection_forgets_packet_ids_and_makes_every_row_due():
    w = _window()
    w.reserve("a", 0.0)
    w.sent("a", 1, 0.0)
    w.on_puback(2, "Not authorized", 0.0)  # early answer of the old connection
    w.reset()
    assert len(w) == 0 and w.reserve("a", 1.0)
    assert w.sent("a", 2, 1.0) is None, "a refusal from the old connection was applied to the new one"
    assert w.on_puback(1, "Not authorized", 1.0) is None


def test_acks_ask_for_a_refill_only_when_half_the_window_is_free():
    w = _window(4)
    for m in "abcd":
        w.reserve(m, 0.0)
    assert not w.acked(["a"], 1.0)
    assert w.acked(["b"], 1.0)


def _slow_centre(w: DeliveryWindow, lag: float, seconds: int = 300) -> tuple[int, set[str]]:
    """One new row a second for ``seconds``; the centre (connected, behind a backlog) acks each id ``lag``
    seconds after its first copy arrived, later copies being duplicates. Returns (resends, ids acked)."""
    arrived: dict[str, float] = {}
    sent: set[str] = set()
    acked: set[str] = set()
    resends = 0
    for t in range(seconds + 600):
        now = float(t)
        due = [m for m, at in arrived.items() if m not in acked and now - at >= lag]
        acked.update(due)
        w.acked(due, now)
        resends += w.release_due(now)[0]
        todo = [m for m in sorted(sent) if m not in acked] + ([f"r{t:04}"] if t < seconds else [])
        for m in todo:
            if w.has_room and w.reserve(m, now):
                sent.add(m)
                arrived.setdefault(m, now)
    return resends, acked


def test_late_acks_back_the_ack_timeout_off_instead_of_resending_every_row():
    fixed, fixed_acked = _slow_centre(DeliveryWindow(500, ack_timeout=30.0, refused_retry=10.0), lag=50.0)
    adaptive = DeliveryWindow(500, ack_timeout=30.0, refused_retry=10.0, ack_timeout_max=240.0)
    resends, acked = _slow_centre(adaptive, lag=50.0)
    assert fixed_acked == acked == {f"r{t:04}" for t in range(300)}, "a row was never delivered"
    assert fixed >= 290, f"the fixed timeout resent only {fixed} rows: the slow centre is not slow enough"
    assert resends <= fixed // 10, f"late acks still cost {resends} resends (fixed timeout: {fixed})"
    assert adaptive.ack_timeout == 60.0  # doubled once: acks come after 50 s


def test_ack_timeout_returns_to_its_base_once_acks_are_timely_again():
    w = DeliveryWindow(10, ack_timeout=30.0, refused_retry=10.0, ack_timeout_max=100.0)
    for k, now in enumerate((0.0, 40.0, 120.0, 300.0)):  # each ack arrives after the timeout of its time
        w.reserve(f"late{k}", now)
        w.acked([f"late{k}"], now + w.ack_timeout)
    assert w.ack_timeout == 100.0, "the backoff passed its cap"
    w.reserve("quick", 500.0)
    w.acked(["quick"], 502.0)
    assert w.ack_timeout == 30.0


def test_row_whose_ack_never_comes_is_still_resent_at_the_backed_off_timeout():
    w = DeliveryWindow(10, ack_timeout=30.0, refused_retry=10.0, ack_timeout_max=60.0)
    w.reserve("late", 0.0)
    w.acked(["late"], 45.0)  # late: timeout 60
    w.reserve("lost", 100.0)
    assert w.release_due(159.0) == (0, 0)
    assert w.release_due(160.0) == (1, 0), "an unacknowledged row was given up (at-least-once broken)"
    assert w.reserve("lost", 160.0)


def test_row_never_acked_is_held_back_out_of_the_window_at_growing_intervals():
    """A row the centre refuses (never acked) must not keep the rows behind it out of the window for ever."""
    w = _window(1)
    assert w.reserve("refused", 0.0)
    assert w.release_due(30.0) == (1, 0) and w.reserve("refused", 30.0)  # one lost ack: sent again at once
    assert w.release_due(60.0) == (1, 0)  # timed out twice running: held back, out of the window
    assert not w.reserve("refused", 60.0) and w.has_room and w.held == 1 and w.unacked == 1
    assert w.reserve("behind", 60.0) and w.out == 2  # what the drain does not read again
    assert w.release_due(89.9) == (0, 0) and w.release_due(90.0) == (1, 1)  # held 30 s; "behind" timed out
    assert w.reserve("refused", 90.0)
    assert w.release_due(120.0) == (1, 0) and w.release_due(179.9)[1] == 0  # held 60 s this time
    assert w.release_due(180.0)[1] == 1


def test_ack_of_a_row_that_had_timed_out_makes_every_held_row_due():
    """A centre that was away acks again: what it had not acknowledged is sent again now, not after its hold."""
    w = _window(4)
    for m in "ab":
        w.reserve(m, 0.0)
    w.release_due(30.0)
    for m in "ab":
        w.reserve(m, 30.0)
    w.release_due(60.0)
    assert w.held == 2 and not w.reserve("b", 61.0)
    w.acked(["a"], 61.0)
    assert w.held == 0 and w.unacked == 0 and w.reserve("b", 61.0)


def test_first_ack_after_the_centre_was_silent_makes_every_held_row_due():
    """A centre down for hours behind a running broker: its gate's backlog is held back for up to an hour each.
    When it comes back, the first ack (of a row sent since, which never timed out) sends the backlog at once."""
    w = _window(4)
    w.reserve("old", 0.0)
    w.release_due(30.0)
    w.reserve("old", 30.0)
    w.release_due(60.0)
    w.acked([], 60.0)  # no ack at all: nothing changes
    assert w.held == 1
    w.reserve("new", 7000.0)
    w.acked(["new"], 7000.5)  # the centre is back: its first ack in hours
    assert w.held == 0 and w.reserve("old", 7000.5)
    for t in range(7001, 7062, 5):  # the centre acks the traffic every 5 s; "old" is refused after all
        w.reserve(f"n{t}", float(t))
        w.acked([f"n{t}"], t + 0.5)
        w.release_due(t + 1.0)
        w.reserve("old", t + 1.0)
    assert w.held == 1  # held again: acks in a steady flow end no silence


def test_new_connection_sends_held_rows_again():
    w = _window(4)
    w.reserve("a", 0.0)
    w.release_due(30.0)
    w.reserve("a", 30.0)
    w.release_due(60.0)
    w.reset()
    assert w.reserve("a", 61.0)
    assert w.release_due(91.0) == (1, 0) and w.held == 1  # still unacknowledged: held again after one timeout


def test_a_row_held_back_and_refused_late_counts_once():
    """``held`` is what the link need not read from the outbox again: a row counted twice (its PUBACK refused
    after its ack timed out twice) would make the link skip a row it has to send."""
    w = _window(4)
    w.reserve("a", 0.0)
    w.release_due(30.0)
    w.reserve("a", 30.0)
    w.sent("a", 8, 30.0)
    w.release_due(60.0)
    assert w.held == 1
    assert w.on_puback(8, "Quota exceeded", 61.0) == Refusal("a", "Quota exceeded")
    assert w.held == 1


def test_a_refused_row_the_centre_acknowledged_is_no_longer_held():
    """An earlier copy of a row got through before a resend was refused: once acked it left the outbox."""
    w = _window()
    w.reserve("a", 0.0)
    w.sent("a", 7, 0.0)
    w.on_puback(7, "Quota exceeded", 1.0)
    assert w.held == 1
    w.acked(["a"], 2.0)
    assert w.held == 0 and w.idle


def test_the_query_starts_after_the_rows_out_and_rows_coming_due_are_read_by_seq():
    """``start``: every row of a class below it is out or due again, so the outbox query does not step over held
    rows; a row coming due again (here a failed publish, a new connection) is read by its seq (``again``) and the
    start stays; a row the outbox releases below the rows sent moves it back, and ``skip`` then lists the rows
    still out above it."""
    w = _window(10)
    for seq in range(1, 5):
        assert w.reserve(f"r{seq}", 0.0, seq)
    assert w.reserve("h9", 0.0, 9, hit=True)
    assert w.start == (10, 5) and w.skip() == [] and w.out == 5 and w.again(10) == ([], [])
    w.unreserve("r2")  # the publish did not leave
    assert w.start == (10, 5) and w.skip() == [] and w.again(10) == ([], [2])  # r3 and r4 are not stepped over
    assert w.reserve("r2", 1.0, 2) and w.start == (10, 5) and w.again(10) == ([], [])
    assert w.reserve("r5", 1.0, 5) and w.start == (10, 6) and w.skip() == []
    w.reset()  # every row is due again on a new connection
    assert w.start == (10, 6) and w.out == 0 and w.again(10) == ([9], [1, 2, 3, 4, 5]) and w.again(2) == ([9], [1, 2])
    assert w.reserve("r1", 2.0, 1) and w.reserve("r3", 2.0, 3) and w.again(10) == ([9], [2, 4, 5])
    w.acked(["r4"], 2.5)  # an ack after its row timed out: gone, not due
    assert w.again(10) == ([9], [2, 5])
    w.rewind(3)  # a row released by the outbox below the rows sent (``Outbox.surfaced``)
    assert w.start == (3, 3) and w.again(10) == ([], [2]) and sorted(w.skip()) == ["r3"]


def test_a_held_row_released_below_the_rows_sent_is_read_from_where_it_was(tmp_path):
    """An outbox row held (``append_with_seq(held=True)``) while newer rows were sent is released: ``surfaced``
    says where the query must start again, and ``pending`` from there reads it and nothing already out."""
    from agent.outbox import PRIORITY_ROUTINE, Outbox

    box = Outbox(tmp_path / "o.db")
    try:
        held = box.append_with_seq("decision", "held", lambda seq: b"h", priority=PRIORITY_ROUTINE, held=True)
        box.append("decision", "sent", b"s", priority=PRIORITY_ROUTINE)
        w = _window(10)
        (row,) = box.pending(10, w.skip(), w.start)
        assert row.msg_id == "sent" and w.reserve(row.msg_id, 0.0, row.seq) and box.surfaced() is None
        assert box.pending(10, w.skip(), w.start) == []
        box.release(held)
        w.rewind(box.surfaced())  # type: ignore[arg-type]
        assert [r.msg_id for r in box.pending(10, w.skip(), w.start)] == ["held"] and box.surfaced() is None
    finally:
        box.close()


def test_rows_the_outbox_dropped_leave_every_map_and_a_late_refusal_does_not_hold_them():
    """``forget`` (``Outbox.gone``): a row dropped in flight, timed out, held back or refused is in no map after,
    and a refused PUBACK coming after (or after its ack) does not hold back a row no longer queued."""
    w = DeliveryWindow(10, ack_timeout=1.0, refused_retry=10.0)
    for seq, m in enumerate(["flight", "held", "refused", "late", "acked"]):
        assert w.reserve(m, 0.0, seq)
    w.sent("late", 7, 0.0)
    w.sent("acked", 8, 0.0)
    w.refuse("refused", "not sealed", 0.0)
    w.release_due(1.0)
    assert w.reserve("held", 1.0, 1) and w.reserve("late", 1.0, 3) and w.reserve("acked", 1.0, 4)
    w.release_due(2.0)  # the second timeout running: held back
    assert w.reserve("flight", 2.0, 0)
    assert w.held == 4 and w.unacked == 3
    w.forget(["flight", "held", "refused", "late"])
    w.acked(["acked"], 2.5)
    assert w.on_puback(7, "Quota exceeded", 3.0) == Refusal("late", "Quota exceeded")
    assert w.on_puback(8, "Quota exceeded", 3.0) == Refusal("acked", "Quota exceeded")
    maps = {name: rows for name, rows in vars(w).items()
            if isinstance(rows, dict) and name not in ("_start", "_top", "_again")}
    assert not any(maps.values()) and w.again(10) == ([], []), maps
    assert w.held == w.out == w.unacked == len(w) == 0 and w.idle


def test_a_row_due_again_and_then_refused_late_is_not_read_by_seq_while_refused():
    """A PUBACK refused after the row's ack timed out puts it out again: it leaves ``again`` too, so it is not read
    at every drain while refused, and once due it is listed once (acked then, nothing of it is left)."""
    w = _window(4)
    assert w.reserve("a", 0.0, 1) and w.reserve("b", 0.0, 2)
    w.sent("a", 8, 0.0)
    w.release_due(30.0)
    assert w.again(4) == ([], [1, 2])
    assert w.on_puback(8, "Quota exceeded", 31.0) == Refusal("a", "Quota exceeded")
    assert w.again(4) == ([], [2]) and w.out == 1
    w.release_due(41.0)  # the refusal is over
    assert w.again(4) == ([], [1, 2])
    w.acked(["a", "b"], 42.0)
    assert w.again(4) == ([], []) and w.out == 0


def test_rows_forgotten_while_held_back_leave_the_heap_of_holds_too():
    """``forget`` (``Outbox.gone``) of rows held back: their entries in the heap of holds stayed, stale, until
    their time (up to ``HOLD_MAX_S``, an hour), so a gate whose full outbox drops held rows all the while kept an
    hour of them. Once stale entries outnumber the live ones twice over (and the slack) the heap is rebuilt; the
    rows still held come due as before."""
    w = DeliveryWindow(300, ack_timeout=30.0, refused_retry=10.0)
    ids = [f"r{i}" for i in range(300)]
    for now in (0.0, 30.0):  # each ack times out twice running: held back
        for seq, m in enumerate(ids):
            assert w.reserve(m, now, seq)
        w.release_due(now + 30.0)
    assert w.held == 300 and len(w._holds) == 300
    w.forget(ids[:250])
    assert w.held == 50 and len(w._holds) <= 2 * 50 + STALE_HOLDS_SLACK
    assert sorted(m for _, m in w._holds) == sorted(ids[250:])
    assert w.release_due(90.0) == (0, 50) and w.held == 0  # held 30 s: due again, every one
