"""The operator's side of the central node, as real processes on a real Mosquitto: what a gate sends cannot
drive the operator's terminal (issue 8.6), and `sharaka-central cmd` beside a running node (issue 8.9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from agent.protocol import topics
from agent.protocol.envelope import seal
from tests.support.link import Keys, make_gate
from tests.support.rawgate import RawGate
from tests.support.wait import wait_until
from tools.central.cli import main as central_main
from tools.central.store import CentralStore
from tools.central.terminal import escape_controls

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
CLI = [sys.executable, "-m", "tools.central.cli"]

HOSTILE = {
    "clear-screen": "\x1b[2J\x1b[H",
    "forged-line": "ok\nHIT   gate-z           seq=1 id=forged",
    "carriage-return": "fine\rHIT   gate-z",
    "title-and-bell": "\x1b]0;pwned\x07",
    "c1-csi": "\x9b31m",
    "bidi-override": "\u202eUP gate-q\u202c",
    "isolate": "\u2066x\u2069",
    "del": "a\x7fb",
    "line-separator": "a\u2028HIT",
}
UNSAFE = ["\x1b", "\x07", "\r", "\x9b", "\u202e", "\u202c", "\u2066", "\u2069", "\x7f", "\u2028"]


def _keys(tmp_path: Path) -> Path:
    kdir = tmp_path / "keys"
    assert central_main(["keygen", "--out", str(kdir)]) == 0
    return kdir


def _conn(broker, kdir: Path, tmp_path: Path, user: str) -> list[str]:
    pw = tmp_path / f"pw-{user}"
    pw.write_text(broker.credentials[user])
    return ["--keys", str(kdir), "--port", str(broker.port), "--username", user, "--password-file", str(pw)]


def _run_node(db: Path, conn: list[str], seconds: float, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([*CLI, "run", "--db", str(db), "--duration", str(seconds), *extra, *conn], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "broker HOST:PORT connected": subscribed from here on
    assert "connected" in first, first
    return proc


def test_escape_controls_escapes_every_hostile_string():
    for name, text in HOSTILE.items():
        shown = escape_controls(text)
        assert not any(c in shown for c in UNSAFE + ["\n"]), name
    assert escape_controls("gate-1 seq=5 ok") == "gate-1 seq=5 ok"
    assert escape_controls("\\x1b") == "\\\\x1b"  # a gate cannot fake an escape either


def test_gate_strings_cannot_clear_or_forge_console_lines(broker, tmp_path):
    kdir = _keys(tmp_path)
    db = tmp_path / "central.db"
    gate = RawGate(broker, "gate-a")
    CentralStore(db).enrol("gate-a", bytes(gate.key.verify_key), time.time())
    node = _run_node(db, _conn(broker, kdir, tmp_path, "central"), 60)
    try:
        now = time.time()
        for i, text in enumerate(HOSTILE.values()):
            gate.publish(topics.STATUS, seal("status", {"id": uuid.uuid4().hex, "ts": now, "gate": "gate-a",
                                                        "session": i + 1, "state": "online", "kind": text[:64]},
                                             [gate.key]))
            gate.publish(topics.CMD_RESULT, seal("cmd_result", {"id": uuid.uuid4().hex, "ts": now, "gate": "gate-a",
                                                                "cmd_id": text[:64], "ok": False,
                                                                "reason": text[:64], "detail": text}, [gate.key]))
            gate.publish(topics.HIT, seal("hit", {"id": text[:64], "ts": now, "gate": "gate-a", "seq": i + 1,
                                                  "kind": text[:64], "created": now, "body": b"x"}, [gate.key]))
            time.sleep(0.25)  # under the status budget: every line reaches the console
        assert wait_until(lambda: CentralStore(db).count_events() == len(HOSTILE), 20)
        time.sleep(0.5)
    finally:
        node.send_signal(15)
        out, _ = node.communicate(timeout=20)
        gate.close()
    outputs = {"run": out}
    for args in (["events"], ["gates"], ["events", "--hits"]):
        res = subprocess.run([*CLI, *args, "--db", str(db)], cwd=REPO, capture_output=True, text=True, env=ENV)
        assert res.returncode == 0, res.stderr
        outputs[" ".join(args)] = res.stdout
    for tool, text in outputs.items():
        assert not any(c in text for c in UNSAFE), (tool, text)
        assert not any(line.startswith("HIT   gate-z") for line in text.splitlines()), (tool, text)
    lines = out.splitlines()
    assert sum(line.startswith("HIT   gate-a") for line in lines) == len(HOSTILE)  # one console line per hit
    assert sum(line.startswith("CMD   gate-a") for line in lines) == len(HOSTILE)
    res = subprocess.run([*CLI, "events", "--db", str(db), "--json"], cwd=REPO, capture_output=True, text=True,
                         env=ENV)
    kinds = {json.loads(line)["kind"] for line in res.stdout.splitlines()}  # JSON stays valid and exact
    assert kinds == {t[:64] for t in HOSTILE.values()}


def test_cmd_while_node_runs_does_not_disconnect_node(broker, tmp_path):
    kdir = _keys(tmp_path)
    db = tmp_path / "central.db"
    from agent.keys import load_signing_key

    keys = Keys(node=load_signing_key(kdir / "node.key"),
                commands=[load_signing_key(p) for p in sorted(kdir.glob("command-*.key"))])
    gate = make_gate(broker, tmp_path / "g", keys, "gate-1", store=CentralStore(db))
    node = _run_node(db, _conn(broker, kdir, tmp_path, "central"), 25, "--json")
    try:
        assert gate.link.wait_for_connected(10)
        gate.emit(3)
        assert wait_until(lambda: gate.outbox.depth() == 0, 10)
        for n in (1, 2):  # `cmd` with its defaults: its own identity, central-cmd
            res = subprocess.run([*CLI, "cmd", "--db", str(db), "--gate", "gate-1", "--op", "pulse_relay",
                                  "--args", json.dumps({"seconds": n}), "--json",
                                  "--sign-with", str(kdir / "command-1.key"), "--sign-with", str(kdir / "command-2.key"),
                                  *_conn(broker, kdir, tmp_path, "central-cmd")[2:]],
                                 cwd=REPO, capture_output=True, text=True, env=ENV, timeout=30)
            assert res.returncode == 0, res.stdout + res.stderr
            assert json.loads(res.stdout.splitlines()[-1])["detail"] == f"pulsed {n}"
            gate.emit(3)  # the node still stores and acks
            assert wait_until(lambda: gate.outbox.depth() == 0, 10), "node stopped acking after a cmd"
        node.send_signal(15)
        out, _ = node.communicate(timeout=20)
    finally:
        if node.poll() is None:
            node.kill()
        gate.stop()
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["detail"] for r in records if r["type"] == "cmd_result"] == ["pulsed 1", "pulsed 2"]  # the node saw both
    assert records[-1]["type"] == "summary" and records[-1]["stored"] == 9
    log = broker.log_text()
    assert "Client central already connected" not in log, log
    assert [r["ok"] for r in CentralStore(db).commands("gate-1")] == [1, 1]
