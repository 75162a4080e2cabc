"""Property 27: a gate cannot take over another gate's session by using its client id.

The password listener sets ``use_username_as_clientid`` and the TLS listener ``use_identity_as_username``
plus ``use_username_as_clientid``: the client id a gate sends is replaced by its own identity, so the
broker's "new connection with the same client id takes over" rule can only hit the gate itself.
"""

from __future__ import annotations

from tests.support.broker import Broker, MqttTestClient, Pki

GATES = "sharaka/v1/gates"


def assert_still_connected(broker: Broker, victim: MqttTestClient, gate_id: str) -> None:
    """The victim still receives: a command published now reaches it over its original connection."""
    with MqttTestClient(broker, *broker.central) as central:
        assert central.connect()
        central.publish(f"{GATES}/{gate_id}/cmd", b"still there?")
    assert victim.wait_for_message(f"{GATES}/{gate_id}/cmd").payload == b"still there?"
    assert victim.is_connected and victim.disconnect_reason is None


def test_gate_using_other_gates_client_id_does_not_disconnect_it(broker: Broker):
    """27 (password listener, use_username_as_clientid)."""
    gate_b = MqttTestClient(broker, *broker.add_gate("gate-b"), client_id="gate-b")
    with gate_b:
        assert gate_b.connect()
        gate_b.subscribe(f"{GATES}/gate-b/cmd")
        with MqttTestClient(broker, *broker.add_gate("gate-a"), client_id="gate-b") as intruder:
            assert intruder.connect()
            assert_still_connected(broker, gate_b, "gate-b")
            # The intruder's session is its own: it is gate-a, with gate-a's rights only.
            assert intruder.publish(f"{GATES}/gate-b/event").value == 0x87
            assert intruder.publish(f"{GATES}/gate-a/event").value in (0x00, 0x10)
    assert "already connected" not in broker.log_text()


def test_same_gate_connecting_twice_takes_over_its_own_session(broker: Broker):
    """Control for 27: the takeover rule is live; it only ever applies to the same identity."""
    creds = broker.add_gate("gate-b")
    with MqttTestClient(broker, *creds) as first:
        assert first.connect()
        with MqttTestClient(broker, *creds, client_id="anything") as second:
            assert second.connect()
            assert first.wait_for_disconnect(5)
    # Mosquitto 2.0 closes the old socket without a DISCONNECT 0x8E (paho reports 0x80), but logs it:
    assert "Client gate-b already connected, closing old connection." in broker.log_text()


def test_gate_certificate_with_other_gates_client_id_does_not_disconnect_it(tls_broker: Broker, pki: Pki):
    """27 (TLS listener, use_identity_as_username + use_username_as_clientid): the CN decides."""
    gate_b = MqttTestClient(tls_broker, cert=pki.client_cert("gate-b"), client_id="gate-b")
    with gate_b:
        assert gate_b.connect()
        gate_b.subscribe(f"{GATES}/gate-b/cmd")
        intruder = MqttTestClient(
            tls_broker, "gate-b", "ignored", cert=pki.client_cert("gate-a"), client_id="gate-b"
        )
        with intruder:
            assert intruder.connect()
            assert_still_connected(tls_broker, gate_b, "gate-b")
            assert intruder.publish(f"{GATES}/gate-b/event").value == 0x87


def test_gate_certificate_cannot_claim_central_username(tls_broker: Broker, pki: Pki):
    """The MQTT username a TLS client sends is ignored: a gate's certificate never gets central rights."""
    with MqttTestClient(tls_broker, "central", "whatever", cert=pki.client_cert("gate-a")) as gate:
        assert gate.connect()
        assert gate.publish(f"{GATES}/gate-b/cmd").value == 0x87
        assert gate.publish(f"{GATES}/gate-a/event").value in (0x00, 0x10)


def test_central_certificate_has_central_rights(tls_broker: Broker, pki: Pki):
    with MqttTestClient(tls_broker, cert=pki.client_cert("central")) as central:
        assert central.connect()
        assert central.publish(f"{GATES}/gate-b/cmd").value in (0x00, 0x10)
