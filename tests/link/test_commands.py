"""Commands (RELIABILITY 13-16): pure verification, persisted replay guard, trusted time, and end to end."""

from __future__ import annotations

import os
import time

import pytest
from nacl.signing import SigningKey

from agent.keys import trusted
from agent.protocol import topics
from agent.protocol.commands import CommandGuard, CommandRejected, verify_command
from agent.protocol.envelope import seal
from agent.protocol.trusted_time import TrustedClock
from tests.support.link import make_central, make_gate
from tests.support.rawgate import forge
from tests.support.wait import wait_until

NOW = 1_800_000_000.0
K1, K2, STRANGER = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
KEYS = trusted([K1.verify_key, K2.verify_key])


def cmd(signers=(K1,), *, gate="gate-a", seq=1, op="request_status", issued=NOW, ttl=60.0, **extra) -> bytes:
    body = {"id": f"c{seq}", "ts": issued, "gate": gate, "seq": seq, "op": op, "args": {},
            "issued": issued, "not_after": issued + ttl, "nonce": os.urandom(16), **extra}
    return seal("cmd", body, list(signers))


def verify(wire: bytes, *, last_seq: int = 0, now: float = NOW):
    return verify_command(wire, gate_id="gate-a", keys=KEYS, last_seq=last_seq, now=now)


def test_valid_command_accepted():
    c = verify(cmd(seq=5))
    assert (c.op, c.seq) == ("request_status", 5)


def test_p13_command_addressed_to_another_gate_rejected():
    with pytest.raises(CommandRejected) as e:
        verify(cmd(gate="gate-b"))
    assert e.value.reason == "wrong_gate"


def test_p14_replayed_command_rejected_also_after_restart(tmp_path):
    guard = CommandGuard(tmp_path / "commands.json", "gate-a", KEYS)
    wire = cmd(seq=7)
    assert guard.accept(wire, NOW).seq == 7
    with pytest.raises(CommandRejected, match="replay"):
        guard.accept(wire, NOW)
    restarted = CommandGuard(tmp_path / "commands.json", "gate-a", KEYS)
    assert restarted.last_seq == 7
    for replay in (wire, cmd(seq=6), cmd(seq=7)):
        with pytest.raises(CommandRejected) as e:
            restarted.accept(replay, NOW)
        assert e.value.reason == "replay"
    assert restarted.accept(cmd(seq=8), NOW).seq == 8


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (cmd(issued=NOW - 120, ttl=60), "expired"),
        (cmd(issued=NOW + 3600, ttl=60), "future"),
        (cmd(issued=NOW, ttl=30 * 86400), "future"),
    ],
    ids=["past-not-after", "issued-an-hour-ahead", "lifetime-of-a-month"],
)
def test_p15_expired_or_far_future_command_rejected(wire, reason):
    with pytest.raises(CommandRejected) as e:
        verify(wire)
    assert e.value.reason == reason


def test_p15_trusted_time_never_decreases_across_reboots_with_clock_set_back(tmp_path):
    wall = [NOW]
    mono = [100.0]
    clock = TrustedClock(tmp_path / "time.json", wall=lambda: wall[0], monotonic=lambda: mono[0])
    clock.observe(NOW, "command")  # a verified signed time
    mono[0] += 120
    wall[0] += 120
    t1 = clock.now()
    assert t1 == NOW + 120
    clock.checkpoint(force=True)
    # reboot with the system clock set back a day: monotonic restarts at 0
    wall[0] = NOW - 86400
    mono[0] = 0.0
    rebooted = TrustedClock(tmp_path / "time.json", wall=lambda: wall[0], monotonic=lambda: mono[0])
    assert rebooted.now() >= t1
    # an expired command stays expired after the clock was set back
    with pytest.raises(CommandRejected, match="expired"):
        verify(cmd(issued=NOW, ttl=60), now=rebooted.now())


def test_p16_high_impact_command_needs_threshold_of_command_keys():
    with pytest.raises(CommandRejected) as e:
        verify(cmd((K1,), op="rotate_device_key"))
    assert e.value.reason == "threshold"
    with pytest.raises(CommandRejected) as e:
        verify(cmd((K1, K1), op="rotate_device_key"))  # one key's duplicate signatures count once
    assert e.value.reason == "threshold"
    with pytest.raises(CommandRejected):
        verify(cmd((K1, STRANGER), op="wipe"))
    assert verify(cmd((K1, K2), op="rotate_device_key")).op == "rotate_device_key"


def _ack_as_cmd() -> bytes:
    """An ack signed by a trusted key, relabelled as a command: the domain prefix must not verify."""
    wire = seal("ack", {"id": "a", "ts": NOW, "gate": "gate-a", "ids": []}, [K1])
    return wire


def _out_of_range_cmd(**over) -> bytes:
    """A command correctly signed by a pinned key whose fields the schema refuses."""
    body = {"id": "c1", "ts": NOW, "gate": "gate-a", "seq": 1, "op": "pulse_relay", "args": {}, "issued": NOW,
            "not_after": NOW + 60, "nonce": os.urandom(16), **over}
    return forge("cmd", body, K1)


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (cmd((STRANGER,)), "unsigned"),
        ((lambda w: w[:-1] + bytes([w[-1] ^ 1]))(cmd()), "unsigned"),
        (_ack_as_cmd(), "unsigned"),
        (b"\x00" * 50, "malformed"),
        (b"", "malformed"),
        (b"SG\x01\x01" + b"\x00" * 400_000, "malformed"),
        (cmd(op="format_disk"), "unknown_op"),
        (_out_of_range_cmd(seq=2**64 - 1), "malformed"),  # RELIABILITY 40: signed, but out of range
        (_out_of_range_cmd(not_after=float("inf")), "malformed"),
        (_out_of_range_cmd(args={"a": [[[[[[[[1]]]]]]]]}), "malformed"),
    ],
    ids=["unknown-key", "tampered-byte", "ack-relabelled-as-command", "garbage", "empty", "oversized", "unknown-op",
         "seq-2**64-1", "not-after-infinite", "args-nested-too-deep"],
)
def test_bad_commands_rejected_with_reason(wire, reason):
    with pytest.raises(CommandRejected) as e:
        verify(wire)
    assert e.value.reason == reason


def test_command_end_to_end_executes_once_and_replay_reported_on_cmd_result(mq, tmp_path, keys):
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store)
    try:
        assert gate.link.wait_for_connected(10)
        cid = central.send_command("gate-a", "pulse_relay", {"seconds": 2})
        assert wait_until(lambda: central.store.commands("gate-a")[0]["ok"] == 1, 10)
        assert gate.pulses == [{"seconds": 2}]
        assert central.store.commands("gate-a")[0]["cmd_id"] == cid
        # a validly signed command re-using sequence 1 (a captured command replayed with a fresh id)
        replay_wire = seal("cmd", {"id": "x", "ts": time.time(), "gate": "gate-a", "seq": 1, "op": "pulse_relay",
                                   "args": {}, "issued": time.time(), "not_after": time.time() + 60,
                                   "nonce": os.urandom(16)}, keys.commands)
        central._client.publish(topics.gate("gate-a", topics.CMD), replay_wire, qos=1)
        assert wait_until(lambda: gate.link.stats.rejected.get("cmd_replay") == 1, 10)
        assert gate.pulses == [{"seconds": 2}]
        other = central.send_command("gate-a", "request_status")
        assert wait_until(lambda: any(c["cmd_id"] == other and c["ok"] for c in central.store.commands("gate-a")), 10)
    finally:
        gate.stop()
        central.stop()


def test_p15_gate_restarted_with_clock_set_back_still_rejects_an_expired_command(mq, tmp_path, keys):
    central = make_central(mq, tmp_path / "central.db", keys)
    key = SigningKey.generate()
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, key=key)
    assert gate.link.wait_for_connected(30)
    gate.emit(1)  # the centre's signed ack tells the gate today's time, which it persists
    assert wait_until(lambda: gate.outbox.depth() == 0, 30)
    gate.stop()
    back = make_gate(mq, tmp_path / "g", keys, "gate-a", key=key, start=False,
                     clock=lambda: time.time() - 86400)  # rebooted with the clock a day behind
    back.link.start()
    try:
        assert back.link.wait_for_connected(30)
        issued = time.time() - 3600  # expired an hour ago in real time, "valid" by the set-back clock
        wire = seal("cmd", {"id": "old", "ts": issued, "gate": "gate-a", "seq": 99, "op": "request_status",
                            "args": {}, "issued": issued, "not_after": issued + 1800, "nonce": os.urandom(16)},
                    keys.commands)
        # resent until judged: the restarted gate's cmd subscription may not be in place at the first publish
        assert wait_until(lambda: central._client.publish(topics.gate("gate-a", topics.CMD), wire, qos=1) and
                          back.link.stats.rejected.get("cmd_expired", 0) >= 1, 30, interval=0.5), \
            back.link.stats.rejected
        assert not back.link.stats.rejected.keys() - {"cmd_expired", "cmd_replay"}  # refused as expired, nothing else
    finally:
        back.stop()
        central.stop()


def _publish_until(central, gate_id: str, wire: bytes, done, timeout: float = 30) -> bool:
    """Publish ``wire`` on the gate's cmd topic until ``done()``: a gate just connected may not be subscribed yet."""
    return wait_until(lambda: central._client.publish(topics.gate(gate_id, topics.CMD), wire, qos=1) and done(),
                      timeout, interval=0.5)


def test_p14_command_replayed_to_a_restarted_gate_is_not_executed_again(mq, tmp_path, keys):
    """RELIABILITY 14 through the gate's link and its state directory: the sequence it persisted before the
    restart refuses the same signed bytes after it."""
    central = make_central(mq, tmp_path / "central.db", keys)
    key = SigningKey.generate()
    now = time.time()
    wire = seal("cmd", {"id": "once", "ts": now, "gate": "gate-a", "seq": 5, "op": "pulse_relay",
                        "args": {"seconds": 1}, "issued": now, "not_after": now + 600, "nonce": os.urandom(16)},
                keys.commands)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, key=key)
    try:
        assert gate.link.wait_for_connected(30)
        assert _publish_until(central, "gate-a", wire, lambda: gate.pulses), gate.link.stats.rejected
        assert gate.pulses == [{"seconds": 1}]
    finally:
        gate.stop()
    back = make_gate(mq, tmp_path / "g", keys, "gate-a", key=key)
    try:
        assert back.link.wait_for_connected(30)
        assert _publish_until(central, "gate-a", wire, lambda: back.link.stats.rejected.get("cmd_replay", 0) >= 1), \
            back.link.stats.rejected
        assert back.pulses == [], "the restarted gate ran the command again"
    finally:
        back.stop()
        central.stop()


def test_p13_command_for_another_gate_sent_on_this_gates_topic_is_not_executed(mq, tmp_path, keys):
    """RELIABILITY 13 through the gate's link: a command signed for gate-b, delivered on gate-a's topic, is refused
    and its handler never runs; gate-a's own command still does."""
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store)
    try:
        assert gate.link.wait_for_connected(30)
        now = time.time()
        wire = seal("cmd", {"id": "for-b", "ts": now, "gate": "gate-b", "seq": 1, "op": "pulse_relay",
                            "args": {"seconds": 3}, "issued": now, "not_after": now + 600, "nonce": os.urandom(16)},
                    keys.commands)
        assert _publish_until(central, "gate-a", wire, lambda: gate.link.stats.rejected.get("cmd_wrong_gate", 0) >= 1), \
            gate.link.stats.rejected
        assert gate.pulses == []
        central.send_command("gate-a", "pulse_relay", {"seconds": 2})
        assert wait_until(lambda: gate.pulses == [{"seconds": 2}], 10), gate.pulses
    finally:
        gate.stop()
        central.stop()
