"""Federation (docs/central.md "Federation", tools/central/federation.py): two national centres, each with its own
Mosquitto, central node, hit-list keys and gates, bridged to a regional hub Mosquitto by the bridges that
tools/site_bridge.py generates. An alert issued in one country becomes a HIT at the other's gates; a shared hit
appears at the other centre with its origin; forged, tampered and replayed items are refused there."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from agent.alerts import EarlyWarnings
from agent.config import ScreeningConfig
from agent.keys import load_signing_key
from agent.outbox import PRIORITY_HIT
from agent.protocol import topics
from agent.protocol.envelope import seal
from agent.screening.decision import decide_query
from agent.screening.events import encode_event
from agent.screening.sources import Query
from tests.support.broker import Broker, MqttTestClient
from tests.support.link import Gate, Keys, alerting_gate, make_central
from tests.support.lists import Lists
from tests.support.wait import wait_until
from tools.central.cli import main as central_cli
from tools.central.federation import Federation, FederationRelay, new_federation
from tools.central.hitlists import HitListServer
from tools.central.node import CentralConfig, CentralNode
from tools.site_bridge import federation_conf, hub_acl

CENTRES = ("ATL", "BOR")
PASSPORT = ("UTO", "L898902C3")
RULES = ScreeningConfig(lab_gate=True)
RELAY_USER = "central-federation"


def verdict(warnings: EarlyWarnings) -> str:
    return decide_query(Query(document=PASSPORT), rules=RULES, now=time.time(), sources=[warnings]).verdict


@dataclass
class Country:
    """One national centre: its broker (bridged to the hub), central node, lists and alert key, federation file,
    relay, and one gate with its early warnings."""

    name: str
    broker: Broker
    lists: Lists
    keys: Keys
    central: CentralNode
    fed_path: Path
    relay: FederationRelay | None = None
    gate: Gate | None = None
    warnings: EarlyWarnings | None = None

    @property
    def alert_key(self) -> Path:
        return next(self.lists.keys.glob("alert-*.key"))

    def cli(self, *argv: str) -> int:
        pw = self.broker.dir / "pw-cmd"
        pw.write_text(self.broker.credentials["central-cmd"])
        return central_cli([*argv, "--db", str(self.central.store.path), "--host", self.broker.host,
                            "--port", str(self.broker.port), "--username", "central-cmd", "--password-file", str(pw)])

    def start_relay(self) -> None:
        user, password = self.broker.add_central(RELAY_USER)
        self.relay = FederationRelay(
            CentralConfig(host=self.broker.host, port=self.broker.port, username=user, password=password,
                          client_id=user),
            self.central.store, Federation.load(self.fed_path), alert_key=load_signing_key(self.alert_key))
        self.relay.start()
        assert self.relay.wait_for_connected(10)

    def start_gate(self, tmp: Path) -> None:
        gate_id = f"{self.name.lower()}-gate-1"
        g, store, self.warnings = alerting_gate(self.broker, tmp, self.keys, gate_id, root_pub=self.lists.root_pub,
                                                store=self.central.store)
        self.gate = g
        assert wait_until(lambda: store.keyring_version == 2, 20), g.link.status()  # its centre's alert key

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.stop()
        if self.relay is not None:
            self.relay.stop()
        self.central.stop()
        self.broker.stop()


@pytest.fixture
def region(tmp_path, pki):
    """The hub (TLS, the ACL of ``hub_acl``) and two countries bridged to it, their federation files pinning
    each other's key."""
    hub = Broker(tmp_path / "hub", tls=pki)
    hub.extend_acl(hub_acl(list(CENTRES)))
    hub.start()
    countries: dict[str, Country] = {}
    try:
        for name in CENTRES:
            cert = pki.client_cert(f"federation-{name}")
            conf = federation_conf(name, f"{hub.host}:{hub.tls_port}", ca=str(pki.ca.cert), cert=str(cert.cert),
                                   key=str(cert.key))
            broker = Broker(tmp_path / name / "broker", extra_conf=conf)
            broker.start()
            lists = Lists(tmp_path / name)
            lists.certify("--add-alert-key")
            keys = Keys()
            central = make_central(broker, tmp_path / name / "central.db", keys)
            central.hitlists = HitListServer(lists.lists, keyrings=lists.keyrings)
            countries[name] = Country(name, broker, lists, keys, central, tmp_path / name / "fed" / "federation.toml")
            new_federation(countries[name].fed_path, name)
        for country in countries.values():
            for peer in countries.values():
                if peer is not country:
                    assert central_cli(["federation", "pin", "--config", str(country.fed_path), "--centre", peer.name,
                                        "--pub", str(peer.fed_path.parent / "federation.key.pub")]) == 0
            country.start_relay()
        for country in countries.values():
            # both bridges are up: hub connections as federation-ATL and federation-BOR
            assert wait_until(lambda c=country: f"federation-{c.name}" in hub.log_text(), 15), hub.log_tail()
        yield countries, hub
    finally:
        for country in countries.values():
            country.stop()
        hub.stop()


def test_alert_issued_in_one_country_is_a_hit_at_the_other_countrys_gate(region, tmp_path):
    countries, _ = region
    atl, bor = countries["ATL"], countries["BOR"]
    atl.start_gate(tmp_path)
    bor.start_gate(tmp_path)
    assert verdict(bor.warnings) == "CLEAR"
    assert atl.cli("alert", "send", "--alert-key", str(atl.alert_key), "--notice", "Passport L898902C3 stolen",
                   "--document", *PASSPORT, "--ref", "ATL-EW-7", "--list", "sltd", "--in-version", "9",
                   "--share", str(atl.fed_path)) == 0
    assert wait_until(lambda: verdict(atl.warnings) == "HIT", 15)  # at home, as before
    assert wait_until(lambda: verdict(bor.warnings) == "HIT", 30), (bor.relay.rejected, bor.relay.accepted)
    shown = bor.warnings.active_alerts()[0]
    assert shown["notice"] == "[ATL] Passport L898902C3 stolen" and shown["origin"] == "ATL"
    assert atl.warnings.active_alerts()[0]["origin"] is None  # ATL's own alert at ATL's gate
    hit = decide_query(Query(document=PASSPORT), rules=RULES, now=time.time(), sources=[bor.warnings]).hit
    assert hit is not None and hit.ref == "ATL-EW-7"
    [received] = bor.central.store.federation_items("in")
    [shared] = atl.central.store.federation_items("out")
    assert (received["origin"], received["kind"], received["item_id"]) == ("ATL", "alert", shared["item_id"])
    assert received["ref"] == shared["ref"]  # the original alert id
    assert wait_until(lambda: bor.central.store.federation_items("in")[0]["local_ref"] is not None, 10)
    local = bor.central.store.federation_items("in")[0]["local_ref"]
    # BOR's gate reports receipt of BOR's re-issued alert to BOR's centre
    db = str(bor.central.store.path)
    assert wait_until(lambda: central_cli(["alert", "status", local, "--db", db]) == 0, 15)
    assert not atl.central.store.federation_items("in")  # its own item never comes back as received


def test_clearing_a_shared_alert_clears_it_at_the_other_countrys_gate(region, tmp_path, capsys):
    """ATL withdraws an alert it shared (`alert clear --share`): BOR receives the signed clearing item, verifies
    it, and clears the alert it re-issued to its gates; ATL's own gate clears it too. Clearing a shared alert
    without --share is refused, so the region is never left with it."""
    countries, _ = region
    atl, bor = countries["ATL"], countries["BOR"]
    atl.start_gate(tmp_path)
    bor.start_gate(tmp_path)
    assert atl.cli("alert", "send", "--alert-key", str(atl.alert_key), "--notice", "Passport L898902C3 stolen",
                   "--document", *PASSPORT, "--share", str(atl.fed_path), "--json") == 0
    alert_id = json.loads(capsys.readouterr().out.splitlines()[0])["alert"]
    assert wait_until(lambda: verdict(atl.warnings) == verdict(bor.warnings) == "HIT", 30)
    assert atl.cli("alert", "clear", alert_id, "--alert-key", str(atl.alert_key)) == 2  # shared: --share needed
    assert "was shared with the region" in capsys.readouterr().err
    assert atl.cli("alert", "clear", alert_id, "--alert-key", str(atl.alert_key), "--share", str(atl.fed_path)) == 0
    assert wait_until(lambda: verdict(atl.warnings) == "CLEAR", 15)
    assert wait_until(lambda: verdict(bor.warnings) == "CLEAR", 30), (bor.relay.rejected, bor.relay.accepted)
    assert bor.warnings.active_alerts() == []
    received = {r["kind"]: r for r in bor.central.store.federation_items("in")}
    assert received["clear"]["ref"] == received["alert"]["ref"] == alert_id
    assert wait_until(lambda: {r["kind"]: r["local_ref"] for r in bor.central.store.federation_items("in")}
                      .get("clear") == received["alert"]["local_ref"], 10)
    assert bor.relay.rejected == {}
    # a gate joining BOR later gets the clearing retained in the alert's place, never the alert
    late, _, late_warnings = alerting_gate(bor.broker, tmp_path / "late", bor.keys, "bor-gate-2",
                                           root_pub=bor.lists.root_pub, store=bor.central.store)
    try:
        assert wait_until(lambda: late_warnings.alerts, 20)
        assert verdict(late_warnings) == "CLEAR" and late_warnings.active_alerts() == []
    finally:
        late.stop()


def test_items_shared_while_a_relay_is_down_reach_it_when_it_runs_again(region, tmp_path, capsys):
    """The relay's persistent session: BOR's national broker queues what the hub brings while the relay is
    stopped; `sharaka-central federation run` then receives it and BOR's gate gets the alert."""
    countries, _ = region
    atl, bor = countries["ATL"], countries["BOR"]
    bor.start_gate(tmp_path)
    bor.relay.stop()
    assert atl.cli("alert", "send", "--alert-key", str(atl.alert_key), "--notice", "while BOR's relay was down",
                   "--document", *PASSPORT, "--share", str(atl.fed_path)) == 0
    time.sleep(1.0)
    assert verdict(bor.warnings) == "CLEAR" and not bor.central.store.federation_items("in")
    pw = tmp_path / "pw-fed"
    pw.write_text(bor.broker.credentials[RELAY_USER])
    assert central_cli(["federation", "run", "--config", str(bor.fed_path), "--db", str(bor.central.store.path),
                        "--alert-key", str(bor.alert_key), "--count", "1", "--duration", "60", "--json",
                        "--host", bor.broker.host, "--port", str(bor.broker.port), "--username", RELAY_USER,
                        "--password-file", str(pw)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(r["origin"], r["kind"]) for r in lines if r["type"] == "item"] == [("ATL", "alert")]
    assert lines[-1] == {"type": "summary", "accepted": 1, "rejected": {}, "throttled": {}}
    [received] = bor.central.store.federation_items("in")
    assert received["local_ref"] is not None, "the run ended before the broker took the re-issued alert"
    assert wait_until(lambda: verdict(bor.warnings) == "HIT", 15)


def test_an_alert_shared_while_the_hub_is_down_arrives_when_it_returns(region, tmp_path):
    """ATL's bridge queues what ATL shares while the hub is down (persistent session, QoS 1), and the hub keeps
    BOR's bridge session across its restart: nothing shared is lost to a hub outage."""
    countries, hub = region
    atl, bor = countries["ATL"], countries["BOR"]
    bor.start_gate(tmp_path)
    hub.stop()
    assert atl.cli("alert", "send", "--alert-key", str(atl.alert_key), "--notice", "while the hub was down",
                   "--document", *PASSPORT, "--share", str(atl.fed_path)) == 0
    time.sleep(2.0)
    assert verdict(bor.warnings) == "CLEAR"
    hub.start()
    assert wait_until(lambda: verdict(bor.warnings) == "HIT", 60), (bor.relay.rejected, hub.log_tail())
    assert [r["origin"] for r in bor.central.store.federation_items("in")] == ["ATL"]


def test_shared_hit_appears_at_the_other_centre_with_its_origin_and_personal_data_only_when_marked(region, tmp_path,
                                                                                                    capsys):
    countries, _ = region
    atl, bor = countries["ATL"], countries["BOR"]
    atl.start_gate(tmp_path)
    event_id = "e" * 32
    event = {"v": 2, "type": "decision", "id": event_id, "seq": 1, "gate": "atl-gate-1", "site": "border-1",
             "wall": time.time(), "decision": "HIT", "reasons": ["listed_document:stolen"],
             "hit": {"kind": "document", "reason": "stolen", "ref": "ATL-SLTD-1", "strength": "exact"},
             "mrz": {"document_number": "L898902C3", "surname": "ERIKSSON"}}
    atl.gate.outbox.append("hit", event_id, encode_event(event), priority=PRIORITY_HIT)
    atl.gate.link.notify()
    assert wait_until(lambda: atl.central.store.events(hits_only=True), 15)
    assert atl.cli("federation", "share", "--config", str(atl.fed_path), "--hit", event_id,
                   "--note", "presented at border-1") == 0
    assert wait_until(lambda: bor.central.store.federation_items("in"), 30), bor.relay.rejected
    [item] = bor.central.store.federation_items("in")
    assert (item["origin"], item["kind"], item["ref"], item["personal"]) == ("ATL", "hit", event_id, 0)
    assert b"ATL-SLTD-1" in item["wire"] and b"border-1" in item["wire"]
    assert b"L898902C3" not in item["wire"] and b"ERIKSSON" not in item["wire"]  # not marked personal
    # marked personal: BOR reads the traveller's data with its federation key; nobody on the way could
    assert atl.cli("federation", "share", "--config", str(atl.fed_path), "--hit", event_id, "--personal") == 0
    assert wait_until(lambda: len(bor.central.store.federation_items("in")) == 2, 30), bor.relay.rejected
    marked = bor.central.store.federation_items("in")[1]
    assert marked["personal"] == 1 and b"ERIKSSON" not in marked["wire"]
    capsys.readouterr()
    assert central_cli(["federation", "items", "--db", str(bor.central.store.path), "--config", str(bor.fed_path),
                        "--json"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert shown[1]["origin"] == "ATL" and shown[1]["hit"]["mrz"]["surname"] == "ERIKSSON"
    assert "mrz" not in shown[0]["hit"] and shown[0]["hit"]["note"] == "presented at border-1"


def test_forged_tampered_and_replayed_items_are_refused_at_the_receiving_centre(region, capsys):
    countries, _ = region
    atl, bor = countries["ATL"], countries["BOR"]
    assert atl.cli("alert", "send", "--alert-key", str(atl.alert_key), "--notice", "n", "--document", *PASSPORT,
                   "--share", str(atl.fed_path)) == 0
    assert wait_until(lambda: len(bor.central.store.federation_items("in")) == 1, 30), bor.relay.rejected
    [genuine] = atl.central.store.federation_items("out")
    wire = genuine["wire"]
    # a centre nobody pinned, signing an item in ATL's name
    body = {"id": "f" * 32, "ts": time.time(), "origin": "ATL", "kind": "hit", "ref": "r", "issued": time.time(),
            "expires": time.time() + 60, "personal": False, "hit": {"gate": "g"}}
    forged = seal("fed_item", body, [SigningKey.generate()])
    tampered = wire[:-40] + bytes([wire[-40] ^ 1]) + wire[-39:]
    central = MqttTestClient(atl.broker, *atl.broker.central)
    assert central.connect()
    for payload, item_id in ((forged, "f1"), (tampered, "f2"), (wire, genuine["item_id"])):
        # into the region through ATL's own bridge: as a compromised ATL broker account could
        assert not central.publish(topics.federation_out(item_id), payload, qos=1).is_failure
    central.close()
    expected = {"unknown_centre": 1, "forged": 1, "replay": 1}
    assert wait_until(lambda: dict(bor.relay.rejected) == expected, 30), bor.relay.rejected
    assert len(bor.central.store.federation_items("in")) == 1  # nothing more recorded
    assert bor.central.store.rejects() == {f"federation_{r}": 1 for r in expected}
    assert central_cli(["federation", "items", "--db", str(bor.central.store.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"refused": expected}


def test_a_national_bridge_cannot_publish_under_another_centres_hub_topic(tmp_path, pki):
    hub = Broker(tmp_path / "hub", tls=pki)
    hub.extend_acl(hub_acl(list(CENTRES)))
    hub.start()
    try:
        bridge = MqttTestClient(hub, cert=pki.client_cert("federation-ATL"))
        assert bridge.connect()
        assert wait_until(lambda: not bridge.publish(f"{topics.REGION}/ATL/x").is_failure, 10)
        assert bridge.publish(f"{topics.REGION}/BOR/x").is_failure  # an item in BOR's name
        assert bridge.publish(f"{topics.ALERTS}/x").is_failure  # anything but the region
        bridge.close()
    finally:
        hub.stop()
