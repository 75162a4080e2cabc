"""Status, birth, last will and sessions (RELIABILITY 29) against a real Mosquitto."""

from __future__ import annotations

import uuid

from agent.protocol import topics
from agent.protocol.envelope import seal
from tests.support.link import make_central, make_gate
from tests.support.netproxy import NetProxy
from tests.support.wait import wait_until


def _updates(central):
    seen: list[tuple[str, dict]] = []
    central._on_update = lambda kind, data: seen.append((kind, data))
    return seen


def test_p29_reconnect_births_new_session_late_will_ignored_rebirth_on_request(mq, tmp_path, keys):
    proxy = NetProxy(mq.port).start()
    central = make_central(mq, tmp_path / "central.db", keys)
    seen = _updates(central)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, port=proxy.port, will_delay=1)
    try:
        assert wait_until(lambda: central.store.gate_session("gate-a") >= 1, 10)
        s1 = central.store.gate_session("gate-a")
        birth = [d for k, d in seen if k == "status" and d["kind"] == "birth"]
        assert birth and birth[0]["session"] == s1
        proxy.cut()  # drop the connection: the gate reconnects with a new session
        assert wait_until(lambda: central.store.gate_session("gate-a") > s1, 10)
        s2 = central.store.gate_session("gate-a")
        assert [g["online"] for g in central.store.gates()] == [1]
        # a last will from the older session arrives late: ignored
        late_will = seal("status", {"id": uuid.uuid4().hex, "ts": 0.0, "gate": "gate-a", "session": s1,
                                    "state": "offline", "kind": "will"}, [gate.key])
        central._client.publish(topics.gate("gate-a", topics.STATUS), late_will, qos=1)
        assert wait_until(lambda: any(k == "status" and d["session"] == s1 and not d["applied"] for k, d in seen), 5)
        assert central.store.gates()[0]["online"] == 1 and central.store.gate_session("gate-a") == s2
        # a rebirth request makes the gate publish its birth again
        births = sum(1 for k, d in seen if k == "status" and d["kind"] == "birth")
        central.send_command("gate-a", "rebirth")
        assert wait_until(lambda: sum(1 for k, d in seen if k == "status" and d["kind"] == "birth") > births, 10)
        # the link dies for good: the broker publishes the will of the current session after the delay
        proxy.refuse()
        proxy.cut()
        assert wait_until(lambda: central.store.gates()[0]["online"] == 0, 15), seen
        assert central.store.gate_session("gate-a") >= s2
    finally:
        gate.stop()
        central.stop()
        proxy.close()


def test_birth_reports_outbox_depth_versions_and_alarms(mq, tmp_path, keys):
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, start=False)
    try:
        gate.emit(3)
        status = gate.link.status()
        assert status["outbox"]["depth"] == 3
        assert status["versions"]["protocol"] == 2  # 2: two-phase device-key rotation
        assert status["alarms"] == []
        assert status["time"]["wall"] in ("ok", "unverified") and status["key_rotation"] == {"rotations": 0}
    finally:
        gate.stop()
        central.stop()


def test_periodic_heartbeat_reaches_centre_with_outbox_figures(mq, tmp_path, keys):
    central = make_central(mq, tmp_path / "central.db", keys)
    seen = _updates(central)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, heartbeat=0.3, start=False)
    gate.link.start()
    try:
        assert wait_until(lambda: sum(1 for k, d in seen if k == "status" and d["kind"] == "heartbeat") >= 2, 10)
        from agent.keys import trusted
        from agent.protocol.envelope import open_signed

        raw = central.store._db.execute("SELECT last_status FROM gates").fetchone()[0]
        body, _ = open_signed("status", bytes(raw), trusted([gate.key.verify_key]))
        assert body["outbox"]["depth"] == 0 and body["state"] == "online"
    finally:
        gate.stop()
        central.stop()


def test_p22_outbox_full_drops_routine_never_hits_and_raises_alarm_in_status(mq, tmp_path, keys):
    from agent.outbox import Outbox

    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", start=False)
    gate.outbox.close()
    gate.outbox = gate.link.outbox = Outbox(tmp_path / "small.sqlite3", max_rows=100)
    hits = gate.emit(5, hit=True)
    gate.emit(150)
    status = gate.link.status()
    assert status["outbox"]["dropped"] == 55 and status["outbox"]["depth"] == 100
    assert "outbox_dropped" in status["alarms"]
    assert {r.msg_id for r in gate.outbox.pending(5)} == set(hits)
    gate.outbox.close()


def test_status_over_the_envelope_bounds_goes_out_without_its_free_form_parts_and_events_still_flow(mq, tmp_path, keys):
    """docs/protocol.md "Schemas": the app's hardware section with 65 sensors (a map the centre's unpacker refuses)
    is not sealed; the birth goes out without it, naming the error, and the outbox drains as ever."""
    from agent.keys import trusted
    from agent.protocol.envelope import open_signed

    central = make_central(mq, tmp_path / "central.db", keys)
    sensors = {"hardware": {f"sensor{i}": i for i in range(65)}}
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, start=False, status_source=lambda: sensors)
    try:
        gate.emit(3)
        gate.link.start()
        assert wait_until(lambda: gate.outbox.depth() == 0, 10), gate.outbox.depth()
        assert central.store.gate_session("gate-a") >= 1 and central.store.gates()[0]["online"] == 1
        raw = central.store._db.execute("SELECT last_status FROM gates").fetchone()[0]
        body, _ = open_signed("status", bytes(raw), trusted([gate.key.verify_key]))
        assert "hardware" not in body and "at most 64 entries" in body["status_error"]
        assert "status_refused" in body["alarms"]
        assert central.store.rejects_by_gate().get("gate-a", {}) == {}
        del sensors["hardware"]["sensor64"]  # the app's section fits again: the next status is whole, the alarm gone
        gate.link.publish_status()
        gate.link.publish_status()
        assert wait_until(lambda: "hardware" in open_signed("status", bytes(central.store._db.execute(
            "SELECT last_status FROM gates").fetchone()[0]), trusted([gate.key.verify_key]))[0], 5)
        assert "status_refused" not in gate.link.status()["alarms"]
    finally:
        gate.stop()
        central.stop()
