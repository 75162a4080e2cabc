"""`sharaka-central` end to end: keygen, enrol, run (events stored, hits shown), cmd, gates/events --json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from agent.errors import EXIT_TRANSPORT
from agent.keys import load_public_key, load_signing_key, read_public_key, root_fingerprint
from agent.provision.token import parse_token
from tests.support.link import Keys, make_gate
from tests.support.paths import DOCS, REPO
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


def test_token_sheet_reads_as_docs_provisioning_shows_it(tmp_path, capsys):
    """The operator reads the token and the root fingerprint out from these lines: they were one line with a
    literal backslash-n between them (the escaping meant for what gates send)."""
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    root = tmp_path / "k" / "node.key.pub"  # any public key stands for the root here
    capsys.readouterr()
    assert main(["token", "--db", str(tmp_path / "c.db"), "--gate", "gate-7", "--site", "port-a",
                 "--root-pub", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = (DOCS / "provisioning.md").read_text().split("--root-pub keys/root.pub\n")[1].split("```")[0]
    examples = {"K7QM-2XPA-9D3F-HH4T-0BVC-RN8W-B5": "TOKEN", "2026-12-04 04:33": "UNTIL",
                "e920-0d04-7f67-545d-ef85": "FINGERPRINT"}
    patterns = {"TOKEN": r"(\S+)", "UNTIL": r"\d{4}-\d\d-\d\d \d\d:\d\d", "FINGERPRINT": r"(\S+)"}
    shapes = [re.sub("|".join(examples), lambda m: "\0" + examples[m[0]] + "\0", line) for line in shown.splitlines()]
    shapes = ["".join(patterns[p] if i % 2 else re.escape(p) for i, p in enumerate(s.split("\0"))) for s in shapes]
    assert len(lines) == len(shapes) == 3, lines
    token = re.fullmatch(shapes[0], lines[0])
    fingerprint = re.fullmatch(shapes[2], lines[2])
    assert token and re.fullmatch(shapes[1], lines[1]) and fingerprint, (lines, shapes)
    parse_token(token[1])
    assert fingerprint[1] == root_fingerprint(read_public_key(root))


@pytest.mark.parametrize("count", ["-1", "99999999999"])
def test_keygen_refuses_a_command_key_count_out_of_range(tmp_path, capsys, count):
    """A huge count spun checking names for ever (then would have filled the directory); a negative one was taken."""
    assert main(["keygen", "--out", str(tmp_path / "k"), "--command-keys", count]) == 2
    assert capsys.readouterr().err == f"sharaka-central keygen: --command-keys {count}: expected 0 to 32; see --help\n"
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize("ttl", ["-5", "100000", "nan"])
def test_cmd_refuses_a_lifetime_the_gate_refuses_and_reserves_no_sequence(tmp_path, capsys, ttl):
    """--ttl -5 or beyond a day signed a command every gate refuses, used up the gate's next sequence number and
    recorded the command as sent."""
    from tools.central.store import CentralStore

    kdir = tmp_path / "keys"
    assert main(["keygen", "--out", str(kdir)]) == 0
    db = str(tmp_path / "central.db")
    assert main(["enrol", "--db", db, "--gate", "gate-1", "--pub", str(kdir / "node.key.pub")]) == 0
    capsys.readouterr()
    out = tmp_path / "cmd.bin"
    code = main(["cmd", "--db", db, "--gate", "gate-1", "--op", "rebirth", "--ttl", ttl, "--out", str(out),
                 "--sign-with", str(kdir / "command-1.key")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"sharaka-central cmd: command lifetime {float(ttl):g} s: expected more than 0 s, at most "
                          "86400 s;")
    assert not out.exists() and CentralStore(db).next_cmd_seq("gate-1") == 1


@pytest.mark.parametrize(("listing", "what"), [
    ('"version": null', "listing version None: expected a whole number"),
    ('"version": 1e400', "listing version inf: expected a whole number"),
    ('"version": [1]', "listing version [1]: expected a whole number"),
])
def test_alert_send_refuses_a_listing_version_that_is_not_a_number(tmp_path, capsys, listing, what):
    """A listing's version of null, 1e400 or a list ended in a TypeError or OverflowError traceback."""
    from agent.keys import generate
    from tools.central.store import CentralStore

    generate(tmp_path / "alert.key")
    CentralStore(str(tmp_path / "central.db"))
    listings = tmp_path / "urgent.jsonl"
    listings.write_text('{"kind": "document", "issuing_state": "UTO", "document_number": "L898902C3", '
                        f'"reason": "stolen", {listing}}}\n')
    code = main(["alert", "send", "--db", str(tmp_path / "central.db"), "--alert-key", str(tmp_path / "alert.key"),
                 "--notice", "n", "--listings", str(listings), "--port", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"sharaka-central alert send: {what}")


def test_alert_send_is_recorded_with_who_sent_it_when_and_to_which_gates(broker, tmp_path, capsys):
    """`alert send` kept no record: until a gate reported the alert, `alert status` called its id unknown, and
    neither the Alerts page nor the audit log showed what was sent, when, by whom, to which gates. It is
    recorded now as the console records its own (``ConsoleRecords.record_alert``), once it is published."""
    from agent.keys import generate
    from tools.central.console.records import ConsoleRecords
    from tools.central.store import CentralStore

    generate(tmp_path / "alert.key")
    db = str(tmp_path / "central.db")
    store = CentralStore(db)
    for gate in ("gate-1", "gate-2"):
        store.enrol(gate, bytes(range(32)) if gate == "gate-1" else bytes(32), time.time())
    (tmp_path / "pw").write_text(broker.credentials["central-cmd"])
    listings = tmp_path / "urgent.jsonl"
    listings.write_text('{"kind": "document", "issuing_state": "UTO", "document_number": "L898902C3"}\n')
    before = time.time()
    assert main(["alert", "send", "--db", db, "--alert-key", str(tmp_path / "alert.key"), "--notice", "stolen passport",
                 "--listings", str(listings),
                 "--severity", "warning", "--ttl", "600", "--gate", "gate-2", "--operator", "amina",
                 "--host", broker.host, "--port", str(broker.port), "--username", "central-cmd",
                 "--password-file", str(tmp_path / "pw"), "--json"]) == 0
    alert_id = json.loads(capsys.readouterr().out)["alert"]
    records = ConsoleRecords(store)
    [sent] = records.alerts()
    assert {k: sent[k] for k in ("alert_id", "operator", "severity", "target", "notice", "sites", "gates")} == \
        {"alert_id": alert_id, "operator": "amina", "severity": "warning", "target": "gates",
         "notice": "stolen passport", "sites": [], "gates": ["gate-2"]}
    assert before <= sent["issued"] <= time.time() and sent["expires"] == pytest.approx(sent["issued"] + 600, abs=5)
    assert [(e["operator"], e["action"], e["target"]) for e in records.audit_log()] == \
        [("amina", "alert_issue", alert_id)]
    # what was listed, never who or what: the kinds of the listings, not the document number
    assert json.loads(records.audit_log()[0]["detail"]) == {"severity": "warning", "target": "gates",
                                                           "listed": ["document"]}
    [board] = records.alert_board()  # the Alerts page
    assert (board["alert_id"], board["addressees"], board["missing"]) == (alert_id, ["gate-2"], ["gate-2"])
    assert main(["alert", "status", alert_id, "--db", db]) == 1  # known, no gate reported it yet
    assert main(["alert", "status", "--db", db]) == 0
    assert capsys.readouterr().out == f"{alert_id} gate-2: no report\n" * 2, "gate-1 was not addressed"


@pytest.mark.parametrize("ttl", ["-5", "nan", "2600000"])
def test_alert_send_refuses_a_lifetime_the_gate_refuses(tmp_path, capsys, ttl):
    from agent.keys import generate
    from tools.central.store import CentralStore

    generate(tmp_path / "alert.key")
    CentralStore(str(tmp_path / "central.db"))
    code = main(["alert", "send", "--db", str(tmp_path / "central.db"), "--alert-key", str(tmp_path / "alert.key"),
                 "--notice", "n", "--ttl", ttl, "--port", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"sharaka-central alert send: alert lifetime {float(ttl):g} s: expected more than 0 s, "
                          "at most 30 days;")


def test_run_refuses_more_workers_than_one_machine_runs(tmp_path, capsys, monkeypatch):
    """--workers 100000 started worker processes until the machine stopped answering (load average 560)."""
    import tools.central.cli as cli

    monkeypatch.setattr(cli.subprocess, "Popen", lambda *a, **k: pytest.fail(f"a worker was started: {a}"))
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    capsys.readouterr()
    code = main(["run", "--db", str(tmp_path / "central.db"), "--keys", str(tmp_path / "k"), "--workers", "100000",
                 "--port", "1", "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("sharaka-central run: --workers 100000 / --keep-days 0: expected N of 1 to 64 and DAYS >= 0;")


@pytest.mark.parametrize("command", [["run", "--keys", "K", "--duration", "1"], ["federation", "run", "--config", "K", "--duration", "1"],
                                     ["cmd", "--gate", "gate-1", "--op", "rebirth", "--sign-with", "K"]])
@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_broker_commands_refuse_a_port_out_of_range(tmp_path, capsys, command, port):
    """`run --port 99999` (or 0) ran as against a broker that never answers ("not reachable yet (retrying)"),
    exit 0; -1 ended in socket's "Invalid port number."."""
    args = [str(tmp_path / "k") if a == "K" else a for a in command]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--db", str(tmp_path / "central.db"), f"--port={port}"])
    assert exit_.value.code == 2
    assert f"error: argument --port: '{port}': expected a port number of 1 to 65535" in capsys.readouterr().err
    assert not (tmp_path / "central.db").exists()


@pytest.mark.parametrize("option", [["console", "--accounts", "K", "--listen"], ["run", "--keys", "K", "--enrol-broker"]],
                         ids=["listen", "enrol-broker"])
@pytest.mark.parametrize("address", ["a b:8883", "h\ntopic # both 0:8883", "h:99999", "h", ":8883"],
                         ids=["space", "line-break", "port-out-of-range", "no-port", "no-host"])
def test_host_port_options_refuse_what_the_site_bridge_refuses(tmp_path, capsys, option, address):
    """``--listen`` and ``--enrol-broker`` read HOST:PORT as ``tools/site_bridge.py`` does (agent/arguments.py:
    host_port): a host with a space or a line break (taken before, to fail at bind time or to be handed to every
    gate enrolled) and a port out of range are usage errors before the store is opened."""
    args = [str(tmp_path / "k") if a == "K" else a for a in option]
    with pytest.raises(SystemExit) as exit_:
        main([*args[:-1], "--db", str(tmp_path / "central.db"), args[-1], address])
    assert exit_.value.code == 2
    assert f"error: argument {args[-1]}: {address!r:.60}: expected HOST:PORT, the port" in capsys.readouterr().err
    assert not (tmp_path / "central.db").exists()


@pytest.mark.parametrize("command", [["run", "--keys", "K"], ["federation", "run", "--config", "K"],
                                     ["console", "--accounts", "K"]])
@pytest.mark.parametrize("duration", ["nan", "-1", "inf"])
def test_long_running_commands_refuse_a_duration_that_is_not_seconds(tmp_path, capsys, command, duration):
    """`federation run --duration nan` (or -1) stopped at once and exited 0, as if its run had been done."""
    args = [str(tmp_path / "k") if a == "K" else a for a in command]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--db", str(tmp_path / "central.db"), "--duration", duration])
    assert exit_.value.code == 2
    assert (f"error: argument --duration: '{duration}': expected a finite number of seconds, 0 or more (0: until ^C)"
            in capsys.readouterr().err)
    assert not (tmp_path / "central.db").exists()


@pytest.mark.parametrize("command", [["run", "--keys", "K"], ["gates"]])
def test_a_gap_grace_that_is_not_seconds_is_refused(tmp_path, capsys, command):
    """`--gap-grace nan` was taken: a sequence gap older than NaN seconds is never older, so none was reported."""
    args = [str(tmp_path / "k") if a == "K" else a for a in command]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--db", str(tmp_path / "central.db"), "--gap-grace", "nan"])
    assert exit_.value.code == 2
    assert "error: argument --gap-grace: 'nan': expected a finite number of seconds, 0 or more" in capsys.readouterr().err
    assert not (tmp_path / "central.db").exists()


@pytest.mark.parametrize(("flag", "value", "least"), [
    ("--idle", "nan", "30"), ("--max-failures", "-1", "1"), ("--lockout", "-5", "1")])
def test_console_refuses_session_and_lockout_settings_below_the_gate_screens_floors(tmp_path, capsys, flag, value,
                                                                                   least):
    """The console started with --idle nan (no one was ever signed out for idling), or --lockout -5 (an account
    "locked" until 5 s ago: as many guesses as one likes), or --max-failures -1 (locked at the first typo); the
    gate's own screen refuses the same in its config."""
    from tools.central.store import CentralStore

    CentralStore(str(tmp_path / "central.db"))
    code = main(["console", "--db", str(tmp_path / "central.db"), "--accounts", str(tmp_path / "accounts.db"),
                 "--listen", "127.0.0.1:0", "--duration", "1", flag, value])
    assert code == 2
    assert capsys.readouterr().err == f"sharaka-central console: {flag} {float(value):g}: expected at least {least}; " \
                                      "see --help\n"


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "192.0.2.1:0", "central.example:0"])
def test_console_refuses_plain_http_reachable_from_the_network(tmp_path, capsys, listen):
    """``--listen 0.0.0.0:8080`` without --https-cert served the sign-in form, the passwords and the session
    cookies in clear to the whole network; the gate's screen refuses the same off loopback."""
    from agent.web.accounts import Accounts
    from tools.central.console import ROLES
    from tools.central.store import CentralStore

    CentralStore(str(tmp_path / "central.db"))
    Accounts(tmp_path / "accounts.db", roles=ROLES).add("sara", "correct horse battery", "supervisor")
    code = main(["console", "--db", str(tmp_path / "central.db"), "--accounts", str(tmp_path / "accounts.db"),
                 "--listen", listen, "--duration", "0.1"])
    assert code == 2
    assert "reachable from the network: serve HTTPS there" in capsys.readouterr().err


def test_console_answers_only_to_its_listening_address_and_its_names(tmp_path, capsys):
    """``sharaka-central console --name console.centre.test`` (the name a TLS front or the certificate gives it):
    its loopback address, localhost and that name get the sign-in form; a page of another name that resolves to
    it (DNS rebinding) gets 421 and no form. A --name that is no host name is refused at start."""
    import http.client
    import socket
    import threading

    from agent.web.accounts import Accounts
    from tools.central.console import ROLES
    from tools.central.store import CentralStore

    CentralStore(str(tmp_path / "central.db"))
    Accounts(tmp_path / "accounts.db", roles=ROLES).add("sara", "correct horse battery", "supervisor")
    args = ["console", "--db", str(tmp_path / "central.db"), "--accounts", str(tmp_path / "accounts.db")]
    assert main([*args, "--name", "bad name", "--duration", "0.1"]) == 2
    assert "--name 'bad name': expected a DNS name" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    answers: dict[str, tuple[int, str]] = {}

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    def ask() -> None:
        assert wait_until(listening, 10)
        for host in ("console.centre.test", "127.0.0.1", "localhost", "rebind.attacker.example"):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/login", headers={"Host": f"{host}:{port}"})
            r = conn.getresponse()
            answers[host] = (r.status, r.read().decode())
            conn.close()

    asker = threading.Thread(target=ask)
    asker.start()
    assert main([*args, "--listen", f"127.0.0.1:{port}", "--name", "console.centre.test", "--duration", "4"]) == 0
    asker.join(10)
    assert answers["rebind.attacker.example"] == (421, "this server does not answer to that host name")
    for host in ("console.centre.test", "127.0.0.1", "localhost"):
        assert answers[host][0] == 200 and 'name="password"' in answers[host][1], host


def test_console_behind_a_tls_front_takes_the_fronts_origin_and_sets_a_secure_cookie(tmp_path, capsys):
    """``sharaka-central console --front https://console.centre.test`` on loopback, as a TLS front passes a browser's
    sign-in on (Host the front's name, Origin its https origin): signed in, with a ``Secure`` ``__Host-`` cookie and
    HSTS; the same form from the plain-http origin is refused. Before, the browser's https Origin never matched
    the front's http request (every POST 403) and the cookie went without ``Secure``. A --front that is not an
    https origin is refused at start."""
    import http.client
    import socket
    import threading
    import urllib.parse

    from agent.web.accounts import Accounts
    from tools.central.console import ROLES
    from tools.central.store import CentralStore

    CentralStore(str(tmp_path / "central.db"))
    Accounts(tmp_path / "accounts.db", roles=ROLES).add("sara", "correct horse battery", "supervisor")
    args = ["console", "--db", str(tmp_path / "central.db"), "--accounts", str(tmp_path / "accounts.db")]
    for bad in ("http://console.centre.test", "https://console.centre.test/console", "https://u@console.centre.test"):
        assert main([*args, "--front", bad, "--duration", "0.1"]) == 2, bad
        assert "expected https://NAME" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    answers: dict[str, http.client.HTTPResponse] = {}

    def sign_in(origin: str) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = urllib.parse.urlencode({"user": "sara", "password": "correct horse battery"})
        conn.request("POST", "/login", body, headers={"Host": "console.centre.test", "Origin": origin,
                                                      "Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        r.read()
        conn.close()
        return r

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    def ask() -> None:
        assert wait_until(listening, 10)
        for origin in ("https://console.centre.test", "http://console.centre.test"):
            answers[origin] = sign_in(origin)

    asker = threading.Thread(target=ask)
    asker.start()
    assert main([*args, "--listen", f"127.0.0.1:{port}", "--front", "https://Console.Centre.Test:443/",
                 "--duration", "4"]) == 0
    asker.join(10)
    front, plain = answers["https://console.centre.test"], answers["http://console.centre.test"]
    assert front.status == 303, front.status
    cookie = front.headers["Set-Cookie"]
    assert cookie.startswith("__Host-sharaka_session=") and "Secure" in cookie and "HttpOnly" in cookie, cookie
    assert front.headers["Strict-Transport-Security"].startswith("max-age=")
    assert plain.status == 403 and plain.headers.get("Set-Cookie") is None


def test_alert_status_of_an_id_the_centre_never_issued_is_a_usage_error(tmp_path, capsys):
    """A mistyped id printed "no report" for every gate, as if the gates had missed a real alert."""
    from tools.central.console.records import ConsoleRecords
    from tools.central.store import CentralStore

    db = str(tmp_path / "central.db")
    store = CentralStore(db)
    store.enrol("gate-1", bytes(range(32)), time.time())
    ConsoleRecords(store).record_alert("a" * 32, "sup", "urgent", "all", "n", time.time() + 60)
    assert main(["alert", "status", "b" * 32, "--db", db]) == 2
    out, err = capsys.readouterr()
    assert "no report" not in out
    assert err.startswith(f"sharaka-central alert status: alert {'b' * 32!r}: not in ")
    assert main(["alert", "status", "a" * 32, "--db", db]) == 1  # issued, no gate reported it yet
    assert capsys.readouterr().out == f"{'a' * 32} gate-1: no report\n"



@pytest.mark.parametrize("command", ["console", "run", "run --workers 2", "federation run"])
def test_long_running_commands_give_back_the_signal_handlers_they_found(broker, tmp_path, capsys, command):
    """Each installed a SIGTERM handler (setting its stop event) it never took back: a caller in the same process
    (a test, a program embedding the command) then had its SIGTERM set an event nobody waited on. Now each holds
    it only while it runs (agent/signals.py: stop_on)."""
    import signal

    from tools.central.store import CentralStore

    db, pw = str(tmp_path / "central.db"), tmp_path / "pw"
    CentralStore(db).close()
    pw.write_text(broker.central[1])
    conn = ["--db", db, "--host", broker.host, "--port", str(broker.port), "--username", broker.central[0],
            "--password-file", str(pw)]
    if command == "console":
        from agent.web.accounts import Accounts
        from tools.central.console import ROLES

        Accounts(tmp_path / "accounts.db", roles=ROLES).add("sara", "correct horse battery", "supervisor")
        args = ["console", "--db", db, "--accounts", str(tmp_path / "accounts.db"), "--listen", "127.0.0.1:0"]
    elif command == "federation run":
        assert main(["federation", "init", "--out", str(tmp_path / "federation.toml"), "--centre", "ATL"]) == 0
        args = ["federation", "run", "--config", str(tmp_path / "federation.toml"), *conn]
    else:
        assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
        for i in (1, 2):  # --workers 2: worker I is broker user central-I
            broker.add_central(f"{broker.central[0]}-{i}", broker.central[1])
        args = [*command.split(), "--keys", str(tmp_path / "k"), *conn]
    found = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main([*args, "--duration", "0.2"]) == 0, capsys.readouterr()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == found, "a handler was left"
