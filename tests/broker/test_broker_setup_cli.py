"""The operator's enrolment tool, `python -m tools.broker_setup`, end to end with openssl and a real broker."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import pytest

from tests.support.broker import Broker, MqttTestClient, Pki, mqtt_connect_probe
from tools.broker_setup import CertFiles, acl_text, main


def openssl_verify(ca: Path, cert: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), *extra, str(cert)], capture_output=True, text=True
    )


def test_cli_acl_prints_the_acl(capsys: pytest.CaptureFixture[str]):
    assert main(["acl"]) == 0
    assert capsys.readouterr().out == acl_text()


def test_cli_passwd_line_is_accepted_by_mosquitto(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["passwd", "gate-a", "--password", "s3cret"]) == 0
    password_file = tmp_path / "cli-passwd"
    password_file.write_text(capsys.readouterr().out)

    def config(b: Broker) -> str:
        return (f"user {pwd.getpwuid(os.getuid()).pw_name}\nlog_dest file {b.log_path}\nlog_type all\n"
                f"listener {b.port} 127.0.0.1\nallow_anonymous false\npassword_file {password_file}\n")  # fmt: skip

    with Broker(tmp_path / "broker", config=config) as broker:
        assert mqtt_connect_probe(broker.host, broker.port, "gate-a", "s3cret") == 0
        assert mqtt_connect_probe(broker.host, broker.port, "gate-a", "wrong") == 5


def test_cli_gate_certificate_chain_and_revocation(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    ca_dir, out = tmp_path / "ca", tmp_path / "out"
    assert main(["ca", "--dir", str(ca_dir)]) == 0
    assert (
        main(["server", "--ca", str(ca_dir), "--out", str(out), "--name", "localhost", "--san", "127.0.0.1"])
        == 0
    )
    assert main(["gate", "gate-a", "--ca", str(ca_dir), "--out", str(out)]) == 0
    capsys.readouterr()
    ca, gate = ca_dir / "ca.crt", out / "gate-a.crt"
    assert openssl_verify(ca, gate, "-purpose", "sslclient").returncode == 0
    assert openssl_verify(ca, out / "localhost.crt", "-purpose", "sslserver").returncode == 0
    subject = subprocess.run(
        ["openssl", "x509", "-in", str(gate), "-noout", "-subject"], capture_output=True, text=True
    )
    assert subject.stdout.strip().endswith("CN = gate-a")
    assert (out / "gate-a.key").stat().st_mode & 0o077 == 0
    assert main(["revoke", str(gate), "--ca", str(ca_dir)]) == 0
    crl = str(ca_dir / "ca.crl")
    assert "certificate revoked" in openssl_verify(ca, gate, "-crl_check", "-CRLfile", crl).stderr


def test_cli_gate_signs_request_made_on_the_gate_with_ca_chosen_cn(tmp_path: Path):
    ca_dir = tmp_path / "ca"
    assert main(["ca", "--dir", str(ca_dir)]) == 0
    key, csr = tmp_path / "gate.key", tmp_path / "gate.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-subj", "/CN=central", "-out", str(csr)], check=True, capture_output=True)  # fmt: skip
    # --out a directory not made yet, as in docs/broker.md "Enrolling a gate": openssl could not write the certificate
    # there, after the CA had entered it in its database
    out = tmp_path / "out"
    assert main(["gate", "gate-b", "--ca", str(ca_dir), "--out", str(out), "--csr", str(csr)]) == 0
    subject = subprocess.run(["openssl", "x509", "-in", str(out / "gate-b.crt"), "-noout", "-subject"],
                             capture_output=True, text=True)  # fmt: skip
    assert subject.stdout.strip().endswith("CN = gate-b")  # the request asked for "central": ignored


BAD_INPUT = [  # (id, argv, what the one-line error must name)
    ("slash", ["passwd", "gate/x"], "'gate/x'"),
    ("reserved-central", ["passwd", "central"], "'central'"),
    # The CA does not exist either: only the gate-id check names 'a+b', so this case fails without it.
    ("plus", ["gate", "a+b", "--ca", "/nonexistent", "--out", "/tmp"], "'a+b'"),
    ("missing-ca", ["gate", "gate-a", "--ca", "/nonexistent", "--out", "/tmp"], "no CA in '/nonexistent'"),
    ("central-flag-bad-name", ["passwd", "notcentral", "--central"], "'notcentral'"),
]


@pytest.mark.parametrize(("argv", "named"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_cli_refuses_bad_input_with_message(argv: list[str], named: str, capsys: pytest.CaptureFixture[str]):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python -m tools.broker_setup {argv[0]}: ") and named in err, err
    assert err.count("\n") == 1  # one line, no traceback


def test_cli_central_certificate_gets_central_rights(tls_broker: Broker, pki: Pki, tmp_path: Path):
    """`central` issues a client certificate whose CN the ACL treats as the central node."""
    ca_dir = pki.ca.cert.parent
    assert main(["central", "--ca", str(ca_dir), "--out", str(tmp_path)]) == 0
    cert = CertFiles(tmp_path / "central.crt", tmp_path / "central.key")
    with MqttTestClient(tls_broker, cert=cert) as central:
        assert central.connect()
        assert central.publish("sharaka/v1/gates/gate-z/cmd").value in (0x00, 0x10)
    assert main(["central", "gate-a", "--ca", str(ca_dir), "--out", str(tmp_path)]) == 2
