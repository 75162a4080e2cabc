"""`sharaka-gate provision` end to end against a real Mosquitto and the reference central node
(docs/provisioning.md; RELIABILITY 37-39)."""

from __future__ import annotations

import argparse
import contextlib
import re
import stat
import subprocess
import time

from agent.config import load_config
from tests.provision.conftest import GATE, token_id
from tests.support.paths import DOCS
from tests.support.wait import wait_until


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_fresh_gate_is_enrolled_configured_and_every_check_passes(site):
    run = site.provision(token=site.token())
    assert run.code == 0, (run.out, run.err)
    report = run.json
    assert report["ok"], report["checklist"]
    state = site.gate_dir() / "state"
    assert _mode(state / "device.key") == 0o600 and _mode(state / "tls" / "client.key") == 0o600
    config = load_config(site.gate_dir() / "etc" / "gate.toml")
    assert (config.gate.id, config.link.port, config.hitlist.list_id) == (GATE, site.broker.tls_port, "sltd")
    assert site.store.device_key(GATE) == (state / "device.key.pub").read_bytes()
    items = {i["item"]: i for i in report["checklist"]}
    assert items["hit-list sltd"]["ok"] and "version 1" in items["hit-list sltd"]["found"]


def test_fresh_gate_enrols_through_the_shipped_broker_configuration(shipped_site):
    # images/mosquitto/mosquitto.conf as shipped: enrolment listener (8884), then the gates' TLS listener
    run = shipped_site.provision(token=shipped_site.token())
    assert run.code == 0, (run.out, run.err)
    assert run.json["ok"], run.json["checklist"]
    assert shipped_site.store.device_key(GATE) is not None


def test_device_certificate_serves_the_officers_screen_to_a_verifying_browser(site):
    """The certificate the centre signs at enrolment is the one the screen serves off loopback (agent/screen):
    it carries serverAuth besides clientAuth and the gate id as its DNS name, so a client that checks purpose
    and name against the broker CA (as a browser does) accepts it."""
    import socket
    import ssl
    import threading

    from agent.web.server import server_ssl_context

    assert site.provision(token=site.token()).code == 0
    tls = site.gate_dir() / "state" / "tls"
    text = subprocess.run(["openssl", "x509", "-in", str(tls / "client.crt"), "-noout", "-ext",
                           "extendedKeyUsage,subjectAltName"], capture_output=True, text=True, check=True).stdout
    assert "TLS Web Client Authentication" in text and "TLS Web Server Authentication" in text
    assert f"DNS:{GATE}" in text
    server_ctx = server_ssl_context(tls / "client.crt", tls / "client.key")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def serve() -> None:
            conn, _ = listener.accept()
            with contextlib.suppress(ssl.SSLError, OSError), server_ctx.wrap_socket(conn, server_side=True) as s:
                s.sendall(b"ok")

        threading.Thread(target=serve, daemon=True).start()
        browser = ssl.create_default_context(cafile=str(tls / "ca.crt"))  # purpose and host name checked
        with socket.create_connection(listener.getsockname(), timeout=10) as raw, \
                browser.wrap_socket(raw, server_hostname=GATE) as conn:
            assert conn.recv(2) == b"ok"


def test_centre_refuses_a_device_certificate_named_like_its_broker(site):
    # a gate id equal to the broker's host name would give a certificate that other gates accept as the broker
    run = site.provision(token=site.token(gate=site.broker.host), gate=site.broker.host)
    assert run.code != 0
    assert "broker's host name" in run.out + run.err


def test_a_gate_id_of_digits_and_dots_is_a_dns_name_in_its_device_certificate(site):
    """The CA wrote a gate id that looks like an IP address as an IP SAN: gate 10.0.0.5 got a serverAuth
    certificate for that address from the broker CA (other gates reaching the broker at 10.0.0.5 would accept
    it), and gate 7 none at all (openssl refused "IP:7": bad_csr, "run provision again", for ever)."""
    for n, gate in enumerate(("10.0.0.5", "7")):
        run = site.provision(token=site.token(gate=gate), gate=gate, gate_dir=f"gate-{n}")
        assert run.code == 0, run.out + run.err
        text = subprocess.run(["openssl", "x509", "-in", str(site.gate_dir(f"gate-{n}") / "state/tls/client.crt"),
                               "-noout", "-ext", "subjectAltName"], capture_output=True, text=True, check=True).stdout
        assert f"DNS:{gate}" in text and "IP Address" not in text, text


def test_checklist_as_a_technician_reads_it(site):
    run = site.provision(token=site.token(), as_json=False)
    print(run.out)
    assert run.code == 0, run.err
    assert "All checks passed: the gate is ready." in run.out


def _tree(root):
    """Every file under ``root`` with its bytes and mtime: what "changes nothing" compares."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _written(site, gate_dir="gate"):
    d = site.gate_dir(gate_dir)
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()) if d.exists() else []


def _one_line(run):
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.err, run.err
    assert lines[0].startswith("sharaka-gate provision: ") and "; " in lines[0], lines[0]
    return lines[0]


def test_p37_rerun_with_the_same_token_changes_nothing_and_registers_once(site):
    token = site.token()
    assert site.provision(token=token).code == 0
    before = _tree(site.gate_dir())
    again = site.provision("--no-selftest", token=token)
    assert again.code == 0, again.err
    assert {s["status"] for s in again.json["steps"]} == {"kept"}, again.json["steps"]
    after = _tree(site.gate_dir())
    changed = {k for k in before if before[k][0] != after.get(k, (None,))[0]}
    # the agent's own link state (session number, trusted time) moves with each connection test; nothing
    # provision made (keys, certificates, pins, config, record) changes
    assert not {k for k in changed if not k.startswith(("state/link/", "state/time.json", "state/outbox"))}, changed
    assert [e["kind"] for e in site.store.key_events(GATE)] == ["enrolled"]


def test_p37_answer_lost_after_the_centre_registered_the_key_rerun_gets_the_same_identity(site):
    """Power lost after the centre consumed the token but before the gate wrote its record: the same token
    and device key get the same answer, and the centre registers nothing twice."""
    token = site.token()
    assert site.provision(token=token).code == 0
    state = site.gate_dir() / "state"
    key = (state / "device.key.pub").read_bytes()
    (state / "provision.json").unlink()
    again = site.provision(token=token)
    assert again.code == 0, again.err
    assert (state / "device.key.pub").read_bytes() == key == site.store.device_key(GATE)
    assert [e["kind"] for e in site.store.key_events(GATE)] == ["enrolled"]


def test_mistyped_token_is_caught_on_the_gate_before_anything_is_sent_or_written(site):
    token = site.token()
    typo = token[:5] + ("0" if token[5] != "0" else "1") + token[6:]
    run = site.provision(token=typo)
    assert run.code == 2
    assert "mistyped" in _one_line(run)
    assert _written(site) == []


def test_p37_wrong_token_refused_with_its_own_code_nothing_pinned(site):
    site.token()  # the centre issued one; the technician has another centre's
    from agent.provision.token import format_token, new_token

    run = site.provision(token=format_token(new_token()))
    assert run.code == 5
    assert "unknown_token" in _one_line(run)
    assert not any(p.startswith(("etc/", "state/provision.json", "state/hitlist", "state/tls/client.crt"))
                   for p in _written(site))
    assert site.store.device_key(GATE) is None


def test_p37_token_for_another_gate_refused(site):
    run = site.provision(token=site.token(gate="gate-8"))
    assert run.code == 5
    assert "wrong_gate" in _one_line(run)
    assert site.store.device_key(GATE) is None and site.store.device_key("gate-8") is None


def test_p37_expired_token_refused_with_its_own_code(site):
    token = site.token(ttl=60)
    site.clock_offset = 120.0  # the centre's clock has moved past the token's expiry
    run = site.provision(token=token)
    assert run.code == 6
    assert "token_expired" in _one_line(run) and "new one" in run.err
    assert site.store.device_key(GATE) is None


def test_p37_used_token_refused_for_another_device(site):
    token = site.token()
    assert site.provision(token=token).code == 0
    other = site.provision(token=token, gate_dir="another-unit")
    assert other.code == 7
    assert "token_used" in _one_line(other)
    assert site.store.device_key(GATE) == (site.gate_dir() / "state" / "device.key.pub").read_bytes()
    assert [e["kind"] for e in site.store.key_events(GATE)] == ["enrolled"]


def test_p37_wrong_root_fingerprint_refused_token_kept_for_the_right_one(site):
    token = site.token()
    run = site.provision(token=token, fingerprint="0000-1111-2222-3333-4444")
    assert run.code == 3
    assert "root_mismatch" in _one_line(run) and "fingerprint" in run.err
    assert not (site.gate_dir() / "state" / "hitlist" / "root.pub").exists()
    assert not (site.gate_dir() / "etc" / "gate.toml").exists()
    assert site.store.device_key(GATE) is None  # nothing registered, the token not consumed
    assert site.provision(token=token).code == 0


def test_p37_broker_unreachable_clear_message_nothing_written(site):
    from tests.support.broker import free_port

    run = site.provision(token=site.token(), broker=f"mqtts://127.0.0.1:{free_port()}")
    assert run.code == 4
    line = _one_line(run)
    assert "cannot reach the broker" in line and "nothing was written" in line
    assert _written(site) == []


def test_dry_run_writes_nothing_and_sends_nothing(site):
    token = site.token()
    run = site.provision("--dry-run", token=token)
    assert run.code == 0, run.err
    assert {s["status"] for s in run.json["steps"]} == {"would"}
    assert _written(site) == []
    assert site.store.token(token_id(token))["used"] is None


def test_p38_private_keys_are_0600_and_no_message_carries_their_bytes(site):
    """Every message on the broker while a gate is provisioned and checked (enrolment, the connection test,
    the list download by the agent's own link) is scanned for the device seed and the TLS private key, raw,
    hex and base64."""
    import base64

    from tests.support.broker import MqttTestClient

    user, password = site.broker.add_central("central-spy")
    spy = MqttTestClient(site.broker, user, password, client_id=user)
    assert spy.connect()
    spy.subscribe("sharaka/v1/#")
    assert site.provision(token=site.token()).code == 0
    time.sleep(0.3)
    seen = spy.drain()
    spy.close()
    state = site.gate_dir() / "state"
    seed = (state / "device.key").read_bytes()
    pem = (state / "tls" / "client.key").read_text()
    b64 = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    der = base64.b64decode(b64)
    secrets = [seed, seed.hex().encode(), der, b64.encode(), der[-32:]]  # der ends with the public point; the
    secrets += [der[7:39]]  # P-256 private scalar sits right after the SEQUENCE/INTEGER headers of a PKCS#8/SEC1 key
    topics = {m.topic.rsplit("/", 1)[-1] for m in seen}
    assert {"req", "reply", "status"} <= topics, topics  # enrolment and the gate's own link were both watched
    for m in seen:
        for s in secrets:
            assert s not in bytes(m.payload), f"private key bytes in a message on {m.topic}"
    for key in (state / "device.key", state / "tls" / "client.key"):
        assert _mode(key) == 0o600, key


def test_p39_enrolment_broker_certificate_from_an_unpinned_ca_refused_nothing_written(site):
    run = site.provision("--enrol-ca", str(site.pki.foreign_ca.cert), token=site.token())
    assert run.code == 3
    line = _one_line(run)
    assert "certificate the pinned CA did not sign" in line and "captive portal" in line
    assert _written(site) == []


def test_p39_checklist_names_a_broker_certificate_from_an_unpinned_ca(site, tmp_path):
    """The gate pinned the CA it got at enrolment; a broker whose certificate another CA signed (here a second
    Mosquitto with a foreign server certificate) is refused and the checklist says what to do."""
    from dataclasses import dataclass

    from tools.broker_setup import CertFiles, issue_cert
    from tools.mosquitto import Broker

    @dataclass
    class ForeignTls:
        ca: CertFiles
        server: CertFiles

    server = issue_cert(site.pki.foreign_ca, tmp_path / "foreign-server", "localhost", now=site.pki.now,
                        server_names=("127.0.0.1", "localhost"))
    rogue = Broker(tmp_path / "rogue", tls=ForeignTls(site.pki.ca, server))
    rogue.start()
    try:
        assert site.provision(token=site.token()).code == 0
        conf = site.gate_dir() / "etc" / "gate.toml"
        conf.write_text(conf.read_text().replace(f"port = {site.broker.tls_port}", f"port = {rogue.tls_port}"))
        run = site.provision("--no-selftest", as_json=False)
    finally:
        rogue.stop()
    assert run.code == 1, run.err
    assert "[FIX ] broker certificate" in run.out and "never replace the pinned CA" in run.out, run.out
    assert "[ OK ] network" in run.out


def test_wipe_destroys_keys_lists_queue_and_config_and_the_centre_retires_the_gate(site):
    assert site.provision(token=site.token()).code == 0
    state, conf = site.gate_dir() / "state", site.gate_dir() / "etc" / "gate.toml"
    (state / "outbox.sqlite3").write_bytes(b"queued personal data, sealed")  # stands in for a backlog
    refused = site.provision("--wipe", "--confirm", "gate-8")
    assert refused.code == 2 and "nothing was destroyed" in _one_line(refused)
    assert (state / "device.key").exists()
    run = site.provision("--wipe", "--confirm", GATE)
    assert run.code == 0, run.err
    report = run.json
    assert report["relay"] == "safe (de-energised)"
    assert report["centre"].startswith("told"), report["centre"]
    assert str(state / "device.key") in report["destroyed"] and str(state / "outbox.sqlite3") in report["destroyed"]
    assert not state.exists() and not conf.exists()
    # the centre trusts the key no more, once its worker committed the status the broker acknowledged
    assert wait_until(lambda: site.store.device_keys(GATE) == [], 5), site.store.device_keys(GATE)
    assert [e["kind"] for e in site.store.key_events(GATE)] == ["enrolled", "retired"]
    again = site.provision(token=site.token())  # the same gate id, provisioned afresh with a new token
    assert again.code == 0, again.err
    assert [e["kind"] for e in site.store.key_events(GATE)] == ["enrolled", "retired", "replaced"]


def test_remote_wipe_command_with_two_keys_does_what_provision_wipe_does(site):
    """The two-key ``wipe`` command at a running gate: relay safe, the signed result tells the centre, which
    retires the gate; then keys, lists, queued data and config are destroyed and the agent stops."""
    import threading

    from agent.app import GateApp
    from hal.indicators import SAFE_OUTPUT
    from tests.support.wait import wait_until

    assert site.provision(token=site.token()).code == 0
    state, conf = site.gate_dir() / "state", site.gate_dir() / "etc" / "gate.toml"
    app = GateApp(load_config(conf))
    app.open()
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), daemon=True)
    runner.start()
    try:
        assert app.link.wait_for_connected(10)
        site.node.send_command(GATE, "wipe", signers=site.keys.commands[:1])  # one holder: refused
        site.node.send_command(GATE, "wipe", signers=site.keys.commands[:2])
        runner.join(20)
        assert not runner.is_alive(), "the agent did not stop after the wipe"
    finally:
        stop.set()
        runner.join(5)
    assert app.indicators.shown == SAFE_OUTPUT  # what the board last drove: relay de-energised
    assert not state.exists() and not conf.exists()
    assert wait_until(lambda: site.store.device_keys(GATE) == [], 5)
    results = [(c["op"], c["ok"], c["reason"]) for c in site.store.commands(GATE)]
    assert sorted(results) == [("wipe", False, "threshold"), ("wipe", True, "ok")], results


def test_mass_rollout_answers_file_enrols_like_the_flags(site, tmp_path):
    """What sharaka-provision.service runs at first boot: every answer and the one-time token from the bundle's
    provision.toml, no prompt; the same enrolment, the same checklist."""
    import io
    import json
    from contextlib import redirect_stdout

    from agent.cli import main as gate_cli

    answers = tmp_path / "provision.toml"
    answers.write_text(
        f'gate = "{GATE}"\nsite = "port-a"\ntoken = "{site.token()}"\n'
        f'broker = "mqtts://{site.broker.host}:{site.broker.enrol_port}"\nroot_fingerprint = "{site.fingerprint}"\n'
        'reader = "sim://reader?framing=lines"\nindicators = "sim://pca9685"\n[policy]\nstale_policy = "refer"\n')
    d = site.gate_dir()
    out = io.StringIO()
    with redirect_stdout(out):
        code = gate_cli(["provision", "--answers", str(answers), "--yes", "--json", "--config", str(d / "etc/gate.toml"),
                         "--state-dir", str(d / "state"), "--list-timeout", "30"])
    assert code == 0, out.getvalue()
    assert json.loads(out.getvalue())["ok"]
    assert load_config(d / "etc/gate.toml").screening.stale_policy == "refer"
    answers.write_text('colour = "green"\n' + answers.read_text())
    bad = site.provision("--answers", str(answers))
    assert bad.code == 2 and "unknown key 'colour'" in _one_line(bad)


def test_on_the_appliance_the_state_is_handed_to_the_agents_user(site):
    """Provision runs as root; the agent runs as its own user: the state becomes that user's and the config
    root's, readable by the agent's group (here the user ``nobody`` stands in for ``sharaka``)."""
    import os
    import pwd

    from agent.provision.broker import Endpoint
    from agent.provision.flow import Inputs, Provisioner

    if os.geteuid() != 0:
        raise AssertionError("this check needs root (tests and CI run as root)")
    assert site.provision(token=site.token()).code == 0
    d = site.gate_dir()
    prov = Provisioner(Inputs(config=d / "etc/gate.toml", state=d / "state", gate_id=GATE, site="port-a",
                              broker=Endpoint("127.0.0.1", 1, True)))
    prov.hand_over("nobody")
    nobody = pwd.getpwnam("nobody")
    assert {p.stat().st_uid for p in (d / "state").rglob("*")} == {nobody.pw_uid}
    conf = (d / "etc/gate.toml").stat()
    assert (conf.st_uid, conf.st_gid, _mode(d / "etc/gate.toml")) == (0, nobody.pw_gid, 0o640)
    assert _mode(d / "state/device.key") == 0o600


def test_on_the_appliance_provision_lets_the_enrolment_host_out_then_refreshes_the_firewall_from_its_gate_toml(
        site, tmp_path):
    """Run by hand on an appliance (an engineering build with a login), provision found no broker in the firewall's
    sets: neither gate.toml nor provision.toml existed, so the enrolment listener was shut, and the broker the centre
    named stayed shut until sharaka-firewall.service ran. Now the enrolment host is let out before it is reached,
    and the firewall refreshed once gate.toml is written, before the checklist; a refresh that fails is a step
    that says the command to run. ``nft`` and ``systemctl`` are stand-ins that log their arguments (the real
    ``nft`` on the image's ruleset: the next test)."""
    import dataclasses

    import pytest

    from agent.keys import parse_fingerprint
    from agent.provision.broker import Endpoint, LinkProblem
    from agent.provision.firewall import ApplianceFirewall
    from agent.provision.flow import Inputs, Provisioner
    from agent.provision.token import parse_token

    d, log = site.gate_dir(), tmp_path / "commands.log"
    config = d / "etc/gate.toml"
    tools = {}
    for name, tail in (("nft", ""), ("systemctl", f' "gate.toml:$(test -f {config} && echo written)"')):
        tools[name] = tmp_path / name
        tools[name].write_text(f'#!/bin/sh\necho {name} "$@"{tail} >> {log}\n'
                               f'[ -e {tmp_path}/broken ] && echo "Unit {name} failed." >&2 && exit 1\nexit 0\n')
        tools[name].chmod(0o755)
    inputs = Inputs(config=config, state=d / "state", gate_id=GATE, site="port-a",
                    broker=Endpoint(site.broker.host, site.broker.enrol_port, True), token=parse_token(site.token()),
                    root_fp=parse_fingerprint(site.fingerprint),
                    devices={"reader": "sim://reader?framing=lines", "indicators": "sim://pca9685"})
    firewall = ApplianceFirewall(nft=str(tools["nft"]), systemctl=str(tools["systemctl"]))
    prov = Provisioner(inputs, firewall=firewall)
    assert prov.run() is not None
    assert log.read_text().splitlines() == [
        f"nft add element inet sharaka central_broker4 {{ {site.broker.host} }}",
        "systemctl restart sharaka-firewall.service gate.toml:written"]
    assert [(s.step, s.status) for s in prov.steps if s.step == "firewall"] == [("firewall", "done")] * 2
    (tmp_path / "broken").touch()
    again = Provisioner(inputs, firewall=firewall)
    again.run()  # a re-run: nothing to enrol, the firewall refreshed again
    assert [(s.status, s.detail) for s in again.steps if s.step == "firewall"] == [
        ("failed", f"the gate's own firewall: Unit systemctl failed.; run: {tools['systemctl']} restart "
                   "sharaka-firewall.service")]
    elsewhere = dataclasses.replace(inputs, config=tmp_path / "new/gate.toml", state=tmp_path / "new/state",
                                    broker=Endpoint("127.0.0.1", 1, True))  # a listener that is not there
    with pytest.raises(LinkProblem) as refused:
        Provisioner(elsewhere, firewall=firewall).run()
    assert str(refused.value).endswith(f"nothing was written (the gate's own firewall: Unit nft failed.; run: "
                                       f"{tools['nft']} add element inet sharaka central_broker4 '{{ 127.0.0.1 }}')")


def test_the_enrolment_host_is_let_out_in_the_images_own_ruleset(tmp_path):
    """``ApplianceFirewall`` against the image's ruleset loaded by the real ``nft`` in a network namespace of its
    own: not active before it is loaded, then the enrolment host's IPv4 and IPv6 addresses in the broker sets."""
    import json
    import sys

    from tests.support.paths import IMAGES, REPO

    conf = tmp_path / "nftables.conf"
    conf.write_text((IMAGES / "rootfs/etc/nftables.conf").read_text().replace("/etc/sharaka/", f"{tmp_path}/"))
    script = f"""if True:
        import json, subprocess
        from agent.provision.firewall import ApplianceFirewall
        fw = ApplianceFirewall()
        before = fw.active()
        subprocess.run([fw.nft, "-f", {str(conf)!r}], check=True)
        out = [before, fw.active(), fw.let_out("192.0.2.10"), fw.let_out("2001:db8::10")]
        out += [subprocess.run([fw.nft, "list", "set", "inet", "sharaka", f"central_broker{{v}}"], check=True,
                               capture_output=True, text=True).stdout for v in (4, 6)]
        print(json.dumps(out))"""
    run = subprocess.run(["unshare", "--net", sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert run.returncode == 0, run.stderr
    before, after, four, six, set4, set6 = json.loads(run.stdout)
    assert (before, after, four, six) == (False, True, ["192.0.2.10"], ["2001:db8::10"])
    assert "elements = { 192.0.2.10 }" in set4 and "elements = { 2001:db8::10 }" in set6


def test_a_timeout_that_is_not_a_number_is_refused_by_name(tmp_path, capsys):
    """--timeout nan passed the "> 0" check and reached the socket: "Invalid value NaN (not a number)", which
    named neither the option nor what to give."""
    from agent.cli import main

    for flag in ("--timeout", "--list-timeout"):
        code = main(["provision", flag, "nan", "--config", str(tmp_path / "etc" / "gate.toml"), "--state-dir",
                     str(tmp_path / "state"), "--yes"])
        assert (code, capsys.readouterr().err) == (2, "sharaka-gate provision: --timeout must be > 0 and --list-timeout"
                                                      " >= 0 seconds; see --help\n")
    assert not tmp_path.joinpath("etc").exists() and not tmp_path.joinpath("state").exists()


def test_a_lab_gate_policy_is_refused_before_anything_is_written_or_sent(tmp_path, capsys):
    """`--policy` takes [screening] keys, but lab_gate made an enrolled gate that screens without its signed list
    (or, on the appliance, an agent that refuses to start): RELIABILITY 45, never a lab gate in the field."""
    from agent.cli import main

    for policy in (["--policy", "lab_gate=true"], ["--policy", "stale_policy=refer", "--policy", "lab_gate=1"]):
        code = main(["provision", "--config", str(tmp_path / "etc" / "gate.toml"), "--state-dir", str(tmp_path / "state"),
                     "--gate", "gate-7", "--site", "port-a", "--token", "K7QM-2XPA-9D3F-HH4T-0BVC-RN8W-B5",
                     "--broker", "mqtts://127.0.0.1:1", "--root-fingerprint", "e920-0d04-7f67-545d-ef85",
                     "--reader", "sim://reader", "--indicators", "sim://pca9685", "--yes", *policy])
        assert code == 2
        assert "lab_gate" in capsys.readouterr().err
    assert not tmp_path.joinpath("etc").exists() and not tmp_path.joinpath("state").exists()


def test_an_existing_config_of_the_wrong_shape_is_a_one_line_refusal_not_a_traceback(tmp_path, capsys, monkeypatch):
    """provision reads the existing config to fill what it is not given: a table written as a value (``devices =
    3``) or a state directory that is not a path raised AttributeError/TypeError; a wipe given such a config
    must refuse, never fall back to the default state directory and destroy that."""
    from agent.cli import main
    from agent.commands import provision
    from agent.provision.token import format_token, new_token

    default_state = tmp_path / "default-state"
    (default_state / "keep").mkdir(parents=True)
    monkeypatch.setattr(provision, "DEFAULT_STATE", default_state)
    config = tmp_path / "gate.toml"
    flags = ["provision", "--config", str(config), "--gate", "gate-7", "--site", "port-a", "--token",
             format_token(new_token()), "--broker", "mqtts://127.0.0.1:1", "--root-fingerprint", "1a2b" * 5,
             "--reader", "sim://reader?framing=lines", "--indicators", "sim://pca9685", "--yes", "--dry-run"]
    config.write_text('devices = 3\nscreening = "strict"\nhitlist = 1\n')
    assert main([*flags, "--state-dir", str(tmp_path / "state")]) == 0  # what is not a table gives nothing
    capsys.readouterr()
    config.write_text('[gate]\nid = "gate-7"\nstate_dir = 5\n')
    assert main(flags) == 2
    assert "[gate] state_dir = 5 is not a name or path" in capsys.readouterr().err
    for text in ('[gate]\nid = "gate-7"\nstate_dir = 5\n', '[gate]\nid = "gate-7"\nstate_dir = ""\n', '[gate]\nid = 7\n'):
        config.write_text(text)
        assert main(["provision", "--config", str(config), "--wipe", "--confirm", "gate-7", "--yes"]) == 2
        assert "is not a name or path" in capsys.readouterr().err
        assert config.exists() and (default_state / "keep").is_dir(), "nothing was destroyed"


def test_wipe_overwrites_only_the_state_directorys_own_files(tmp_path):
    """The wipe (run as root) overwrote each listed file through its name: a hard link in the state directory
    to a file elsewhere (the agent's user can make one to any file it owns) had that file's contents destroyed.
    A file with other links is only unlinked; symlinks are never followed."""
    from agent.provision.wipe import decommission

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "linked.txt").write_text("not the gate's\n")
    (outside / "pointed.txt").write_text("not the gate's either\n")
    state = tmp_path / "state"
    (state / "keys").mkdir(parents=True)
    (state / "device.key").write_bytes(b"k" * 32)
    (state / "keys" / "twice.pub").write_text("two names, both in the state directory\n")
    (state / "keys" / "twice-again.pub").hardlink_to(state / "keys" / "twice.pub")
    (state / "hard").hardlink_to(outside / "linked.txt")
    (state / "soft").symlink_to(outside / "pointed.txt")

    report = decommission(tmp_path / "missing-gate.toml", state)
    assert len(report["destroyed"]) == 5 and not state.exists()
    assert (outside / "linked.txt").read_text() == "not the gate's\n"
    assert (outside / "pointed.txt").read_text() == "not the gate's either\n"


def test_every_provision_flag_is_documented():
    """docs/provisioning.md "On the gate" names every flag of `sharaka-gate provision` (`--timeout` was missing)."""
    from agent.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    flags = {o for a in sub.choices["provision"]._actions for o in a.option_strings} - {"-h", "--help"}
    text = (DOCS / "provisioning.md").read_text()
    spans = re.findall(r"^```.*?^```", text, re.S | re.M) + re.findall(r"`([^`]+)`", re.sub(r"^```.*?^```", "", text,
                                                                                             flags=re.S | re.M))
    shown = {word for span in spans for word in span.split()}
    assert not sorted(flags - shown), f"flags docs/provisioning.md does not name: {sorted(flags - shown)}"
