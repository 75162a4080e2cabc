"""The production example in images/mosquitto/ runs as shipped (paths and ports moved into a temp dir)
and enforces what docs/broker.md says: TLS client certificates only on the network, the per-gate ACL,
bounded packet sizes, and a password listener on loopback for the central node only."""

from __future__ import annotations

import os
import pwd
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker, MqttTestClient, Pki
from tests.support.paths import IMAGES
from tools.broker_setup import acl_text

SHIPPED = IMAGES / "mosquitto"


def render_shipped(broker: Broker) -> str:
    """The shipped mosquitto.conf with each site-specific line moved to the test's dir and ports; every
    replaced line must be there exactly once, so an edit of the shipped file cannot slip past this test."""
    assert broker.tls is not None
    etc = broker.dir / "etc"
    text = (SHIPPED / "mosquitto.conf").read_text()
    for old, new in [
        ("user mosquitto\n", f"user {pwd.getpwuid(os.getuid()).pw_name}\n"),
        ("persistence_location /var/lib/mosquitto/\n", f"persistence_location {broker.dir / 'db'}/\n"),
        ("log_dest syslog\n", f"log_dest file {broker.log_path}\n"),
        ("listener 8883\n", f"listener {broker.tls_port} 127.0.0.1\n"),
        ("listener 1883 127.0.0.1\n", f"listener {broker.port} 127.0.0.1\n"),
    ]:
        assert text.count(old) == 1, f"shipped mosquitto.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text.replace("/etc/mosquitto/sharaka/", f"{etc}/")


@pytest.fixture
def shipped(tmp_path: Path, pki: Pki) -> Iterator[Broker]:
    broker = Broker(tmp_path, tls=pki, config=render_shipped)
    etc = tmp_path / "etc"
    etc.mkdir()
    for src, name in [(pki.ca.cert, "ca.crt"), (pki.server.cert, "server.crt"), (pki.server.key, "server.key"),
                      (pki.ca.cert.parent / "ca.crl", "ca.crl"), (SHIPPED / "acl", "acl")]:  # fmt: skip
        shutil.copy(src, etc / name)
    # The loopback listener reads etc/passwd: the broker writes its password file there.
    broker.passwd_path = etc / "passwd"
    with broker:
        yield broker


def test_shipped_acl_is_the_generated_one():
    assert (SHIPPED / "acl").read_text() == acl_text()


def test_shipped_config_lets_gate_certificate_publish_only_its_own_topics(shipped: Broker, pki: Pki):
    with MqttTestClient(shipped, cert=pki.client_cert("gate-a")) as gate:
        assert gate.connect()
        assert gate.publish("sharaka/v1/gates/gate-a/event").value in (0x00, 0x10)
        assert gate.publish("sharaka/v1/gates/gate-b/event").value == 0x87


def test_shipped_config_network_listener_refuses_passwords_and_plain_mqtt(shipped: Broker, pki: Pki):
    central_user, central_password = shipped.central
    no_cert = MqttTestClient(shipped, central_user, central_password, ca=pki.ca.cert)
    with pytest.raises((OSError, ssl.SSLError)):
        assert not no_cert.connect(timeout=3)  # refused either way; raise if it returned
        raise ConnectionRefusedError("refused without an exception")
    no_cert.close()
    plain = MqttTestClient(shipped, central_user, central_password, port=shipped.tls_port)
    assert not plain.connect(timeout=3)
    plain.close()


def test_shipped_config_loopback_listener_serves_central_with_password(shipped: Broker):
    with MqttTestClient(shipped, *shipped.central) as central:
        assert central.connect()
        assert central.publish("sharaka/v1/gates/gate-a/cmd").value in (0x00, 0x10)
    gate_user, gate_password = shipped.add_gate("gate-a")
    with MqttTestClient(shipped, gate_user, gate_password) as gate:
        assert gate.connect()
        assert gate.publish("sharaka/v1/gates/gate-b/event").value == 0x87


def test_shipped_config_bounds_packet_size(shipped: Broker):
    """MQTT 5 clients learn the 1 MiB limit from CONNACK; a bigger packet disconnects its sender (0x95)."""
    with MqttTestClient(shipped, *shipped.central) as central:
        assert central.connect()
        assert central.connack_properties is not None
        assert central.connack_properties.MaximumPacketSize == 1_048_576
        assert central.publish("sharaka/v1/x", b"x" * 1_000_000).value in (0x00, 0x10)
        with pytest.raises(TimeoutError):
            central.publish("sharaka/v1/x", b"x" * 1_048_576, timeout=2)
        # on a loaded machine the 1 MiB write may still be in flight when the PUBACK wait gives up
        assert central.wait_for_disconnect(10)
        assert central.disconnect_reason is not None and central.disconnect_reason.value == 0x95
    shipped.wait_for_log("disconnected due to oversize packet", timeout=10)
