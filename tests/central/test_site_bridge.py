"""Site bridges (tools/site_bridge.py, docs/central.md "Site bridges"): gates -> site Mosquitto -> TLS bridge ->
national Mosquitto -> central workers -> PostgreSQL, all real, with the bridge link cut (RELIABILITY 51)."""

from __future__ import annotations

import threading
import time

import pytest

from agent import keys as keyfiles
from tests.support.broker import Broker, MqttTestClient
from tests.support.central_workers import CentralWorkers, central_keys
from tests.support.link import Keys, make_gate
from tests.support.netproxy import NetProxy
from tests.support.wait import wait_until
from tools.central.store import open_store
from tools.site_bridge import bridge_acl, bridge_conf, main

GATES = [f"site1-gate-{i}" for i in range(3)]


@pytest.mark.parametrize("cut_s", [3.0, pytest.param(60.0, marks=pytest.mark.slow)], ids=["3s", "60s"])
def test_bridge_cut_loses_nothing_and_duplicates_nothing_at_the_store(tls_broker, pki, pg_url, tmp_path, cut_s):
    national = tls_broker
    national.extend_acl(bridge_acl("site1", GATES))
    cert = pki.client_cert("bridge-site1")
    proxy = NetProxy(national.tls_port or 0).start()
    site = Broker(tmp_path / "site", extra_conf=bridge_conf(
        "site1", f"{national.host}:{proxy.port}", ca=str(pki.ca.cert), cert=str(cert.cert), key=str(cert.key)))
    site.start()
    keys_dir = central_keys(tmp_path / "keys")
    keys = Keys(node=keyfiles.load_signing_key(keys_dir / "node.key"))
    store = open_store(pg_url)
    workers = CentralWorkers(national, pg_url, keys_dir, 2, tmp_path)
    workers.start()
    gates = [make_gate(site, tmp_path / g, keys, g, store=store, ack_timeout=2.0) for g in GATES]
    try:
        proxy.wait_for_connections(1)
        for g in gates:
            g.emit(10)
        assert wait_until(lambda: store.count_events() == 30, 60), "nothing crosses the bridge"

        stop = threading.Event()

        def stream() -> None:
            while not stop.is_set():
                for g in gates:
                    g.emit(2)
                stop.wait(0.2)

        feeder = threading.Thread(target=stream)
        feeder.start()
        time.sleep(0.5)
        proxy.refuse()  # the national link goes down: new connections refused, current ones reset
        proxy.cut()
        cut_at = {m for g in gates for m in g.emitted}
        time.sleep(cut_s)
        during = {m for g in gates for m in g.emitted} - cut_at
        stored_during = {e["msg_id"] for e in store.events()} & during
        proxy.passthrough()
        stop.set()
        feeder.join()
        assert during and not stored_during, "events crossed a cut link"
        emitted = {m for g in gates for m in g.emitted}
        assert wait_until(lambda: all(g.outbox.depth() == 0 for g in gates), 60 + cut_s), "gates hold unacked events"
        stored = [(e["gate_id"], e["msg_id"]) for e in store.events()]
        assert len(stored) == len(set(stored)) == len(emitted)
        assert {m for _, m in stored} == emitted
    finally:
        for g in gates:
            g.stop()
        workers.stop()
        site.stop()
        proxy.close()


def test_bridge_may_publish_only_for_its_own_sites_gates(tls_broker, pki):
    tls_broker.extend_acl(bridge_acl("site1", GATES))
    bridge = MqttTestClient(tls_broker, cert=pki.client_cert("bridge-site1"))
    assert bridge.connect()
    assert wait_until(lambda: not bridge.publish(f"sharaka/v1/gates/{GATES[0]}/event").is_failure, 10)
    assert bridge.publish("sharaka/v1/gates/other-gate/event").is_failure  # another site's gate
    bridge.close()


def test_bridge_conf_refuses_a_bridge_without_credentials(capsys):
    assert main(["conf", "--site", "site1", "--national", "h:8883", "--ca", "ca.crt"]) == 2
    assert "needs --cert and --key" in capsys.readouterr().err
