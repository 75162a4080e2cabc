"""Early warnings (docs/protocol.md "Early warnings", RELIABILITY 48): signed by the centre's alert key, delivered
retained with QoS 1 through a real Mosquitto to real gates, applied at once as urgent listings, kept across a
restart, reported to the real central node; hostile alerts refused with nothing changed."""

from __future__ import annotations

import time

import pytest
from nacl.signing import SigningKey

from agent.alerts import AlertRejected, EarlyWarnings, verify_alert
from agent.config import ScreeningConfig
from agent.errors import BadDataError
from agent.hitlist.trust import KeyGrant, Keyring
from agent.keys import list_key_id, load_signing_key
from agent.protocol.envelope import seal
from agent.protocol.schema import MAX_BODY
from agent.screening.decision import decide_query
from agent.screening.sources import Query
from tests.support.link import alerting_gate, make_central
from tests.support.lists import Lists
from tests.support.wait import wait_until
from tools.central.alerts import alert_receipts, build_alert, build_clearing, publish_alert
from tools.central.hitlists import HitListServer
from tools.central.node import CentralConfig

PASSPORT = ("UTO", "L898902C3")
LISTING = {"kind": "document", "issuing_state": "UTO", "document_number": "L898902C3", "reason": "stolen",
           "ref": "EW-1", "list": "sltd", "version": 5}
RULES = ScreeningConfig(lab_gate=True)
T0 = 1_800_000_000.0


def verdict(warnings: EarlyWarnings, document=PASSPORT, now: float | None = None) -> str:
    return decide_query(Query(document=document), rules=RULES, now=now or time.time(), sources=[warnings]).verdict


# ---------------------------------------------------------------------------------------------- over MQTT
def test_alert_listing_a_passport_is_a_hit_at_three_gates_and_reported_to_the_centre(mq, tmp_path, keys):
    lists = Lists(tmp_path)
    lists.certify("--add-alert-key")
    alert_key = load_signing_key(next(lists.keys.glob("alert-*.key")))
    central = make_central(mq, tmp_path / "central.db", keys)
    central.hitlists = HitListServer(lists.lists, keyrings=lists.keyrings)
    gates, warnings = [], []
    try:
        def gate(name: str):
            g, store, w = alerting_gate(mq, tmp_path, keys, name, root_pub=lists.root_pub, store=central.store)
            gates.append(g)
            warnings.append(w)
            assert wait_until(lambda: store.keyring_version == 2, 15), g.link.status()  # the alert key, over MQTT
            return w

        first = [gate("gate-1"), gate("gate-2")]
        assert all(verdict(w) == "CLEAR" for w in first)
        alert_id, wire, expires = build_alert(alert_key, notice="Passport L898902C3 stolen at 02:10", severity="urgent",
                                              ttl=600, listings=[LISTING])
        user = "central-cmd"
        published = time.monotonic()
        publish_alert(CentralConfig(host=mq.host, port=mq.port, username=user, password=mq.credentials[user]),
                      alert_id, wire, expires)
        assert wait_until(lambda: all(verdict(w) == "HIT" for w in first), 10)
        took = time.monotonic() - published
        late = gate("gate-3")  # joins after the alert: the retained copy reaches it
        assert wait_until(lambda: verdict(late) == "HIT", 10)
        print(f"alert to HIT at two gates: {took * 1000:.0f} ms")
        decision = decide_query(Query(document=PASSPORT), rules=RULES, now=time.time(), sources=[late])
        assert decision.reasons == ("listed_document:stolen",) and decision.hit.ref == "EW-1" and decision.acknowledge
        assert all(w.active_alerts()[0]["notice"].startswith("Passport") for w in warnings)
        assert wait_until(lambda: len(alert_receipts(central.store, alert_id).get(alert_id, {})) == 3, 15)
        warnings[1].acknowledge(alert_id, "amina")
        assert wait_until(lambda: alert_receipts(central.store, alert_id)[alert_id]["gate-2"].get("officer") == "amina", 15)
        assert "acknowledged" not in alert_receipts(central.store, alert_id)[alert_id]["gate-1"]
        assert warnings[1].active_alerts()[0]["acknowledged_by"] == "amina"
    finally:
        for g in gates:
            g.stop()
        central.stop()


# ---------------------------------------------------------------------------------------------- pure and local
class Centre:
    """An alert key certified in a keyring, and a command key and a list key that are not alert keys."""

    def __init__(self) -> None:
        self.alert, self.command, self.list = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
        grants = {}
        for key, role in ((self.alert, "alert"), (self.command, "command"), (self.list, "list")):
            pub = bytes(key.verify_key)
            grants[list_key_id(pub)] = KeyGrant(list_key_id(pub), pub, (role,), T0 - 86400, T0 + 86400 * 365)
        self.keyring = Keyring(1, (b"r" * 32,), 1, 1, grants)

    def alert_wire(self, key=None, **kw) -> tuple[str, bytes]:
        kw.setdefault("listings", [LISTING])
        kw.setdefault("now", T0)
        alert_id, wire, _ = build_alert(key or self.alert, notice="n", severity="urgent", ttl=kw.pop("ttl", 600), **kw)
        return alert_id, wire


@pytest.fixture
def centre():
    return Centre()


@pytest.fixture
def local(tmp_path, centre):
    reports: list[tuple[str, str]] = []
    clock = {"now": T0 + 1}

    def make(**kw):
        return EarlyWarnings(tmp_path / "alerts.msgpack", gate_id=kw.pop("gate_id", "gate-1"), site="border-1",
                             keyring=lambda: centre.keyring, now=lambda: clock["now"],
                             report=lambda alert, state: reports.append((alert.id, state)), **kw)

    return make, reports, clock


def test_alert_survives_a_restart_and_is_reported_once(local, centre):
    make, reports, clock = local
    alert_id, wire = centre.alert_wire()
    make().receive(wire)
    again = make()  # the gate restarted
    assert verdict(again, now=clock["now"]) == "HIT"
    assert again.receive(wire) is None  # the retained copy at reconnect: applied once
    assert reports == [(alert_id, "received")]


def test_a_report_whose_commit_hangs_keeps_no_one_waiting_for_the_alerts_in_force(tmp_path, centre):
    """The link's worker queued an alert's receipt holding the alerts' lock: while that outbox commit hung (another
    connection holds SQLite's write lock), the supervisor's ``expire`` and the screen's list of alerts waited with
    it, and the supervisor ends a CLEAR's relay opening. Now only the report waits, and it is queued, once."""
    import sqlite3
    import threading

    from agent.alerts import outbox_report
    from agent.outbox import Outbox

    box = Outbox(tmp_path / "outbox.sqlite3")
    warnings = EarlyWarnings(tmp_path / "alerts.msgpack", gate_id="gate-1", site="border-1",
                             keyring=lambda: centre.keyring, now=lambda: T0 + 1,
                             report=outbox_report(box, gate_id="gate-1", site="border-1", clock=lambda: T0 + 1))
    alert_id, wire = centre.alert_wire()
    other = sqlite3.connect(tmp_path / "outbox.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # SQLite's write lock, held
    receiving = threading.Thread(target=warnings.receive, args=(wire,))
    receiving.start()
    read = threading.Event()
    try:
        assert wait_until(lambda: box._lock.locked(), 5), "the receipt's commit did not start"
        threading.Thread(target=lambda: (warnings.active_alerts(), warnings.expire(), read.set()), daemon=True).start()
        assert read.wait(2.0), "reading the alerts waited for the receipt's commit"
        assert [a["id"] for a in warnings.active_alerts()] == [alert_id] and box.depth() == 0
    finally:
        other.execute("ROLLBACK")
        receiving.join(10)
        other.close()
    assert box.depth() == 1 and warnings.alerts[alert_id].reported == ["received"]
    box.close()


@pytest.mark.parametrize("signer", ["command", "list", "stranger"])
def test_forged_alert_refused_and_nothing_changes(local, centre, signer):
    make, reports, clock = local
    warnings = make()
    key = {"command": centre.command, "list": centre.list, "stranger": SigningKey.generate()}[signer]
    with pytest.raises(AlertRejected) as err:
        warnings.receive(centre.alert_wire(key)[1])
    assert err.value.reason == "forged" and warnings.rejected == {"forged": 1}
    assert warnings.alerts == {} and reports == [] and verdict(warnings, now=clock["now"]) == "CLEAR"


def test_command_relabelled_as_alert_refused(local, centre):
    """A genuine signature over another message type never verifies as an alert (the domain prefix)."""
    make, _, _ = local
    cmd = seal("cmd", {"id": "c1", "ts": T0, "gate": "gate-1", "seq": 1, "op": "rebirth", "args": {}, "issued": T0,
                       "not_after": T0 + 60, "nonce": b"n" * 16}, [centre.alert])
    with pytest.raises(AlertRejected) as err:
        make().receive(cmd)
    assert err.value.reason in ("forged", "malformed")


def test_expired_alert_refused_and_a_replay_after_expiry_too(local, centre):
    make, reports, clock = local
    warnings = make()
    alert_id, wire = centre.alert_wire(ttl=60)
    warnings.receive(wire)
    clock["now"] = T0 + 120
    assert warnings.expire() == 1 and verdict(warnings, now=clock["now"]) == "CLEAR"
    with pytest.raises(AlertRejected) as err:
        warnings.receive(wire)  # replayed once the gate forgot it
    assert err.value.reason == "expired" and warnings.alerts == {}
    assert reports == [(alert_id, "received")]


def test_alert_from_the_future_refused(local, centre):
    make, _, _ = local
    with pytest.raises(AlertRejected) as err:
        make().receive(centre.alert_wire(now=T0 + 3600)[1])
    assert err.value.reason == "not_yet_valid"


@pytest.mark.parametrize(("target", "expected"), [
    ({"target": "gates", "gates": ["gate-9"]}, "wrong_target"),
    ({"target": "site", "sites": ["border-7"]}, "wrong_target"),
    ({"target": "gates", "gates": ["gate-9", "gate-1"]}, None),
    ({"target": "site", "sites": ["border-1"]}, None),
], ids=["other_gate", "other_site", "listed_gate", "own_site"])
def test_alert_for_other_gates_is_not_applied(local, centre, target, expected):
    make, reports, clock = local
    warnings = make()
    alert_id, wire = centre.alert_wire(**target)
    if expected is None:
        warnings.receive(wire)
        assert verdict(warnings, now=clock["now"]) == "HIT"
        return
    with pytest.raises(AlertRejected) as err:
        warnings.receive(wire)
    assert err.value.reason == expected and warnings.alerts == {} and reports == []


def test_altered_alert_refused(local, centre):
    make, _, _ = local
    _, wire = centre.alert_wire()
    altered = wire.replace(b"urgent", b"info\xa0\xa0")
    with pytest.raises(AlertRejected) as err:
        make().receive(altered)
    assert err.value.reason in ("forged", "malformed")


def test_urgent_listing_retires_when_its_list_version_is_installed(local, centre):
    make, _, clock = local
    versions = {"sltd": 4}
    warnings = make(list_versions=lambda: versions)
    warnings.receive(centre.alert_wire()[1])
    assert verdict(warnings, now=clock["now"]) == "HIT"
    versions["sltd"] = 5  # the delta that lists the passport is installed: the list answers from now on
    assert verdict(warnings, now=clock["now"]) == "CLEAR"
    assert warnings.active_alerts()[0]["listings"] == 0  # the notice stays until acknowledged or expired


def test_acknowledgement_is_kept_and_reported_once(local, centre):
    make, reports, _ = local
    warnings = make()
    alert_id, wire = centre.alert_wire()
    warnings.receive(wire)
    warnings.acknowledge(alert_id, "amina")
    warnings.acknowledge(alert_id, "omar")  # the first acknowledgement stands
    assert make().active_alerts()[0]["acknowledged_by"] == "amina"
    assert reports == [(alert_id, "received"), (alert_id, "acknowledged")]
    with pytest.raises(KeyError):
        warnings.acknowledge("no-such-alert", "amina")


def test_person_and_vehicle_listings_match_without_identities_on_disk(local, centre, tmp_path):
    make, _, clock = local
    warnings = make()
    person = {"kind": "person", "surname": "ERIKSSON", "given_names": "ANNA MARIA", "birth_date": "740812",
              "reason": "wanted", "ref": "EW-P"}
    vehicle = {"kind": "vehicle", "vin": "1M8GDM9AXKP042788", "reason": "stolen", "ref": "EW-V"}
    warnings.receive(centre.alert_wire(listings=[person, vehicle])[1])
    from agent.screening.sources import PersonQuery

    q = Query(person=PersonQuery("ERIKSSON", "ANNA MARIA", "740812"))
    assert decide_query(q, rules=RULES, now=clock["now"], sources=[warnings]).hit.ref == "EW-P"
    assert decide_query(Query(vin="1M8GDM9AXKP042788"), rules=RULES, now=clock["now"], sources=[warnings]).verdict == "HIT"
    on_disk = (tmp_path / "alerts.msgpack").read_bytes()
    assert b"ERIKSSON" not in on_disk and b"1M8GDM9AXKP042788" not in on_disk


def test_person_whose_name_has_thousands_of_record_keys_is_listed_and_hit(local, centre):
    """The name of the evaluation sets with the most record keys (2,088): its listing was refused by the alert's
    schema (at most 64 fingerprints a listing), so such a wanted person could not be sent as an early warning."""
    from agent.hitlist.names import record_name_keys
    from agent.screening.sources import PersonQuery

    make, _, clock = local
    warnings = make()
    person = {"kind": "person", "surname": "AL-RUWATHE", "given_names": "BUTHRA KHAREJA", "birth_date": "800101",
              "reason": "wanted", "ref": "EW-BIG"}
    assert len(record_name_keys(person["surname"], person["given_names"])) > 2000
    warnings.receive(centre.alert_wire(listings=[person])[1])
    q = Query(person=PersonQuery("AL RUWATHE", "BUTHRA", "800101"))
    assert decide_query(q, rules=RULES, now=clock["now"], sources=[warnings]).hit.ref == "EW-BIG"
    assert len(centre.alert_wire(listings=[person] * 9)[1]) < MAX_BODY
    for n in (10, 13):  # over what a region's item carries whole (MAX_BODY), and over the envelope's own bound
        with pytest.raises(BadDataError, match=rf"the {n} urgent listings make an alert of over .*several alerts"):
            centre.alert_wire(listings=[person] * n)


@pytest.mark.parametrize(("listed", "read", "basis", "other"), [
    ("741208", "740812", "birth_date_transposed", "741213"),  # day and month swapped; 741213 has no swap
    ("7412<<", "741208", "birth_date_partial", "741108"),  # the day unknown to the source; 741108: another month
], ids=["day-and-month-swapped", "listed-year-and-month"])
def test_person_listing_matched_only_by_a_weaker_birth_date_refers_and_says_so(local, centre, listed, read, basis,
                                                                                other):
    """NAMES.md rule 5: an alert's person listed with one birth date and a document read with another that is its
    day/month swap, or whose year and month a date listed in part keeps, is a possible match: REFER with the basis,
    never HIT; a document printing the date as listed HITs; another date is CLEAR."""
    from agent.screening.sources import PersonQuery

    make, _, clock = local
    warnings = make()
    person = {"kind": "person", "surname": "ERIKSSON", "given_names": "ANNA MARIA", "birth_date": listed,
              "reason": "wanted", "ref": "EW-P"}
    warnings.receive(centre.alert_wire(listings=[person])[1])

    def decide(birth: str):
        q = Query(person=PersonQuery("ERIKSSON", "ANNA MARIA", birth))
        return decide_query(q, rules=RULES, now=clock["now"], sources=[warnings])

    weak = decide(read)
    assert weak.verdict == "REFER" and weak.reasons == ("possible_person_match:wanted", basis)
    assert (weak.hit.ref, weak.hit.strength) == ("EW-P", "weak") and weak.acknowledge
    assert decide(listed).verdict == "HIT" and decide(other).verdict == "CLEAR"


def test_cleared_alert_is_out_of_force_and_its_original_is_not_applied_again(local, centre):
    """docs/protocol.md "Clearing an alert": the clearing takes the alert out of force at once, survives a
    restart, and the original arriving again (an older retained copy) changes nothing."""
    make, reports, clock = local
    warnings = make()
    alert_id, wire = centre.alert_wire()
    warnings.receive(wire)
    assert verdict(warnings, now=clock["now"]) == "HIT" and warnings.active_alerts()
    _, clearing, _ = build_clearing(centre.alert, wire, now=T0 + 1)
    assert warnings.receive(clearing) is not None
    assert verdict(warnings, now=clock["now"]) == "CLEAR" and warnings.active_alerts() == []
    again = make()  # a restart
    assert again.receive(wire) is None and again.receive(clearing) is None
    assert verdict(again, now=clock["now"]) == "CLEAR" and again.active_alerts() == []
    with pytest.raises(KeyError):
        again.acknowledge(alert_id, "amina")  # nothing left to acknowledge
    assert reports == [(alert_id, "received")]  # the clearing is not reported as a new receipt


def test_clearing_that_arrives_first_keeps_its_alert_out(local, centre):
    make, reports, clock = local
    warnings = make()
    _, wire = centre.alert_wire()
    _, clearing, _ = build_clearing(centre.alert, wire, now=T0 + 1)
    warnings.receive(clearing)
    assert warnings.receive(wire) is None
    assert verdict(warnings, now=clock["now"]) == "CLEAR" and reports == []


@pytest.mark.parametrize("signer", ["command", "list"])
def test_clearing_signed_by_another_role_is_refused_and_the_alert_stays(local, centre, signer):
    make, _, clock = local
    warnings = make()
    _, wire = centre.alert_wire()
    warnings.receive(wire)
    _, forged, _ = build_clearing(getattr(centre, signer), wire, now=T0 + 1)
    with pytest.raises(AlertRejected) as err:
        warnings.receive(forged)
    assert err.value.reason == "forged" and verdict(warnings, now=clock["now"]) == "HIT"


def test_verify_alert_is_pure_and_names_the_reason(centre):
    _, wire = centre.alert_wire()
    alert = verify_alert(wire, keyring=centre.keyring, now=T0 + 1, gate_id="gate-1", site="border-1")
    assert alert.severity == "urgent" and len(alert.listings) == 1
    with pytest.raises(AlertRejected):
        verify_alert(wire, keyring=Keyring.pinned(b"r" * 32), now=T0 + 1, gate_id="gate-1", site="border-1")


def test_alert_arriving_before_its_key_is_applied_once_the_keyring_certifies_it(local, centre, tmp_path):
    _, reports, clock = local
    ring = {"k": Keyring.pinned(b"r" * 32)}  # the gate's first connect: no keyring fetched yet
    warnings = EarlyWarnings(tmp_path / "early.msgpack", gate_id="gate-1", site="border-1",
                             keyring=lambda: ring["k"], now=lambda: clock["now"],
                             report=lambda a, s: reports.append((a.id, s)))
    alert_id, wire = centre.alert_wire()
    with pytest.raises(AlertRejected):
        warnings.receive(wire)
    assert warnings.retry() == 0  # same keyring: not tried again
    ring["k"] = centre.keyring  # the keyring fetch completes
    assert warnings.retry() == 1 and verdict(warnings, now=clock["now"]) == "HIT"
    assert reports == [(alert_id, "received")]


def test_sharaka_central_alert_sends_and_shows_who_received_and_acknowledged(mq, tmp_path, keys, capsys):
    import json

    from tools.central.cli import main as central_main

    lists = Lists(tmp_path)
    lists.certify("--add-alert-key")
    central = make_central(mq, tmp_path / "central.db", keys)
    central.hitlists = HitListServer(lists.lists, keyrings=lists.keyrings)
    gate, store, warnings = alerting_gate(mq, tmp_path, keys, "gate-1", root_pub=lists.root_pub, store=central.store)
    (tmp_path / "pw").write_text(mq.credentials["central-cmd"])
    try:
        assert wait_until(lambda: store.keyring_version == 2, 15)
        capsys.readouterr()
        argv = ["alert", "send", "--db", str(tmp_path / "central.db"), "--alert-key",
                str(next(lists.keys.glob("alert-*.key"))), "--notice", "stolen passport", "--document", *PASSPORT,
                "--ref", "EW-9", "--host", mq.host, "--port", str(mq.port), "--password-file", str(tmp_path / "pw"),
                "--json", "--wait", "3"]
        assert central_main(argv) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        alert_id = lines[0]["alert"]
        assert verdict(warnings) == "HIT"
        warnings.acknowledge(alert_id, "amina")
        assert wait_until(lambda: "acknowledged" in alert_receipts(central.store, alert_id)[alert_id]["gate-1"], 15)
        assert central_main(["alert", "status", alert_id, "--db", str(tmp_path / "central.db")]) == 0
        assert capsys.readouterr().out.strip() == f"{alert_id} gate-1: acknowledged by amina"
    finally:
        gate.stop()
        central.stop()


def test_the_alert_in_force_is_read_back_from_the_broker_every_time_and_none_is_told_apart(mq):
    """What withdrawing an alert starts from (``retained_alert``): the broker sends a retained message after the
    SUBACK, so a reader that stopped listening a fixed time after the SUBACK found "none" whenever its network
    thread was slow to read the message behind it; it now waits for a second SUBACK the broker can only send after
    that message. Read back many times, it is always there; an id never issued, or cleared, is "none"."""
    from tools.central.alerts import retained_alert

    config = CentralConfig(host=mq.host, port=mq.port, username="central-cmd",
                           password=mq.credentials["central-cmd"])
    alert_id, wire, expires = build_alert(SigningKey.generate(), notice="n", severity="urgent", ttl=600)
    publish_alert(config, alert_id, wire, expires)
    assert all(retained_alert(config, alert_id) == wire for _ in range(20))
    with pytest.raises(BadDataError, match="no alert"):
        retained_alert(config, "0" * 32)
    publish_alert(config, alert_id, b"", expires)  # an empty retained message deletes it
    with pytest.raises(BadDataError, match="no alert"):
        retained_alert(config, alert_id)


def test_a_number_read_that_hides_an_urgent_listing_behind_a_look_alike_refers(local, centre):
    """S/8, G/6, L/1 change no check digit (tests/agent/test_lookalike_numbers.py): the misread refers."""
    make, _, clock = local
    warnings = make()
    warnings.receive(centre.alert_wire()[1])
    misread = Query(document=("UTO", "LS98902C3"))
    decision = decide_query(misread, rules=RULES, now=clock["now"], sources=[warnings])
    assert decision.verdict == "REFER" and decision.reasons == ("possible_document_match:stolen",)
    assert decision.hit is not None and decision.hit.ref == "EW-1"
    assert verdict(warnings, document=("UTO", "L898902C3"), now=clock["now"]) == "HIT"
    unrelated = Query(document=("UTO", "C01X00T47"))
    assert decide_query(unrelated, rules=RULES, now=clock["now"], sources=[warnings]).verdict == "CLEAR"
