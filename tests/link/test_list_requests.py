"""Hit-list requests on the central node's own list connection (``CentralConfig.list_username``): a gate's list
fetch is answered while the centre's event ingest is stalled behind a backlog (real Mosquitto, real centre,
real gate)."""

from __future__ import annotations

import threading

from tests.support.lists import DOCS, Site, wait_fresh
from tests.support.wait import wait_until
from tools.central.admission import AdmissionConfig


def test_list_delta_installs_while_the_centres_event_ingest_is_stalled_behind_a_backlog(mq, tmp_path, keys):
    user, password = mq.add_central("central-lists")
    # a short inbound queue: once it is full the event connection's network thread waits and the broker holds
    # the rest of the backlog, as at a saturated centre
    site = Site(mq, tmp_path, keys, list_username=user, list_password=password,
                admission=AdmissionConfig(queue_max=20))
    central = site.central
    try:
        v1, gate, store = site.gate_with_list("gate-a", DOCS[:100])
        stalled = threading.Event()
        process = central._process

        def stalled_process(batch):  # the writer stops before its transaction: nothing stored, nothing acked
            if batch:
                stalled.wait(120)
            process(batch)

        central._process = stalled_process
        gate.emit(300)
        assert wait_until(lambda: central.queue.blocked > 0, 20), "the inbound queue never filled"
        site.publish(site.lists.delta(v1, 2, DOCS[:100] + [DOCS[150]]))
        wait_fresh(gate, store, 2, timeout=30)
        waiting = gate.outbox.depth()
        assert waiting == 300, f"only {waiting} events were unacknowledged: the ingest was not stalled"
        assert store.lookup_document("UTO", DOCS[150][1]) is not None
        stalled.set()  # the backlog drains: every event stored once
        assert wait_until(lambda: gate.outbox.depth() == 0, 60)
        ids = [e["msg_id"] for e in central.store.events("gate-a")]
        assert sorted(ids) == sorted(gate.emitted), "an event was lost or stored twice"
    finally:
        stalled.set()
        site.close()
