"""Site bridges (tools/site_bridge.py, docs/central.md "Site bridges"): gates -> site Mosquitto -> TLS bridge ->
national Mosquitto -> central workers -> PostgreSQL, all real, with the bridge link cut (RELIABILITY 51)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent import keys as keyfiles
from agent.protocol import topics
from tests.support.broker import Broker, MqttTestClient
from tests.support.central_workers import CentralWorkers, central_keys
from tests.support.link import Keys, make_gate
from tests.support.netproxy import NetProxy
from tests.support.wait import wait_until
from tools.central.store import open_store
from tools.site_bridge import bridge_acl, bridge_conf, main

GATES = [f"site1-gate-{i}" for i in range(3)]


def site_broker(tmp_path, pki, national: Broker, proxy: NetProxy) -> Broker:
    """A started site Mosquitto bridged to ``national`` through ``proxy`` by the configuration bridge_conf
    generates (both connections with their client certificates)."""
    cert, v5 = pki.client_cert("bridge-site1"), pki.client_cert("bridge-site1-v5")
    site = Broker(tmp_path / "site", extra_conf=bridge_conf(
        "site1", f"{national.host}:{proxy.port}", ca=str(pki.ca.cert), cert=str(cert.cert), key=str(cert.key),
        v5_cert=str(v5.cert), v5_key=str(v5.key)))
    site.start()
    return site


def bridged_gate(site: Broker, gate: str) -> MqttTestClient:
    """A gate's MQTT session at the site broker, as agent/link keeps it: persistent, subscribed to its inbound
    topics."""
    client = MqttTestClient(site, *site.add_gate(gate), clean_start=False, session_expiry=86400)
    assert client.connect()
    for leaf in topics.GATE_IN:
        client.subscribe(topics.gate(gate, leaf))
    return client


@dataclass
class BridgedSite:
    """A site broker bridged to the national broker through a proxy, one gate's session at the site, and a
    central client at the national broker."""

    national: Broker
    proxy: NetProxy
    site: Broker
    gate: MqttTestClient
    centre: MqttTestClient


@pytest.fixture
def bridged(tls_broker, pki, tmp_path) -> Iterator[BridgedSite]:  # type: ignore[no-untyped-def]
    tls_broker.extend_acl(bridge_acl("site1", GATES))
    proxy = NetProxy(tls_broker.tls_port or 0).start()
    site = site_broker(tmp_path, pki, tls_broker, proxy)
    gate = bridged_gate(site, GATES[0])
    centre = MqttTestClient(tls_broker, *tls_broker.central)
    try:
        assert centre.connect()
        proxy.wait_for_connections(2)  # both bridge connections are up
        yield BridgedSite(tls_broker, proxy, site, gate, centre)
    finally:
        gate.close()
        centre.close()
        site.stop()
        proxy.close()


def test_a_command_queued_for_a_bridged_gate_survives_a_national_broker_restart(bridged):
    """RELIABILITY 51's other direction: the national broker queues a command for a gate behind a cut bridge,
    restarts, and delivers it once the link is back (the bridge's persistent connection is MQTT 3.1.1: Mosquitto
    2.0's MQTT 5 bridge connects with a session expiry of 0 and lost it)."""
    b = bridged
    cmd = topics.gate(GATES[0], topics.CMD)
    # the bridge is up and subscribed: a command crosses at once
    assert wait_until(lambda: b.centre.publish(cmd, b"warm-up").value == 0 and _got(b.gate, cmd, b"warm-up"), 20)
    b.proxy.refuse()  # the national link goes down
    b.proxy.cut()
    assert wait_until(lambda: "Client bridge-site1 " in b.national.log_text(), 10), "the national broker did " \
        "not see the bridge go"
    assert not b.centre.publish(cmd, b"queued while the site is cut").is_failure
    b.national.restart()
    assert b.centre.connect()
    b.proxy.passthrough()
    assert _got(b.gate, cmd, b"queued while the site is cut", 30), "the queued command was lost"


def _got(client: MqttTestClient, topic: str, payload: bytes, timeout: float = 1.0) -> bool:
    """True once ``payload`` arrives on ``topic`` within ``timeout`` s (other messages, e.g. a warm-up sent
    twice, are passed over)."""
    deadline = time.monotonic() + timeout
    try:
        while bytes(client.wait_for_message(topic, max(0.0, deadline - time.monotonic())).payload) != payload:
            pass
    except TimeoutError:
        return False
    return True


def test_online_query_crosses_the_bridge_with_its_response_topic_and_correlation_data(bridged):
    """The MQTT 5 connection: a gate's query reaches the national broker with its response topic and correlation
    data, and the reply published there comes back to the gate with the correlation data."""
    b = bridged
    b.centre.subscribe(topics.all_gates(topics.QUERY))
    query, reply = topics.gate(GATES[0], topics.QUERY), topics.gate(GATES[0], topics.QUERY_REPLY)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic, props.CorrelationData = reply, b"q-1"
    got: list = []

    def asked() -> bool:
        b.gate.publish(query, b"query", properties=props)
        try:
            got.append(b.centre.wait_for_message(query, 1))
            return True
        except TimeoutError:
            return False

    assert wait_until(asked, 20), "the query did not cross the bridge"
    asked_props = got[0].properties
    assert (asked_props.ResponseTopic, asked_props.CorrelationData) == (reply, b"q-1")
    answer = Properties(PacketTypes.PUBLISH)
    answer.CorrelationData = b"q-1"
    b.centre.publish(reply, b"answer", properties=answer)
    back = b.gate.wait_for_message(reply, 10)
    assert (bytes(back.payload), back.properties.CorrelationData) == (b"answer", b"q-1")


@pytest.mark.parametrize("cut_s", [3.0, pytest.param(60.0, marks=pytest.mark.slow)], ids=["3s", "60s"])
def test_bridge_cut_loses_nothing_and_duplicates_nothing_at_the_store(tls_broker, pki, pg_url, tmp_path, cut_s):
    national = tls_broker
    national.extend_acl(bridge_acl("site1", GATES))
    proxy = NetProxy(national.tls_port or 0).start()
    site = site_broker(tmp_path, pki, national, proxy)
    keys_dir = central_keys(tmp_path / "keys")
    keys = Keys(node=keyfiles.load_signing_key(keys_dir / "node.key"))
    store = open_store(pg_url)
    workers = CentralWorkers(national, pg_url, keys_dir, 2, tmp_path)
    workers.start()
    gates = [make_gate(site, tmp_path / g, keys, g, store=store, ack_timeout=2.0) for g in GATES]
    try:
        proxy.wait_for_connections(2)
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


@pytest.mark.parametrize("address", ["h:99999", "h:0", "h", "h:x", "a b:8883", "h\ntopic # both 0:8883"])
def test_bridge_conf_refuses_a_broker_address_mosquitto_cannot_use(capsys, address):
    """`--national h:99999` made a config whose bridge never connects, and a host with a line break wrote a line
    of its own into the config."""
    for command in (["conf", "--site", "site1", "--national"], ["federation", "--centre", "JO", "--hub"]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, address, "--ca", "ca.crt", "--cert", "c.crt", "--key", "c.key"])
        assert exit_.value.code == 2
        assert "expected HOST:PORT, the port 1 to 65535" in capsys.readouterr().err
    assert main(["conf", "--site", "site1", "--national", "[::1]:8883", "--ca", "ca.crt", "--cert", "c.crt",
                 "--key", "c.key", "--v5-cert", "v.crt", "--v5-key", "v.key"]) == 0
    assert "address [::1]:8883" in capsys.readouterr().out
