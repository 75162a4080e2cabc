"""`sharaka-central` end to end: keygen, enrol, run (events stored, hits shown), cmd, gates/events --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from agent.errors import EXIT_TRANSPORT
from agent.keys import load_public_key, load_signing_key
from tests.support.link import Keys, make_gate
from tests.support.paths import REPO
from tests.support.wait import wait_until
from tools.central.cli import main


def test_keygen_and_enrol_are_idempotent_and_refuse_a_second_key(tmp_path, capsys):
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    assert oct((tmp_path / "k" / "node.key").stat().st_mode & 0o777) == "0o600"
    assert len(list((tmp_path / "k").glob("command-*.key.pub"))) == 3
    db = str(tmp_path / "c.db")
    pub = str(tmp_path / "k" / "node.key.pub")
    assert main(["enrol", "--db", db, "--gate", "gate-1", "--pub", pub, "--json"]) == 0
    assert main(["enrol", "--db", db, "--gate", "gate-1", "--pub", pub, "--json"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [o["enrolled"] for o in out] == [True, False]
    other = "ab" * 32
    assert main(["enrol", "--db", db, "--gate", "gate-1", "--pub", other]) == 2
    assert main(["enrol", "--db", db, "--gate", "bad/gate", "--pub", other]) == 2


def test_central_run_stores_events_shows_hits_and_cmd_reaches_gate(broker, tmp_path):
    kdir = tmp_path / "keys"
    assert main(["keygen", "--out", str(kdir)]) == 0
    keys = Keys(node=load_signing_key(kdir / "node.key"),
                commands=[load_signing_key(p) for p in sorted(kdir.glob("command-*.key"))])
    assert bytes(load_public_key(kdir / "node.key.pub")) == bytes(keys.node.verify_key)
    db = tmp_path / "central.db"
    pw = tmp_path / "pw"
    pw.write_text(broker.central[1])
    conn = ["--keys", str(kdir), "--port", str(broker.port), "--username", broker.central[0],
            "--password-file", str(pw)]
    from tools.central.store import CentralStore

    gate = make_gate(broker, tmp_path / "g", keys, "gate-1", store=CentralStore(db), ack_timeout=1.0)
    proc = subprocess.Popen([sys.executable, "-m", "tools.central.cli", "run", "--db", str(db), "--json",
                             "--duration", "8", *conn], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        gate.emit(5)
        gate.emit(1, hit=True)
        assert wait_until(lambda: gate.outbox.depth() == 0, 10)
    finally:
        out, _ = proc.communicate(timeout=20)
        gate.stop()
    lines = [json.loads(line) for line in out.splitlines()]
    assert any(o["type"] == "hit" and o["gate"] == "gate-1" for o in lines)
    assert any(o["type"] == "status" and o["state"] == "online" for o in lines)
    assert lines[-1]["type"] == "summary" and lines[-1]["stored"] == 6
    gate = make_gate(broker, tmp_path / "g", keys, "gate-1", key=gate.key)
    try:
        assert gate.link.wait_for_connected(10)
        time.sleep(0.2)
        # pulse_relay opens the gate: two holders' keys (docs/protocol.md "Two-key rule")
        signers = ["--sign-with", str(kdir / "command-1.key"), "--sign-with", str(kdir / "command-2.key")]
        res = subprocess.run([sys.executable, "-m", "tools.central.cli", "cmd", "--db", str(db), "--gate", "gate-1",
                              "--op", "pulse_relay", "--args", '{"seconds": 2}', "--json", *signers, *conn[2:]],
                             cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                             timeout=30)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout.splitlines()[-1])["detail"] == "pulsed 2"
    finally:
        gate.stop()
    res = subprocess.run([sys.executable, "-m", "tools.central.cli", "events", "--db", str(db), "--json"],
                         cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(events) == 6 and sum(e["is_hit"] for e in events) == 1


def test_cmd_with_a_wrong_password_says_the_broker_refused_it_at_once(broker, tmp_path, capsys):
    """The command sender took any CONNACK for a connection, so a refused one (a wrong password) waited out the
    whole timeout for a result and then said only that none came."""
    kdir = tmp_path / "keys"
    assert main(["keygen", "--out", str(kdir)]) == 0
    db = str(tmp_path / "central.db")
    assert main(["enrol", "--db", db, "--gate", "gate-1", "--pub", str(kdir / "node.key.pub")]) == 0
    (tmp_path / "pw").write_text("not the password")
    code = main(["cmd", "--db", db, "--gate", "gate-1", "--op", "rebirth", "--sign-with",
                 str(next(kdir.glob("command-*.key"))), "--port", str(broker.port), "--username", "central-cmd",
                 "--password-file", str(tmp_path / "pw"), "--timeout", "30"])
    err = capsys.readouterr().err
    assert code == EXIT_TRANSPORT and "cannot connect to the broker" in err and "Not authorized" in err, (code, err)
