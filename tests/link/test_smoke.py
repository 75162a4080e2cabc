from tests.support.link import make_central, make_gate
from tests.support.wait import wait_until


def test_events_reach_central_and_leave_outbox(mq, tmp_path, keys):
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g1", keys, "gate-1", store=central.store)
    try:
        ids = gate.emit(50)
        assert wait_until(lambda: gate.outbox.depth() == 0, 10), gate.link.stats
        stored = central.store.events("gate-1")
        assert [e["msg_id"] for e in stored] == ids
    finally:
        gate.stop()
        central.stop()
