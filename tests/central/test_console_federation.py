"""The console's federation page (docs/central.md "Operators' console"), over real HTTP against the real console
on a real central store whose items BOR's real relay verified and recorded: what every role sees (origin,
verification, what this centre did), the traveller of a personal shared hit only for officers and supervisors,
and a supervisor sharing a hit and an alert with the region through a real Mosquitto, never putting the
traveller in a URL, a log or the audit log."""

from __future__ import annotations

import logging
import re
import time

import pytest
from nacl.signing import SigningKey

from agent import keys as keyfiles
from agent.protocol import topics
from agent.protocol.envelope import peek
from tests.support.broker import MqttTestClient
from tests.support.console import OFFICER, PASSWORD, SUPERVISOR, VIEWER, add_search, running_console
from tests.support.fedconsole import TRAVELLER, Region
from tests.support.webclient import Client
from tools.central.federation import new_federation, verify_item
from tools.central.node import CentralConfig
from tools.central.store import CentralStore


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    s = CentralStore(tmp_path / "central.db")
    yield s
    s.close()


@pytest.fixture
def region(tmp_path, store) -> Region:
    return Region.create(tmp_path / "fed", store)


def rows(page: str) -> dict[str, str]:
    """kind -> the text of the table row of that item kind."""
    return {m.group(1): re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(0))) for m in
            re.finditer(r'<tr class="item \w+ kind-(\w+)[^"]*"[^>]*>.*?</tr>', page, re.S)}


def test_every_role_sees_origin_verification_and_what_this_centre_did(region, store, tmp_path):
    (item, wire, key) = region.alert()
    assert region.receive(item) is None
    assert region.receive(region.clearing(wire, key)) is None
    assert region.receive(region.hit(personal=False)) is None
    stranger = new_federation(tmp_path / "eve" / "federation.toml", "EVE")
    assert region.receive(region.hit(personal=False, fed=stranger)) == "unknown_centre"  # EVE: pinned by no one
    with running_console(store, tmp_path / "operators.sqlite3", federation=region.path) as console:
        for name in (VIEWER, OFFICER, SUPERVISOR):
            c = Client(console.server.url)
            c.sign_in(name, PASSWORD)
            r = c.request("/federation")
            assert r.status == 200
            page = r.read().decode()
            shown = rows(page)
            assert set(shown) == {"alert", "clear", "hit"}
            assert "received ATL alert" in shown["alert"] and "withdrawn by its origin" in shown["alert"]
            assert "verified" in shown["alert"] and "Stolen passports at the northern crossing" in shown["alert"]
            assert "stolen ATL-SLTD-9 at north-1" in shown["hit"] and "seen at north-1" in shown["hit"]
            assert 'data-reason="unknown_centre"' in page
            assert "L898902C3" not in page and "ERIKSSON" not in page  # not personal: never carried
            assert ('Share a hit with the region' in page) == (name == SUPERVISOR), "only a supervisor is offered sharing"


def test_unpinning_a_peer_shows_its_items_no_longer_verify(region, store, tmp_path):
    assert region.receive(region.hit(personal=False)) is None
    text = region.path.read_text()
    region.path.write_text(re.sub(r"(?ms)^\[peers\].*", "[peers]\n", text))
    with running_console(store, tmp_path / "operators.sqlite3", federation=region.path) as console:
        c = Client(console.server.url)
        c.sign_in(VIEWER, PASSWORD)
        assert "no longer verifies: unknown_centre" in rows(c.request("/federation").read().decode())["hit"]


def test_the_traveller_of_a_personal_shared_hit_is_shown_to_officers_and_supervisors_only(region, store, tmp_path,
                                                                                         caplog):
    caplog.set_level(logging.DEBUG)
    assert region.receive(region.hit(personal=True)) is None
    with running_console(store, tmp_path / "operators.sqlite3", federation=region.path) as console:
        url = console.server.url
        for name, sees in ((VIEWER, False), (OFFICER, True), (SUPERVISOR, True)):
            c = Client(url)
            c.sign_in(name, PASSWORD)
            page = c.request("/federation").read().decode()
            hit = rows(page)["hit"]
            assert ("ERIKSSON ANNA MARIA" in hit and "UTO L898902C3" in hit) == sees, name
            assert ("officers and supervisors only" in hit) == (not sees)
            urls = re.findall(r'(?:href|src|action)="([^"]*)"', page)
            assert not [u for u in urls if "L898902C3" in u or "ERIKSSON" in u]
        # without the federation key the console cannot open it, whatever the role
    with running_console(store, tmp_path / "operators2.sqlite3") as console:
        c = Client(console.server.url)
        c.sign_in(SUPERVISOR, PASSWORD)
        assert "ERIKSSON" not in c.request("/federation").read().decode()
    logged = "\n".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    assert TRAVELLER["document_number"] not in logged and TRAVELLER["surname"] not in logged


def test_a_supervisor_shares_a_hit_and_an_alert_with_the_region_and_no_one_else_may(broker, region, store, tmp_path,
                                                                                     caplog):
    caplog.set_level(logging.DEBUG)
    store.enrol("gate-1", bytes(SigningKey.generate().verify_key), time.time())
    msg = add_search(store, "gate-1", "port-a", time.time(), hit=True)
    alert_key = tmp_path / "alert.key"
    keyfiles.generate(alert_key)
    user = "central-cmd"
    config = CentralConfig(host=broker.host, port=broker.port, username=user, password=broker.credentials[user])
    hub = MqttTestClient(broker, *broker.central)
    assert hub.connect()
    hub.subscribe(f"{topics.FED_OUT}/+")
    with running_console(store, tmp_path / "operators.sqlite3", broker=config, alert_key=alert_key,
                         federation=region.path) as console:
        url = console.server.url
        officer, supervisor = Client(url), Client(url)
        tokens = {officer: officer.sign_in(OFFICER, PASSWORD), supervisor: supervisor.sign_in(SUPERVISOR, PASSWORD)}
        form = {"msg": msg, "personal": "1", "note": "same passport seen twice"}
        assert officer.request("/federation/share", {**form, "csrf": tokens[officer]}).status == 403
        assert supervisor.request("/federation/share", form).status == 403  # no CSRF token
        assert not store.federation_items()
        r = supervisor.request("/federation/share", {**form, "csrf": tokens[supervisor]})
        assert r.status == 303 and "?" not in r.headers["Location"]
        [shared] = store.federation_items("out")
        published = hub.wait_for_message(topics.federation_out(shared["item_id"]), 10)
        assert bytes(published.payload) == bytes(shared["wire"])
        # ATL pins BOR: the item verifies there as BOR's, and carries the traveller sealed, never in clear
        item = verify_item(bytes(published.payload), fed=region.atl, now=time.time(), topic_origin="BOR")
        assert item.kind == "hit" and item.personal and b"L898902C3" not in bytes(published.payload)
        assert supervisor.request("/federation/share", {"msg": "0" * 32, "csrf": tokens[supervisor]}).status == 400
        r = supervisor.request("/alerts", {"notice": "Passport UTO L898902C3 stolen", "severity": "urgent",
                                           "ttl": "600", "share": "1", "csrf": tokens[supervisor]})
        assert r.status == 303
        kinds = sorted(i["kind"] for i in store.federation_items("out"))
        assert kinds == ["alert", "hit"]
        page = supervisor.request("/federation").read().decode()
        assert "shared with the region" in rows(page)["alert"]
        audit = console.records.audit_log()
        assert [e["action"] for e in audit][:3] == ["federation_share_alert", "alert_issue", "federation_share_hit"]
        assert "L898902C3" not in repr([e for e in audit if e["action"] == "federation_share_hit"])
    hub.close()
    logged = "\n".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    assert "L898902C3" not in logged.replace("Passport UTO L898902C3 stolen", "")


def test_a_supervisor_withdraws_a_shared_alert_and_its_clearing_replaces_it_at_the_broker_and_in_the_region(
        broker, region, store, tmp_path):
    alert_key = tmp_path / "alert.key"
    keyfiles.generate(alert_key)
    user = "central-cmd"
    config = CentralConfig(host=broker.host, port=broker.port, username=user, password=broker.credentials[user])
    with running_console(store, tmp_path / "operators.sqlite3", broker=config, alert_key=alert_key,
                         federation=region.path) as console:
        url = console.server.url
        officer, supervisor = Client(url), Client(url)
        tokens = {officer: officer.sign_in(OFFICER, PASSWORD), supervisor: supervisor.sign_in(SUPERVISOR, PASSWORD)}
        assert supervisor.request("/alerts", {"notice": "Stolen passports", "severity": "urgent", "ttl": "600",
                                              "share": "1", "csrf": tokens[supervisor]}).status == 303
        [issued] = console.records.alerts()
        alert_id = issued["alert_id"]
        assert 'class="withdraw"' in supervisor.request("/alerts").read().decode()
        assert officer.request("/alerts/withdraw", {"alert": alert_id, "csrf": tokens[officer]}).status == 403
        assert supervisor.request("/alerts/withdraw", {"alert": "0" * 32, "csrf": tokens[supervisor]}).status == 400
        assert supervisor.request("/alerts/withdraw", {"alert": alert_id, "csrf": tokens[supervisor]}).status == 303
        watcher = MqttTestClient(broker, *broker.central)
        assert watcher.connect()
        watcher.subscribe(topics.alert(alert_id))
        retained = peek("alert", bytes(watcher.wait_for_message(topics.alert(alert_id), 5).payload))[0]
        watcher.close()
        assert retained["cleared"] and retained["listings"] == [] and retained["id"] == alert_id
        assert sorted(i["kind"] for i in store.federation_items("out")) == ["alert", "clear"]
        clear = next(i for i in store.federation_items("out") if i["kind"] == "clear")
        assert verify_item(bytes(clear["wire"]), fed=region.atl, now=time.time(), topic_origin="BOR").ref == alert_id
        assert console.records.audit_log()[0]["action"] == "alert_withdraw"
