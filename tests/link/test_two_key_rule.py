"""The two-key rule (RELIABILITY 16/46, docs/protocol.md "Two-key rule"): high-impact commands need two different
key holders; command keys live in the root-signed keyring and are revoked over the air. Real Mosquitto, the
real central node and its `sharaka-central cmd`/`cosign` tool, real gates."""

from __future__ import annotations

import json
import os

import pytest
from nacl.signing import SigningKey

from agent.config import ScreeningConfig
from agent.keys import generate, list_key_id, trusted
from agent.protocol.commands import CommandKeys, CommandRejected, verify_command
from agent.protocol.envelope import seal
from agent.screening.policy import command_impact, weakened_rules
from tests.support.link import make_central, make_gate
from tests.support.wait import wait_until
from tools.central.cli import main as central_cli

NOW = 1_800_000_000.0
A, B = SigningKey.generate(), SigningKey.generate()


def _cmd(op: str, args: dict, signers, seq: int = 1) -> bytes:
    return seal("cmd", {"id": f"c{seq}", "ts": NOW, "gate": "gate-a", "seq": seq, "op": op, "args": args,
                        "issued": NOW, "not_after": NOW + 60, "nonce": os.urandom(16)}, list(signers))


def _result(central, cid):
    rows = [c for c in central.store.commands("gate-a") if c["cmd_id"] == cid and c["ok"] is not None]
    return rows[0] if rows else None


def test_high_impact_command_with_one_key_holder_refused(mq, tmp_path, keys):
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store)
    try:
        assert gate.link.wait_for_connected(10)
        for op, args in (("pulse_relay", {"seconds": 1}), ("wipe", {}), ("rotate_device_key", {})):
            cid = central.send_command("gate-a", op, args, signers=[keys.commands[0]])
            assert wait_until(lambda cid=cid: _result(central, cid) is not None, 10), op
            assert (_result(central, cid)["ok"], _result(central, cid)["reason"]) == (0, "threshold"), op
        assert gate.pulses == [], "the gate opened on one operator's word"
        cid = central.send_command("gate-a", "pulse_relay", {"seconds": 1}, signers=keys.commands[:2])
        assert wait_until(lambda: (_result(central, cid) or {}).get("ok") == 1, 10)
        assert gate.pulses == [{"seconds": 1}]
    finally:
        gate.stop()
        central.stop()


def test_two_keys_of_one_holder_count_once():
    keys = CommandKeys.of([(A.verify_key, "alice"), (B.verify_key, "alice")])
    with pytest.raises(CommandRejected) as e:
        verify_command(_cmd("pulse_relay", {}, [A, B]), gate_id="gate-a", keys=keys, last_seq=0, now=NOW)
    assert e.value.reason == "threshold"
    two = CommandKeys.of([(A.verify_key, "alice"), (B.verify_key, "bob")])
    assert verify_command(_cmd("pulse_relay", {}, [A, B]), gate_id="gate-a", keys=two, last_seq=0, now=NOW).op == "pulse_relay"


def test_same_key_signing_twice_is_one_holder():
    wire = _cmd("wipe", {}, [A, A])
    with pytest.raises(CommandRejected) as e:
        verify_command(wire, gate_id="gate-a", keys=trusted([A.verify_key, B.verify_key]), last_seq=0, now=NOW)
    assert e.value.reason == "threshold"


@pytest.mark.parametrize(
    ("changes", "weakens"),
    [
        ({"stale_policy": "clear-flag"}, True),
        ({"expiry_policy": "ignore"}, True),
        ({"expiry_grace_days": 30}, True),
        ({"refused_issuing_states": []}, True),
        ({"accepted_document_codes": ["P", "I", "A", "C", "V", "X"]}, True),
        ({"accepted_issuing_states": []}, True),
        ({"relay_pulse_s": 30}, True),
        ({"no_such_rule": 1}, True),
        ({"expiry_grace_days": 0}, False),
        ({"refused_issuing_states": ["UTO", "XXA"]}, False),
        ({"accepted_document_codes": ["P"]}, False),
        ({"buzzer_hz": 2000, "clear_show_s": 2.0}, False),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else str(v),
)
def test_weakening_policy_changes_are_recognised(changes, weakens):
    current = ScreeningConfig(expiry_grace_days=5, refused_issuing_states=("UTO",),
                              accepted_issuing_states=("UTO", "D"))
    assert bool(weakened_rules(current, changes)) is weakens


def test_weakening_set_policy_needs_two_keys(mq, tmp_path, keys):
    rules = [ScreeningConfig(expiry_grace_days=5)]

    def set_policy(args):
        rules[0] = ScreeningConfig(**{**rules[0].__dict__, **args})
        return "set"

    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, start=False,
                     command_handlers={"set_policy": set_policy})
    gate.link.commands._guard._high_impact = command_impact(lambda: rules[0])  # what agent/app.py wires in
    gate.link.start()
    try:
        assert gate.link.wait_for_connected(30)  # and subscribed: a command sent now reaches it
        weak = central.send_command("gate-a", "set_policy", {"stale_policy": "clear-flag"}, signers=[keys.commands[0]])
        assert wait_until(lambda: _result(central, weak) is not None, 30)
        assert _result(central, weak)["reason"] == "threshold" and rules[0].stale_policy == "refer"
        strict = central.send_command("gate-a", "set_policy", {"expiry_grace_days": 0}, signers=[keys.commands[0]])
        assert wait_until(lambda: (_result(central, strict) or {}).get("ok") == 1, 30)
        assert rules[0].expiry_grace_days == 0
        both = central.send_command("gate-a", "set_policy", {"stale_policy": "clear-flag"}, signers=keys.commands[:2])
        assert wait_until(lambda: (_result(central, both) or {}).get("ok") == 1, 30)
        assert rules[0].stale_policy == "clear-flag"
    finally:
        gate.stop()
        central.stop()


def test_revoked_command_key_refused_over_the_air(site, tmp_path):
    alice = generate(tmp_path / "alice.key", encoding="hex")  # the holder's own key; only .pub leaves her
    site.lists.certify("--add-command-key", str(tmp_path / "alice.key.pub"), "--holder", "alice")
    v1 = site.lists.snapshot(1, [("UTO", "L898902C3")])
    site.publish(v1)
    gate, store = site.gate("gate-a")
    assert wait_until(lambda: store.version == 1 and store.keyring_version == 2, 15), gate.link.sync.status()
    ok = site.central.send_command("gate-a", "request_status", signers=[alice])
    assert wait_until(lambda: (_result(site.central, ok) or {}).get("ok") == 1, 10), "a certified command key"
    site.lists.certify("--revoke", list_key_id(alice.verify_key))
    site.publish(v1)  # the next head names keyring v3
    assert wait_until(lambda: store.keyring_version == 3, 10), gate.link.sync.status()
    refused = site.central.send_command("gate-a", "request_status", signers=[alice])
    assert wait_until(lambda: _result(site.central, refused) is not None, 10), gate.link.stats.rejected
    assert _result(site.central, refused)["reason"] == "unsigned"
    assert gate.link.stats.rejected.get("cmd_unsigned") == 1


def test_cosign_collects_the_second_holders_signature(mq, tmp_path, keys):
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store)
    for i, key in enumerate(keys.commands[:2]):
        (tmp_path / f"op{i}.key").write_text(bytes(key).hex())
        os.chmod(tmp_path / f"op{i}.key", 0o600)
    user, password = mq.add_central("central-cmd")
    (tmp_path / "pw").write_text(password)
    broker = ["--port", str(mq.port), "--username", user, "--password-file", str(tmp_path / "pw")]
    db = ["--db", str(tmp_path / "central.db")]
    try:
        assert gate.link.wait_for_connected(10)
        one = ["cmd", "--gate", "gate-a", "--op", "pulse_relay", "--args", '{"seconds": 1}', "--sign-with",
               str(tmp_path / "op0.key"), *db, *broker]
        assert central_cli(one) == 2, "a high-impact command was sent with one holder's key"
        assert central_cli([*one, "--out", str(tmp_path / "pulse.cmd")]) == 0
        assert gate.pulses == []
        assert central_cli(["cosign", str(tmp_path / "pulse.cmd"), "--sign-with", str(tmp_path / "op0.key"),
                            *db, *broker]) == 2, "the first holder cosigned their own command"
        assert central_cli(["cosign", str(tmp_path / "pulse.cmd"), "--sign-with", str(tmp_path / "op1.key"),
                            *db, *broker, "--timeout", "10"]) == 0
        assert wait_until(lambda: gate.pulses == [{"seconds": 1}], 5)
    finally:
        gate.stop()
        central.stop()


def test_set_trust_root_is_not_a_command():
    """Trust-root changes go through the root-signed keyring (docs/hitlist.md "Keyring delivery")."""
    with pytest.raises(CommandRejected) as e:
        verify_command(_cmd("set_trust_root", {}, [A, B]), gate_id="gate-a",
                       keys=CommandKeys.of([(A.verify_key, "a"), (B.verify_key, "b")]), last_seq=0, now=NOW)
    assert e.value.reason == "unknown_op"


def test_p16_configured_threshold_of_three_holders_refuses_two(tmp_path, keys):
    """RELIABILITY 16 says the *configured* threshold: ``[link] high_impact_threshold = 3`` reaches the gate's
    link from its config, so two holders' keys no longer open the relay and three do."""
    import time

    from agent.config import load_config
    from agent.durable import atomic_write
    from agent.link.factory import link_from_config
    from agent.outbox import Outbox
    from agent.protocol import topics
    from tests.support.gatesim import write_app_config

    atomic_write(tmp_path / "node.pub", bytes(keys.node.verify_key))
    for i, k in enumerate(keys.commands):
        atomic_write(tmp_path / f"cmd{i}.pub", bytes(k.verify_key))
    config = load_config(write_app_config(tmp_path, link={
        "enabled": True, "port": 1, "node_pub": "node.pub", "command_pubs": ["cmd0.pub", "cmd1.pub", "cmd2.pub"],
        "high_impact_threshold": 3}))
    (tmp_path / "state").mkdir(exist_ok=True)
    outbox = Outbox(tmp_path / "state" / "outbox.sqlite3")
    pulses: list[dict] = []

    def pulse_relay(args: dict) -> str:
        pulses.append(args)
        return "pulsed"

    link = link_from_config(config, outbox, clock=time.time, command_handlers={"pulse_relay": pulse_relay})
    try:
        def send(seq: int, signers) -> None:
            now = time.time()
            wire = seal("cmd", {"id": f"c{seq}", "ts": now, "gate": "gate-a", "seq": seq, "op": "pulse_relay",
                                "args": {"seconds": 1}, "issued": now, "not_after": now + 60,
                                "nonce": os.urandom(16)}, list(signers))
            link._handle_inbound(topics.gate("gate-a", topics.CMD), wire)

        send(1, keys.commands[:2])
        assert link.stats.rejected.get("cmd_threshold") == 1 and pulses == []
        send(2, keys.commands[:3])
        assert pulses == [{"seconds": 1}], link.stats.rejected
    finally:
        outbox.close()
