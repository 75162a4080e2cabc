"""The delivery window on its own: no broker, the time passed in (docs/protocol.md "Delivery")."""

from __future__ import annotations

from agent.link.window import DeliveryWindow, Refusal


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
    w.acked(["a"])
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
    assert not w.acked(["a"])
    assert w.acked(["b"])
