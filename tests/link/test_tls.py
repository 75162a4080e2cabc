"""The gate link over TLS with a client certificate (the production listener), and a foreign CA refused."""

from __future__ import annotations

import time

from nacl.signing import SigningKey

from agent.link import GateLink, LinkConfig
from agent.outbox import PRIORITY_ROUTINE, Outbox
from tests.support.link import make_central
from tests.support.wait import wait_until


def _tls_gate(broker, pki, tmp_path, keys, gate_id, cert, ca=None):
    key = SigningKey.generate()
    outbox = Outbox(tmp_path / f"{gate_id}.sqlite3")
    link = GateLink(
        LinkConfig(gate_id=gate_id, host=broker.host, port=broker.tls_port, ca_file=str(ca or pki.ca.cert),
                   cert_file=str(cert.cert), key_file=str(cert.key), backoff_min=0.1, backoff_max=0.5),
        outbox, key, node_keys=[keys.node.verify_key], command_keys=[], state_dir=tmp_path / gate_id,
    )
    return key, outbox, link


def test_gate_delivers_over_tls_with_client_certificate(tls_broker, pki, tmp_path, keys):
    central = make_central(tls_broker, tmp_path / "central.db", keys)
    key, outbox, link = _tls_gate(tls_broker, pki, tmp_path, keys, "gate-t", pki.client_cert("gate-t"))
    central.store.enrol("gate-t", bytes(key.verify_key), time.time())
    link.start()
    try:
        assert link.wait_for_connected(10)
        for i in range(10):
            outbox.append("decision", f"tls-{i}", b"\x80", priority=PRIORITY_ROUTINE)
        link.notify()
        assert wait_until(lambda: outbox.depth() == 0, 10)
        assert [e["msg_id"] for e in central.store.events("gate-t")] == [f"tls-{i}" for i in range(10)]
    finally:
        link.stop()
        central.stop()


def test_gate_with_certificate_from_foreign_ca_never_connects(tls_broker, pki, tmp_path, keys):
    _, outbox, link = _tls_gate(tls_broker, pki, tmp_path, keys, "gate-f", pki.client_cert("gate-f", foreign=True))
    link.start()
    try:
        assert not link.wait_for_connected(2)
        # Refused for its certificate, by the TLS listener: not any other failure to connect.
        assert tls_broker.wait_for_log("certificate verify failed")
        assert "New client connected" not in tls_broker.log_text()
        outbox.append("decision", "kept", b"\x80", priority=PRIORITY_ROUTINE)
        assert outbox.depth() == 1  # screening goes on offline; nothing lost
    finally:
        link.stop()


def test_p39_broker_certificate_from_unpinned_ca_refused_gate_keeps_screening(tls_broker, pki, tmp_path, keys,
                                                                                 caplog):
    """The gate pins the foreign CA: the real broker's certificate does not verify, the reason is logged."""
    _, outbox, link = _tls_gate(tls_broker, pki, tmp_path, keys, "gate-p", pki.client_cert("gate-p"),
                                ca=pki.foreign_ca.cert)
    caplog.set_level("INFO", logger="agent.link")
    link.start()
    try:
        assert not link.wait_for_connected(2)
        def refusals():
            return [r.fields["error"] for r in caplog.records if r.getMessage() == "connect failed"]

        assert wait_until(lambda: any("CERTIFICATE_VERIFY_FAILED" in e for e in refusals()), 5), refusals()
        outbox.append("decision", "kept", b"\x80", priority=PRIORITY_ROUTINE)
        assert outbox.depth() == 1  # screening goes on offline; nothing lost
    finally:
        link.stop()
