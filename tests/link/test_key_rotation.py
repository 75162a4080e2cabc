"""Two-phase device-key rotation and operator re-enrolment (RELIABILITY 43; docs/protocol.md "Device-key
rotation") on a real Mosquitto, the real central node and real gates.

Messages are lost where the network would lose them: between the centre's paho client and the broker
(``Drop``), so both real ends run unchanged and see only what a lossy link shows them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from nacl.signing import SigningKey
from paho.mqtt.enums import CallbackAPIVersion

from agent.keys import message_key_id as key_id
from agent.protocol import topics
from agent.protocol.envelope import seal
from tests.support.link import make_central, make_gate
from tests.support.wait import wait_until
from tools.central.cli import main as central_cli


class Drop:
    """Loses the centre's messages on ``leaf`` topics (outbound) and the gates' on ``inbound`` leaves while on."""

    def __init__(self, central, *, outbound: tuple[str, ...] = (), inbound: tuple[str, ...] = ()) -> None:
        self.on = True
        self.lost: list[str] = []
        publish, on_message = central._client.publish, central._client.on_message

        def lossy_publish(topic, payload=None, *a, **kw):
            if self.on and any(topic.endswith("/" + leaf) for leaf in outbound):
                self.lost.append(topic)
                return mqtt.MQTTMessageInfo(0)
            return publish(topic, payload, *a, **kw)

        def lossy_receive(client, userdata, msg):
            if self.on and any(msg.topic.endswith("/" + leaf) for leaf in inbound):
                self.lost.append(msg.topic)
                return
            on_message(client, userdata, msg)

        central._client.publish = lossy_publish
        central._client.on_message = lossy_receive


@pytest.fixture
def central(mq, tmp_path, keys) -> Iterator:
    node = make_central(mq, tmp_path / "central.db", keys)
    yield node
    node.stop()


def pub(key: SigningKey) -> bytes:
    return bytes(key.verify_key)


def events_flow(gate, central, n: int = 3) -> bool:
    ids = gate.emit(n)
    return wait_until(lambda: {e["msg_id"] for e in central.store.events(gate.gate_id)} >= set(ids), 15)


def test_rotation_switches_only_after_the_centre_confirms(mq, tmp_path, keys, central):
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, key_path=tmp_path / "g" / "device.key")
    try:
        assert gate.link.wait_for_connected(10)
        old = pub(gate.link.device_key.current)
        central.send_command("gate-a", "rotate_device_key")
        assert wait_until(lambda: gate.link.device_key.confirmed == 1, 15)
        new = pub(gate.link.device_key.current)
        assert new != old and (tmp_path / "g" / "device.key").read_bytes() == bytes(gate.link.device_key.current)
        assert wait_until(lambda: central.store.device_keys("gate-a") == [new], 10), "old key not retired"
        assert events_flow(gate, central)
        kinds = [e["kind"] for e in central.store.key_events("gate-a")]
        assert kinds == ["enrolled", "rotation_requested", "rotated"]
    finally:
        gate.stop()


def test_lost_rotation_confirmation_keeps_gate_talking_with_old_key(mq, tmp_path, keys, central):
    drop = Drop(central, outbound=(topics.KEY_CONFIRM,))
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, key_path=tmp_path / "g" / "device.key")
    gate.link.device_key.retry = 0.5
    try:
        assert gate.link.wait_for_connected(10)
        old = pub(gate.link.device_key.current)
        central.send_command("gate-a", "rotate_device_key")
        assert wait_until(lambda: len(drop.lost) >= 3, 15), "the gate did not repeat its request"
        # every confirmation lost: the gate still signs with the old key, which the centre still accepts
        assert pub(gate.link.device_key.current) == old
        assert central.store.device_keys("gate-a")[0] == old
        assert events_flow(gate, central)
        drop.on = False  # the link heals: the next repeat is confirmed
        assert wait_until(lambda: gate.link.device_key.confirmed == 1, 15)
        new = pub(gate.link.device_key.current)
        assert new != old
        assert events_flow(gate, central)
        assert wait_until(lambda: central.store.device_keys("gate-a") == [new], 10)
    finally:
        gate.stop()


def test_lost_rotation_request_is_repeated_until_it_arrives(mq, tmp_path, keys, central):
    drop = Drop(central, inbound=(topics.KEY_ROTATE,))
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store)
    gate.link.device_key.retry = 0.5
    try:
        assert gate.link.wait_for_connected(10)
        old = pub(gate.link.device_key.current)
        central.send_command("gate-a", "rotate_device_key")
        assert wait_until(lambda: len(drop.lost) >= 2, 15)
        assert central.store.device_keys("gate-a") == [old] and events_flow(gate, central)
        drop.on = False
        assert wait_until(lambda: gate.link.device_key.confirmed == 1, 15)
        assert events_flow(gate, central)
    finally:
        gate.stop()


@pytest.mark.parametrize("restart_at", ["before_the_centre_saw_the_request", "before_the_confirmation_arrived"])
def test_rotation_resumes_after_gate_restart_mid_rotation(mq, tmp_path, keys, central, restart_at):
    lost = (topics.KEY_ROTATE,) if restart_at == "before_the_centre_saw_the_request" else ()
    drop = Drop(central, inbound=lost, outbound=(topics.KEY_CONFIRM,))
    key_path = tmp_path / "g" / "device.key"
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, key_path=key_path)
    old = pub(gate.link.device_key.current)
    try:
        assert gate.link.wait_for_connected(10)
        central.send_command("gate-a", "rotate_device_key")
        assert wait_until(lambda: drop.lost, 15)
        pending = gate.link.device_key.pending
        assert pending is not None
    finally:
        gate.stop()  # restarted mid-rotation: the new key is on disk, not in use
    assert key_path.read_bytes() != bytes(pending) and (tmp_path / "g" / "device.key.new").exists()
    drop.on = False
    back = make_gate(mq, tmp_path / "g", keys, "gate-a", key_path=key_path)
    try:
        assert pub(back.link.device_key.current) == old
        assert back.link.device_key.pending is not None and pub(back.link.device_key.pending) == pub(pending)
        assert wait_until(lambda: back.link.device_key.confirmed == 1, 15)
        assert pub(back.link.device_key.current) == pub(pending) and key_path.read_bytes() == bytes(pending)
        assert events_flow(back, central)
        assert wait_until(lambda: central.store.device_keys("gate-a") == [pub(pending)], 10)
    finally:
        back.stop()
    again = make_gate(mq, tmp_path / "g", keys, "gate-a", key_path=key_path)  # and after one more restart
    try:
        assert pub(again.link.device_key.current) == pub(pending) and again.link.device_key.pending is None
        assert events_flow(again, central)
    finally:
        again.stop()


def forged_requests(old: SigningKey, new: SigningKey, stranger: SigningKey) -> dict[str, bytes]:
    def req(new_key: bytes, signers: list[SigningKey]) -> bytes:
        return seal("key_rotation", {"id": f"r{len(signers)}{signers[0].verify_key.encode()[:2].hex()}",
                                     "ts": time.time(), "gate": "gate-a", "new_key": new_key}, signers)

    return {
        "signed-by-the-new-key-only": req(pub(new), [new]),
        "signed-by-a-stranger-and-the-new-key": req(pub(new), [stranger, new]),
        "old-key-without-proof-of-the-new-one": req(pub(new), [old]),
        "old-key-and-another-key-than-carried": req(pub(new), [old, stranger]),
    }


def _enrolled_listening_for_confirms(mq, central, old: SigningKey) -> tuple[mqtt.Client, list[bytes]]:
    """Gate-a enrolled with ``old``, connected as itself and collecting its key confirmations (loop started)."""
    central.store.enrol("gate-a", pub(old), time.time())
    user, password = mq.add_gate("gate-a")
    confirms: list[bytes] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gate-a", protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    client.on_message = lambda _c, _u, m: confirms.append(m.payload)
    client.connect(mq.host, mq.port)
    client.subscribe(topics.gate("gate-a", topics.KEY_CONFIRM), qos=1)
    client.loop_start()
    return client, confirms


def test_rotation_request_not_signed_by_old_key_refused(mq, tmp_path, keys, central):
    old, new, stranger = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    client, confirms = _enrolled_listening_for_confirms(mq, central, old)
    try:
        for wire in forged_requests(old, new, stranger).values():
            client.publish(topics.gate("gate-a", topics.KEY_ROTATE), wire, qos=1).wait_for_publish(5)
        assert wait_until(lambda: sum(central.stats.rejected.values()) >= 4, 10), central.stats.rejected
        time.sleep(0.3)
        assert confirms == []
        assert central.store.device_keys("gate-a") == [pub(old)], "a forged request made a key pending"
        assert [e["kind"] for e in central.store.key_events("gate-a")] == ["enrolled"]
        # the same request signed by the old key and the new one is accepted (control)
        good = seal("key_rotation", {"id": "ok", "ts": time.time(), "gate": "gate-a", "new_key": pub(new)}, [old, new])
        client.publish(topics.gate("gate-a", topics.KEY_ROTATE), good, qos=1)
        assert wait_until(lambda: len(confirms) == 1, 10)
        assert central.store.device_keys("gate-a") == [pub(old), pub(new)]
    finally:
        client.loop_stop()
        client.disconnect()


def test_operator_reenrols_compromised_gate_with_reason(mq, tmp_path, keys, central, capsys):
    db = str(central.store.path)
    stolen = make_gate(mq, tmp_path / "stolen", keys, "gate-a", store=central.store)
    try:
        assert stolen.link.wait_for_connected(10) and events_flow(stolen, central)
        rebuilt = SigningKey.generate()
        (tmp_path / "rebuilt.pub").write_bytes(pub(rebuilt))
        # a second key is refused without --replace, and --replace is refused without a reason
        assert central_cli(["enrol", "--db", db, "--gate", "gate-a", "--pub", str(tmp_path / "rebuilt.pub")]) == 2
        assert central_cli(["enrol", "--db", db, "--gate", "gate-a", "--pub", str(tmp_path / "rebuilt.pub"),
                            "--replace"]) == 2
        capsys.readouterr()
        assert central_cli(["enrol", "--db", db, "--gate", "gate-a", "--pub", str(tmp_path / "rebuilt.pub"),
                            "--replace", "--reason", "unit stolen from lane 3, rebuilt", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["replaced"] is True
        # the running node refuses the stolen unit's key from now on
        ids = stolen.emit(2)
        time.sleep(1.0)
        assert not {e["msg_id"] for e in central.store.events("gate-a")} & set(ids), "the old key was accepted"
        assert stolen.outbox.depth() == 2
    finally:
        stolen.stop()
    fresh = make_gate(mq, tmp_path / "rebuilt", keys, "gate-a", key=rebuilt)
    try:
        assert fresh.link.wait_for_connected(10) and events_flow(fresh, central)
    finally:
        fresh.stop()
    assert central_cli(["keys", "--db", db, "--gate", "gate-a", "--json"]) == 0
    history = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(h["kind"], h["reason"]) for h in history] == [
        ("enrolled", ""), ("replaced", "unit stolen from lane 3, rebuilt")]
    assert history[1]["new_key"] == key_id(pub(rebuilt)).hex()
    assert central_cli(["gates", "--db", db]) == 0
    assert f"key={key_id(pub(rebuilt)).hex()}" in capsys.readouterr().out


def test_protocol_1_gate_that_switched_after_its_result_is_not_locked_out(mq, tmp_path, keys, central):
    """A deployed gate of protocol 1 reports its new key in the command result (signed by the old key) and
    switches at once: the centre keeps both keys until the new one is used, then retires the old one."""
    old, new = SigningKey.generate(), SigningKey.generate()
    central.store.enrol("gate-a", pub(old), time.time())
    central.store.add_command("c-rot", "gate-a", 1, "rotate_device_key", time.time())
    user, password = mq.add_gate("gate-a")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gate-a", protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    client.connect(mq.host, mq.port)
    client.loop_start()

    def send(leaf: str, msg_type: str, body: dict, key: SigningKey) -> None:
        wire = seal(msg_type, {"ts": time.time(), "gate": "gate-a", **body}, [key])
        client.publish(topics.gate("gate-a", leaf), wire, qos=1).wait_for_publish(5)

    try:
        send(topics.CMD_RESULT, "cmd_result", {"id": "r1", "cmd_id": "c-rot", "ok": True, "reason": "ok",
                                               "detail": f"new_key={pub(new).hex()}"}, old)
        assert wait_until(lambda: central.store.device_keys("gate-a") == [pub(old), pub(new)], 10)
        send(topics.EVENT, "event", {"id": "e1", "seq": 1, "kind": "decision", "created": time.time(),
                                     "body": b"x"}, new)
        assert wait_until(lambda: central.store.device_keys("gate-a") == [pub(new)], 10)
        assert [e["msg_id"] for e in central.store.events("gate-a")] == ["e1"]
    finally:
        client.loop_stop()
        client.disconnect()


def test_no_confirmation_leaves_the_centre_before_the_pending_key_is_committed(mq, tmp_path, keys, central):
    """The confirmation was published inside the batch's transaction: when the batch then failed (the centre's
    disk full, a bug, the node killed) the pending key was rolled back but the gate had its confirmation, switched
    to the new key, stopped asking, and every message it signed after was refused: neither key worked."""
    old, new = SigningKey.generate(), SigningKey.generate()
    client, confirms = _enrolled_listening_for_confirms(mq, central, old)
    store_events, failed = central._store_events, []

    def disk_full(*args, **kwargs):  # the batch's last writes fail: its transaction is rolled back
        failed.append(True)
        raise OSError(28, "No space left on device")

    central._store_events = disk_full
    request = seal("key_rotation", {"id": "r1", "ts": time.time(), "gate": "gate-a", "new_key": pub(new)}, [old, new])
    try:
        client.publish(topics.gate("gate-a", topics.KEY_ROTATE), request, qos=1).wait_for_publish(5)
        assert wait_until(lambda: failed, 10)
        time.sleep(0.5)
        assert central.store.device_keys("gate-a") == [pub(old)], "the failed batch left no pending key"
        assert confirms == [], "a confirmation for a key the centre does not hold was sent"
        central._store_events = store_events  # the disk has room again: the gate's next repeat is confirmed
        client.publish(topics.gate("gate-a", topics.KEY_ROTATE), request, qos=1).wait_for_publish(5)
        assert wait_until(lambda: len(confirms) == 1, 10)
        assert central.store.device_keys("gate-a") == [pub(old), pub(new)]
    finally:
        client.loop_stop()
        client.disconnect()
