"""Property 21 with the real gate link: a half-open link (traffic silently dropped, one way or both) is
noticed within 2 x keepalive + 5 s, screening goes on, and the backlog reaches the central node within
60 s of the link returning, exactly once and in order.

The link runs through tests/support/netproxy.py, whose blackhole holds bytes instead of discarding them (as TCP
does for a link that loses packets): when the link returns, whatever the kernel buffers held during the
outage, stale PINGREQs, PUBLISHes and the CONNECT of a reconnect attempt, arrives late at the broker,
and the gate must cope with that too.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.link import Keys, make_central, make_gate
from tests.support.netproxy import NetProxy
from tests.support.wait import wait_until

KEEPALIVE = 2
logger = logging.getLogger(__name__)


def assert_delivered_once_in_order(store, gate_id: str, emitted: list[str]) -> None:  # type: ignore[no-untyped-def]
    ids = [e["msg_id"] for e in store.events(gate_id)]
    assert len(ids) == len(set(ids)), "duplicate id at the centre"
    assert set(ids) == set(emitted), f"{len(set(emitted) - set(ids))} event(s) missing at the centre"
    routine = [e["seq"] for e in store.events(gate_id) if not e["is_hit"]]
    assert routine == sorted(routine), "routine events arrived out of order (hits may jump the queue)"


@pytest.mark.parametrize(
    "direction",
    [{}, {"to_upstream": False}, {"to_client": False}],
    ids=["both-ways", "replies-lost", "requests-lost"],
)
def test_half_open_link_noticed_within_two_keepalives_and_backlog_delivered(
    broker: Broker, tmp_path: Path, direction: dict[str, bool]
):
    keys = Keys()
    central = make_central(broker, tmp_path / "central.db", keys)
    with NetProxy(broker.port) as proxy:
        gate = make_gate(broker, tmp_path / "gate", keys, "gate-a", store=central.store, port=proxy.port,
                         keepalive=KEEPALIVE)  # fmt: skip
        try:
            assert gate.link.wait_for_connected(10)
            gate.emit(10)
            assert wait_until(lambda: gate.outbox.depth() == 0, 10), "link did not drain before the outage"

            proxy.blackhole(**direction)
            outage = time.monotonic()
            gate.emit(40)
            gate.emit(1, hit=True)
            gate.emit(9)
            screening = time.monotonic() - outage
            # a decision waiting on the dead link would wait until the keepalive gives it up
            assert screening < KEEPALIVE, f"decisions blocked {screening:.2f} s on a dead link"
            assert wait_until(lambda: not gate.link.is_connected, 2 * KEEPALIVE + 5)
            noticed = time.monotonic() - outage
            assert noticed <= 2 * KEEPALIVE + 5
            assert gate.outbox.depth() == 50  # nothing was taken as delivered while the link was dead

            time.sleep(KEEPALIVE)  # a reconnect attempt or two goes into the dead link
            proxy.passthrough()
            back = time.monotonic()
            assert wait_until(lambda: gate.outbox.depth() == 0, 60), f"backlog left: {gate.outbox.depth()}"
            drained = time.monotonic() - back
            assert drained <= 60
            logger.info("half-open %s: noticed after %.2f s, backlog delivered %.2f s after the link returned",
                        direction or "both-ways", noticed, drained)  # fmt: skip
            assert gate.link.is_connected
            assert_delivered_once_in_order(central.store, "gate-a", gate.emitted)
        finally:
            gate.stop()
            central.stop()
