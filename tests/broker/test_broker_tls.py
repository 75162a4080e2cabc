"""Property 28: the TLS listener refuses connections with no certificate, a foreign CA, or an expired one."""

from __future__ import annotations

import ssl
import subprocess
import time

import pytest

from tests.support.broker import Broker, MqttTestClient, Pki
from tools.broker_setup import CertFiles


def is_refused(client: MqttTestClient) -> bool:
    """True when the broker refused the connection (TLS handshake error or alert, or no CONNACK)."""
    try:
        return not client.connect(timeout=5)
    except (OSError, ssl.SSLError):
        return True
    finally:
        client.close()


def test_valid_client_certificate_is_accepted(tls_broker: Broker, pki: Pki):
    """Control for 28: the same listener, CA and code path accept a certificate from the pinned CA."""
    client = MqttTestClient(tls_broker, cert=pki.client_cert("gate-a"))
    assert not is_refused(client)


@pytest.mark.parametrize(
    ("variant", "log_reason"),
    [("none", "peer did not return a certificate"), ("foreign", "certificate verify failed"),
     ("expired", "certificate verify failed")],
    ids=["no-certificate", "foreign-ca", "expired"],
)  # fmt: skip
def test_connection_without_valid_client_certificate_is_refused(
    tls_broker: Broker, pki: Pki, variant: str, log_reason: str
):
    """28: refused during the TLS handshake, before any MQTT packet is read."""
    cert = None if variant == "none" else pki.client_cert("gate-a", **{variant: True})
    client = MqttTestClient(tls_broker, cert=cert, ca=pki.ca.cert)
    assert is_refused(client)
    assert tls_broker.wait_for_log(log_reason)
    assert "New client connected" not in tls_broker.log_text()


def test_expired_certificate_differs_from_a_valid_one_only_by_dates(pki: Pki):
    """The 'expired' case of 28 is refused for its dates: openssl verifies it at a time inside its validity."""
    expired = pki.client_cert("gate-a", expired=True)
    inside = int(pki.now.timestamp()) - 7 * 86400
    assert verify(pki.ca, expired, "-attime", str(inside)).returncode == 0
    result = verify(pki.ca, expired)
    assert result.returncode != 0 and "certificate has expired" in result.stdout + result.stderr


def test_foreign_ca_certificate_does_not_verify_under_pinned_ca(pki: Pki):
    foreign = pki.client_cert("gate-a", foreign=True)
    assert verify(pki.foreign_ca, foreign).returncode == 0
    assert verify(pki.ca, foreign).returncode != 0


def test_client_private_keys_are_owner_only(pki: Pki):
    for cert in (pki.client_cert("gate-a"), pki.server, pki.ca):
        assert cert.key.stat().st_mode & 0o077 == 0


def verify(ca: CertFiles, cert: CertFiles, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = ["openssl", "verify", "-CAfile", str(ca.cert), *extra, str(cert.cert)]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_revoked_gate_certificate_is_refused_after_reload(tls_broker: Broker, pki: Pki):
    """A stolen gate: revoke its certificate, SIGHUP the broker, and it can no longer connect."""
    stolen = pki.client_cert("gate-stolen")
    assert not is_refused(MqttTestClient(tls_broker, cert=stolen))
    pki.revoke(stolen)
    tls_broker.reload()  # asynchronous: allow the broker a moment to reread the CRL
    deadline = time.monotonic() + 5
    while not is_refused(MqttTestClient(tls_broker, cert=stolen)):
        assert time.monotonic() < deadline, "revoked certificate still accepted 5 s after reload"
        time.sleep(0.05)
    assert tls_broker.wait_for_log("certificate verify failed")  # the TLS verifier refused it, not any failure
    assert not is_refused(MqttTestClient(tls_broker, cert=pki.client_cert("gate-a")))
