"""A peer centre flooding the federation relay (docs/central.md "Federation", ``FederationRelay``): its items are
verified at its own rate, what overflows its own queue is dropped unread, counted and reported, and another peer's
item is taken at once. Real Mosquitto, the real relay and SQLite store; the flood arrives where the hub bridge
delivers it (``sharaka/v1/federation/in/ATL/…``)."""

from __future__ import annotations

import logging
import time
import uuid

from agent.protocol import topics
from agent.screening.events import encode_event
from tests.support.broker import MqttTestClient
from tests.support.wait import wait_until
from tools.central.admission import Rate
from tools.central.cli import main as central_cli
from tools.central.federation import Federation, FederationRelay, new_federation, share_hit
from tools.central.node import CentralConfig
from tools.central.store import CentralStore

FLOOD = 1000
RATE = Rate(50.0, 20.0)
QUEUE = 100


def hit_item(fed: Federation) -> tuple[str, bytes]:
    row = {"msg_id": uuid.uuid4().hex, "gate_id": "gate-1", "is_hit": 1, "created": time.time(),
           "body": encode_event({"decision": "HIT", "site": "border-1"})}
    return share_hit(fed, row)


def test_a_flooding_peer_is_throttled_reported_and_does_not_starve_another_peer(broker, tmp_path, caplog):
    feds = {c: new_federation(tmp_path / c / "federation.toml", c) for c in ("BOR", "ATL", "CAS")}
    for peer in ("ATL", "CAS"):
        assert central_cli(["federation", "pin", "--config", str(feds["BOR"].path), "--centre", peer,
                            "--pub", str(feds[peer].key_path) + ".pub"]) == 0
    store = CentralStore(tmp_path / "bor.db")
    user, password = broker.add_central("central-federation")
    relay = FederationRelay(CentralConfig(host=broker.host, port=broker.port, username=user, password=password,
                                          client_id=user), store, Federation.load(feds["BOR"].path), alert_key=None,
                            peer_rate=RATE, peer_queue=QUEUE)
    hub = MqttTestClient(broker, *broker.central)  # where BOR's hub bridge delivers what the region shares
    assert hub.connect()
    flood = [hit_item(feds["ATL"]) for _ in range(FLOOD)]
    honest = hit_item(feds["CAS"])

    def recorded(origin: str) -> int:
        return sum(r["origin"] == origin for r in store.federation_items("in"))

    caplog.set_level(logging.WARNING, logger="tools.central.federation")
    relay.start()
    try:
        assert relay.wait_for_connected(10)
        started = time.monotonic()
        for item_id, wire in flood:  # QoS 0: as fast as the broker takes them (a flood does not wait for acks)
            hub.publish(f"{topics.FED_IN}/ATL/{item_id}", wire, qos=0)
        assert wait_until(lambda: relay.throttled["ATL"] > 0, 30), "the flood never overflowed ATL's queue"
        assert not hub.publish(f"{topics.FED_IN}/CAS/{honest[0]}", honest[1]).is_failure
        assert wait_until(lambda: recorded("CAS") == 1, 10), "CAS's item starved behind ATL's flood"
        # CAS's item was taken while ATL still had a backlog: it did not wait for ATL's queue to drain
        assert relay.queues.depth("ATL") > 0 or recorded("ATL") + relay.throttled["ATL"] < FLOOD
        # ATL is verified no faster than its rate (an upper bound: a loaded machine only goes slower)
        assert recorded("ATL") <= RATE.burst + RATE.per_second * (time.monotonic() - started) + 1
        # every item of the flood is either recorded or counted as dropped: none unaccounted for
        assert wait_until(lambda: recorded("ATL") + relay.throttled["ATL"] == FLOOD, 60), (
            recorded("ATL"), dict(relay.throttled), relay.queues.depth("ATL"))
        assert relay.throttled["CAS"] == 0 and relay.rejected["throttled"] == relay.throttled["ATL"]
    finally:
        relay.stop()
        hub.close()
    assert store.rejects()["federation_throttled"] == relay.throttled["ATL"]  # reported in the store
    floods = [r.getMessage() for r in caplog.records if "floods" in r.getMessage()]
    assert floods and all("'ATL'" in m for m in floods)  # and in the log, naming the peer, never an item


def test_items_still_queued_when_the_relay_stops_are_delivered_again_at_its_next_start(broker, tmp_path):
    """paho acknowledged each item to the broker as it read it, so the items waiting in the relay's queue (a peer
    over its rate) when it stopped were gone: acknowledged, never recorded. Items are now acknowledged once
    recorded or refused; the rest stay in the relay's persistent session and come again."""
    feds = {c: new_federation(tmp_path / c / "federation.toml", c) for c in ("BOR", "ATL")}
    assert central_cli(["federation", "pin", "--config", str(feds["BOR"].path), "--centre", "ATL",
                        "--pub", str(feds["ATL"].key_path) + ".pub"]) == 0
    store = CentralStore(tmp_path / "bor.db")
    user, password = broker.add_central("central-federation")
    config = CentralConfig(host=broker.host, port=broker.port, username=user, password=password, client_id=user)

    def relay(rate: Rate) -> FederationRelay:
        r = FederationRelay(config, store, Federation.load(feds["BOR"].path), alert_key=None, peer_rate=rate)
        r.start()
        assert r.wait_for_connected(10)
        return r

    hub = MqttTestClient(broker, *broker.central)
    assert hub.connect()
    items = [hit_item(feds["ATL"]) for _ in range(3)]
    slow = relay(Rate(0.001, 1.0))  # one item, then ATL's budget is spent for the rest of the test
    try:
        for item_id, wire in items:
            assert not hub.publish(f"{topics.FED_IN}/ATL/{item_id}", wire).is_failure
        assert wait_until(lambda: len(store.federation_items("in")) == 1 and slow.queues.depth("ATL") == 2, 10)
    finally:
        slow.stop()
    again = relay(RATE)
    try:
        assert wait_until(lambda: len(store.federation_items("in")) == 3, 15), again.rejected
        assert {r["item_id"] for r in store.federation_items("in")} == {item_id for item_id, _ in items}
        assert dict(again.rejected) == {}, "an item recorded and acknowledged came again"
    finally:
        again.stop()
        hub.close()
        store.close()
