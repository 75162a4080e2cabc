"""RELIABILITY 31: the personal part of queued events is sealed to the central node's key.

A stolen gate (its state directory, its outbox, its logs, its own keys) and a tap on its broker link
reveal no passport number, name or MRZ of a traveller; the centre opens the events after their signature
verified; rows queued in format 1 by an older agent are still delivered."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox
from nacl.signing import SigningKey

from agent import keys as keyfiles
from agent.durable import atomic_write
from agent.outbox import PRIORITY_ROUTINE, Outbox
from agent.screening.decision import Decision
from agent.screening.events import (
    PRIVATE_FIELDS,
    EventOpener,
    EventSealer,
    build_event,
    decode_event,
    encode_event,
)
from hal.reader.sim import SimReaderDevice
from tests.support.gatesim import CLEAR_DOC, LISTED_DOC, write_app_config
from tests.support.link import make_central
from tests.support.netproxy import NetProxy
from tests.support.paths import REPO
from tests.support.wait import wait_until
from tools.central.cli import main as central_cli

# What must never be found on the gate or its link: the swiped passport's number, names and MRZ,
# plain and in MRZ form (fillers for spaces).
SWIPED = LISTED_DOC
NEEDLES = [b"L898902C3", b"ERIKSSON", b"ANNA MARIA", b"ANNA<MARIA", b"ERIKSSON<<ANNA", b"ZE184226B",
           SWIPED[0].encode(), SWIPED[1].encode(), b"MUSTERMANN", b"C01X00T47", CLEAR_DOC[1].encode()]


def found(haystack: bytes) -> list[bytes]:
    return [n for n in NEEDLES if n in haystack]


def gate_files(state: Path) -> dict[str, bytes]:
    return {str(p.relative_to(state)): p.read_bytes() for p in sorted(state.rglob("*")) if p.is_file()}


def leaks(state: Path, log: Path) -> dict[str, list[bytes]]:
    """Every file of the gate's state directory and its log that holds a needle."""
    files = {**gate_files(state), "(log)": log.read_bytes()}
    return {name: hits for name, data in files.items() if (hits := found(data))}


def _decision_with_everything(verdict: str = "HIT") -> Decision:
    from agent.mrz import parse_mrz

    mrz = parse_mrz(SWIPED)
    return Decision(verdict=verdict, reasons=("listed",), mrz=mrz, detail="read twice", list_version=3)


def test_p31_event_personal_fields_sealed_no_gate_key_opens_them(tmp_path):
    node = SigningKey.generate()
    device = SigningKey.generate()
    event = build_event(
        _decision_with_everything(), event_id="e1", seq=1, gate_id="gate-a", site="s", reader_id="r", wall=1.0,
        mono=2.0, read_mono=2.0, face={"present": True, "score": 0.9, "jpeg": b"\xff\xd8face-crop\xff\xd9"},
        sealer=EventSealer(node.verify_key))
    body = encode_event(event)
    assert not found(body) and b"face-crop" not in body
    assert not set(PRIVATE_FIELDS) & set(decode_event(body))
    assert decode_event(body)["decision"] == "HIT" and decode_event(body)["gate"] == "gate-a"  # routing stays clear
    # every key a gate holds (device key, fingerprint key, a fresh one) fails to open it
    for key in (device.to_curve25519_private_key(), PrivateKey(b"k" * 32), PrivateKey.generate()):
        with pytest.raises(CryptoError):
            SealedBox(key).decrypt(event["sealed"])
    opened = EventOpener(node).open(body)
    assert opened["mrz"]["document_number"] == "L898902C3" and opened["face"]["jpeg"].startswith(b"\xff\xd8")
    assert opened["detail"] == "read twice" and "sealed" not in opened


def test_p31_without_a_centre_key_personal_fields_are_left_out():
    event = build_event(_decision_with_everything("REFER"), event_id="e1", seq=1, gate_id="g", site="s",
                        reader_id="r", wall=1.0, mono=2.0, read_mono=2.0)
    assert not set(PRIVATE_FIELDS) & set(event) and "sealed" not in event and not found(encode_event(event))


@pytest.mark.parametrize("attack", ["swapped_between_events", "altered", "other_node"])
def test_p31_sealed_part_altered_swapped_or_for_another_node_refused(attack):
    node = SigningKey.generate()
    sealer = EventSealer(node.verify_key)
    mine, other = (build_event(_decision_with_everything(), event_id=i, seq=1, gate_id="g", site="s", reader_id="r",
                               wall=1.0, mono=2.0, read_mono=2.0, sealer=sealer) for i in ("e1", "e2"))
    if attack == "swapped_between_events":
        mine["sealed"] = other["sealed"]
    elif attack == "altered":
        mine["sealed"] = mine["sealed"][:-1] + bytes([mine["sealed"][-1] ^ 1])
    opener = EventOpener(SigningKey.generate() if attack == "other_node" else node)
    with pytest.raises(ValueError):
        opener.open(encode_event(mine))


def test_p31_swiped_passport_not_in_gate_files_logs_or_broker_traffic_and_gone_after_ack(mq, tmp_path, keys):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    keyfiles.generate(state / "device.key")
    atomic_write(tmp_path / "node.pub", bytes(keys.node.verify_key))
    _, password = mq.add_gate("gate-a")
    (tmp_path / "pw").write_text(password)
    # a row an older agent queued in format 1 (clear): delivered as it is
    old = Outbox(state / "outbox.sqlite3")
    old.append("decision", "old-format-1", encode_event({"v": 1, "type": "decision", "id": "old-format-1", "seq": 1,
                                                         "decision": "CLEAR", "mrz": {"surname": "OLDROW"}}),
               priority=PRIORITY_ROUTINE)
    old.close()
    proxy = NetProxy(mq.port).start()
    proxy.refuse()  # the link is down while the traveller is screened: the events sit in the outbox
    proxy.record = bytearray()
    reader = SimReaderDevice("lines", link=tmp_path / "reader")
    config = write_app_config(tmp_path, f"serial://{tmp_path / 'reader'}?framing=lines", link={
        "enabled": True, "port": proxy.port, "password_file": "pw", "node_pub": "node.pub"})
    log = tmp_path / "gate.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("NOTIFY_SOCKET", None)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=REPO)
    central = None
    try:
        assert wait_until(lambda: b'"gate ready"' in log.read_bytes(), 30), log.read_text()
        reader.swipe(SWIPED)
        reader.swipe(CLEAR_DOC)
        assert wait_until(lambda: log.read_bytes().count(b'"msg":"decision"') == 2, 15), log.read_text()
        assert not leaks(state, log), "personal data in clear on the gate while queued"
        central = make_central(mq, tmp_path / "central.db", keys)
        assert central_cli(["enrol", "--db", str(tmp_path / "central.db"), "--gate", "gate-a",
                            "--pub", str(state / "device.key.pub")]) == 0
        proxy.passthrough()
        assert wait_until(lambda: central.store.count_events() == 3, 30), central.stats
        assert wait_until(lambda: b'"depth":0' in log.read_bytes() or _depth(state) == 0, 15)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        if central is not None:
            central.stop()
        proxy.close()
        reader.close()
    assert proc.returncode == 0, log.read_text()
    db = sqlite3.connect(tmp_path / "central.db")
    opened = [decode_event(b) for (b,) in db.execute("SELECT body FROM events")]
    db.close()
    assert {o["mrz"]["document_number"] for o in opened if o.get("v") == 2} == {"L898902C3", "C01X00T47"}
    assert [o["mrz"]["surname"] for o in opened if o.get("v") == 1] == ["OLDROW"]  # format 1 still delivered
    assert not leaks(state, log), "personal data left on the gate after the centre's ack"
    assert bytes(proxy.record) and not found(bytes(proxy.record)), "personal data in clear on the broker link"


def _depth(state: Path) -> int:
    from agent.outbox import read_outbox_stats

    return int(read_outbox_stats(state / "outbox.sqlite3", 0.0)["depth"])
