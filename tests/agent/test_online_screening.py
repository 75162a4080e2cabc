"""Online query (FIND) beside the local lists (MIND): a real Mosquitto, a real central node (or a scripted
centre where the centre must misbehave), the real screening pipeline on simulated hardware."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from nacl.signing import SigningKey

from agent.link.query import ANSWERED, LATE, UNREACHABLE
from agent.protocol import topics
from agent.protocol.envelope import peek, seal
from tests.support.broker import MqttTestClient
from tests.support.gatesim import CLEAR_DOC, LISTED_DOC, TRUNCATED_NAME_DOC, VALID_UNTIL
from tests.support.link import Keys, make_central
from tests.support.link import make_gate as make_link
from tests.support.lists import Lists
from tests.support.wait import wait_until
from tools.central.hitlists import HitListServer
from tools.central.online import ONLINE_ONLY, RECORDS_FILE, OnlineLists
from tools.specimens import td3

DEADLINE = 0.3
SLACK = 0.5  # the machine is shared: the bench measures the deadline, the tests its behaviour
NEW_ENTRY = {"kind": "document", "issuing_state": "UTO", "document_number": "C01X00T47", "reason": "stolen",
             "ref": "SLTD-NEW-1"}  # CLEAR_DOC: listed a minute ago, in no delta yet


def write_records(directory, *records) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / RECORDS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def online(broker, tmp_path, keys, make_gate):
    """A screening gate whose link asks a real central node (``central=False``: nobody answers) answering
    from ``tmp_path/lists``; returns (gate on simulated hardware, its link, the node, the lists root)."""
    made = []

    def _make(*, central: bool = True, published: int = 7):
        lists = tmp_path / "lists"
        lists.mkdir(exist_ok=True)
        node = None
        if central:
            node = make_central(broker, tmp_path / "central.db", keys)
            node.online = OnlineLists(lists, published=lambda _list_id: published)
        link = make_link(broker, tmp_path / "link", keys, "gate-t", store=node.store if node else None)
        made.append((node, link))
        assert link.link.wait_for_connected(10)
        gate = make_gate(centre=link.link.queries, centre_deadline_s=DEADLINE)
        return gate, link, node, lists

    yield _make
    for node, link in made:
        link.link.stop()
        if node is not None:
            node.stop()


def swipe_timed(gate, lines):
    gate.device.swipe(lines)
    item = gate.reader.read(timeout=5.0)
    t0 = time.perf_counter()
    decision = gate.screener.handle(item)
    return decision, time.perf_counter() - t0


def test_online_hit_on_an_entry_not_yet_in_any_delta_is_a_hit(online):
    gate, link, _node, lists = online()
    write_records(lists / "sltd", NEW_ENTRY)
    _node.online.scan()
    decision, _ = swipe_timed(gate, CLEAR_DOC)  # the local list (v4) does not hold it
    assert decision.verdict == "HIT"
    assert decision.reasons == ("listed_document:stolen", "online_hit")
    assert decision.centre == "answered"
    (event,) = gate.events()
    assert event["decision"] == "HIT" and event["hit"]["ref"] == "SLTD-NEW-1"
    assert event["centre"] == "answered"
    assert event["sources"] == [
        {"source": "local", "state": "answered", "lists": [{"list_id": "", "version": 4}]},
        {"source": "centre", "state": "answered", "lists": [{"list_id": "sltd", "version": 7}],
         "hit": {"kind": "document", "reason": "stolen", "strength": "exact"}}]
    counts = gate.screener.counts
    assert (counts["centre_answered"], counts["centre_hit"], counts["local_hit"]) == (1, 1, 0)
    assert link.link.queries.stats.hits == 1


def test_online_only_list_is_answered_online_and_never_served_to_gates(online, tmp_path):
    gate, _link, node, lists = online()
    signed = Lists(tmp_path / "signed")
    secret = signed.lists / "secret"
    secret.mkdir()
    signed.snapshot(1, [("UTO", "L89890001")]).rename(secret / "snapshot-1.bin")
    server = HitListServer(signed.lists)
    assert server.pick("secret", 0, "snapshot") is not None  # a shipped list is served
    (secret / ONLINE_ONLY).touch()
    write_records(secret, {**NEW_ENTRY, "ref": "SECRET-1"})
    server.scan()
    assert server.pick("secret", 0, "snapshot") is None and server.newest("secret") == 0
    assert "error" in server.answer("gate-t", {"id": "q", "list_id": "secret", "have": 0, "offset": 0}, 0.0)
    node.online = OnlineLists(signed.lists, published=server.newest)
    decision, _ = swipe_timed(gate, CLEAR_DOC)
    assert decision.verdict == "HIT" and decision.hit.ref == "SECRET-1"
    assert decision.answers[-1].remote and decision.answers[-1].consulted == (("secret", 0),)


def test_online_only_person_list_leaves_no_copy_on_the_gate(online, tmp_path, caplog):
    """docs/hitlist.md "Privacy": a person list kept online only is answered by the centre, and nothing of it
    reaches the gate: after the online HIT, none of the gate's files (outbox, link state) nor its INFO log holds
    the listed person's name, birth date or reference, and the centre serves no file of the list."""
    import logging

    from agent.logs import JsonLinesFormatter

    caplog.set_level(logging.INFO)
    gate, _link, node, lists = online()
    secret = {"kind": "person", "surname": "HADDAD", "given_names": "KARIM", "birth_date": "770707",
              "reason": "wanted", "ref": "NOM-SECRET-7"}
    write_records(lists / "nominal", secret)
    (lists / "nominal" / ONLINE_ONLY).touch()
    node.online.scan()
    decision, _ = swipe_timed(gate, td3("UTO", "HADDAD", "KARIM", "H00000017", "770707", "M", VALID_UNTIL))
    assert decision.verdict == "HIT" and decision.hit.ref == "NOM-SECRET-7"
    assert decision.local_hit is None  # no local list knows the person: the centre answered
    served = HitListServer(lists)
    assert served.newest("nominal") == 0 and served.pick("nominal", 0, "snapshot") is None
    gate_files = [p for p in tmp_path.rglob("*") if p.is_file()
                  and (p.name.startswith("outbox") or "link" in p.relative_to(tmp_path).parts)]
    assert any(p.name.startswith("outbox") for p in gate_files)
    log = "\n".join(JsonLinesFormatter().format(r) for r in caplog.records if r.levelno >= logging.INFO)
    for needle in ("HADDAD", "KARIM", "770707", "NOM-SECRET-7"):
        assert not [p for p in gate_files if needle.encode() in p.read_bytes()], needle
        assert needle not in log


def test_local_hit_stays_a_hit_when_the_centre_knows_nothing(online):
    gate, _link, _node, _lists = online()
    decision, _ = swipe_timed(gate, LISTED_DOC)
    assert decision.verdict == "HIT" and decision.reasons == ("listed_document:stolen",)
    assert decision.hit.ref == "SLTD-0001" and decision.centre == "answered"
    assert decision.local_hit is not None and decision.answers[-1].match is None
    assert gate.screener.counts["local_hit"] == 1


def test_weak_online_match_only_refers(online):
    gate, _link, node, lists = online()
    write_records(lists / "nominal", {"kind": "person", "surname": "MEIKALAINEN",
                                      "given_names": "MATTI JUHANI KALERVO XAVIER", "birth_date": "690505",
                                      "reason": "wanted", "ref": "N-9"})
    node.online.scan()
    gate.screener.hitlist = type(gate.screener.hitlist)([], version=4)  # nothing listed locally
    decision, _ = swipe_timed(gate, TRUNCATED_NAME_DOC)
    assert decision.verdict == "REFER" and "possible_person_match:wanted" in decision.reasons


@pytest.mark.parametrize(("listed", "read", "basis"), [("820304", "820403", "birth_date_transposed"),
                                                      ("82<<<<", "820517", "birth_date_partial")],
                         ids=["day-and-month-swapped", "listed-year-only"])
def test_online_match_only_by_a_weaker_birth_date_refers_and_says_so(online, listed, read, basis):
    """NAMES.md rule 5 at the centre: a person listed there born 820304 and a document read 820403, or listed born
    in 1982 only and a document that gives 820517, is a weak match; the reply carries its basis (docs/protocol.md
    "query_reply"), so the officer is told as for a local list."""
    gate, _link, node, lists = online()
    write_records(lists / "nominal", {"kind": "person", "surname": "NORDMANN", "given_names": "OLA",
                                      "birth_date": listed, "reason": "wanted", "ref": "N-7"})
    node.online.scan()
    gate.screener.hitlist = type(gate.screener.hitlist)([], version=4)  # nothing listed locally
    decision, _ = swipe_timed(gate, td3("UTO", "NORDMANN", "OLA", "N76543210", read, "M", VALID_UNTIL))
    assert decision.verdict == "REFER" and decision.centre == "answered"
    assert decision.reasons == ("possible_person_match:wanted", basis)
    match = decision.answers[-1].match
    assert (match.ref, match.strength, match.basis) == ("N-7", "weak", basis)


def test_query_carries_no_identifier_in_clear(online, broker):
    gate, _link, _node, _lists = online()
    user, password = broker.central
    with MqttTestClient(broker, user, password, client_id="spy") as spy:
        spy.connect()
        spy.subscribe(topics.gate("gate-t", topics.QUERY))
        swipe_timed(gate, CLEAR_DOC)
        msg = spy.wait_for_message(topics.gate("gate-t", topics.QUERY))
    for clear in (b"C01X00T47", b"MUSTERMANN", b"ERIKA", b"640812"):
        assert clear not in msg.payload


def test_query_and_reply_travel_at_qos_0_so_no_event_backlog_holds_them_and_no_reconnect_resends_them(online, broker):
    """paho holds QoS 1 publishes beyond its in-flight window (100) behind the events a link is draining, and
    a persistent session resends them after a reconnect, long after the deadline: queries and replies are QoS 0
    (a spy subscribed at QoS 1 receives them at the publisher's QoS)."""
    gate, _link, _node, _lists = online()
    user, password = broker.add_central("central-spy")  # its own user: the node's would take the node's place
    with MqttTestClient(broker, user, password, client_id="spy") as spy:
        spy.connect()
        spy.subscribe(topics.gate("gate-t", topics.QUERY), qos=1)
        spy.subscribe(topics.gate("gate-t", topics.QUERY_REPLY), qos=1)
        decision, _took = swipe_timed(gate, CLEAR_DOC)
        seen = {}
        while len(seen) < 2:  # the reply may reach the spy before the query does
            msg = spy.messages.get(timeout=5.0)
            seen[msg.topic] = msg.qos
    assert decision.centre == ANSWERED
    assert seen == {topics.gate("gate-t", topics.QUERY): 0, topics.gate("gate-t", topics.QUERY_REPLY): 0}


def test_centre_gone_local_answer_stands_and_decision_waits_at_most_the_deadline(online):
    gate, link, _node, _lists = online(central=False)  # broker up, no central node: nobody answers
    decision, took = swipe_timed(gate, LISTED_DOC)
    assert decision.verdict == "HIT" and decision.centre == LATE
    assert took < DEADLINE + SLACK
    decision, took = swipe_timed(gate, CLEAR_DOC)
    assert decision.verdict == "CLEAR" and decision.centre == LATE and took < DEADLINE + SLACK
    assert gate.events()[-1]["sources"][1] == {"source": "centre", "state": "late", "lists": []}
    assert link.link.queries.stats.late == 2 and gate.screener.counts["centre_late"] == 2


def test_offline_gate_does_not_wait_for_the_centre(online):
    gate, link, _node, _lists = online(central=False)
    link.link.stop()
    decision, took = swipe_timed(gate, CLEAR_DOC)
    assert decision.verdict == "CLEAR" and decision.centre == UNREACHABLE
    assert took < DEADLINE  # nothing was asked: nothing to wait for
    assert gate.screener.counts["centre_unreachable"] == 1


class ScriptedCentre:
    """The centre's side of queries played by hand: answers every query of ``gate`` with ``reply(body)``
    after ``delay`` seconds, signed by ``key`` (the node key, or a forger's)."""

    def __init__(self, broker, key: SigningKey, delay: float = 0.0, **overrides):
        user, password = broker.central
        self.client = MqttTestClient(broker, user, password, client_id=f"scripted-{uuid.uuid4().hex[:6]}")
        self.client.connect()
        self.client.subscribe(topics.gate("gate-t", topics.QUERY))
        self.key, self.delay, self.overrides = key, delay, overrides

    def answer_next(self, hit: bool = True) -> None:
        msg = self.client.wait_for_message(topics.gate("gate-t", topics.QUERY), timeout=5.0)
        body = peek("query", bytes(msg.payload))[0]
        time.sleep(self.delay)
        reply = {"id": uuid.uuid4().hex, "ts": time.time(), "gate": "gate-t", "req": body["id"], "hit": hit,
                 "reason": "stolen", "ref": "SCRIPTED-1", "kind": "document", **self.overrides}
        self.client.publish(msg.properties.ResponseTopic, seal("query_reply", reply, [self.key]))

    def close(self) -> None:
        self.client.close()


def _answer_in_background(centre: ScriptedCentre, **kw):
    import threading

    thread = threading.Thread(target=centre.answer_next, kwargs=kw, daemon=True)
    thread.start()
    return thread


def test_late_answer_is_ignored_and_recorded(online, broker, keys):
    gate, link, _node, _lists = online(central=False)
    centre = ScriptedCentre(broker, keys.node, delay=DEADLINE + 0.3)
    try:
        answering = _answer_in_background(centre, hit=True)
        decision, took = swipe_timed(gate, CLEAR_DOC)
        assert decision.verdict == "CLEAR" and decision.centre == LATE and took < DEADLINE + SLACK
        answering.join(5)
        stats = link.link.queries.stats
        assert wait_until(lambda: stats.late_replies == 1, 5)
        assert stats.late_hits == 1 and stats.answered == 0
        assert [e["decision"] for e in gate.events()] == ["CLEAR"]  # the decision taken stands
    finally:
        centre.close()


@pytest.mark.parametrize("forgery", ["foreign-key", "other-gate", "unknown-request"])
def test_forged_query_reply_is_refused_and_the_local_answer_stands(online, broker, keys, forgery):
    gate, link, _node, _lists = online(central=False)
    key = SigningKey.generate() if forgery == "foreign-key" else keys.node
    overrides = {"gate": "gate-x"} if forgery == "other-gate" else \
        {"req": uuid.uuid4().hex} if forgery == "unknown-request" else {}
    centre = ScriptedCentre(broker, key, **overrides)
    try:
        answering = _answer_in_background(centre, hit=True)
        decision, _ = swipe_timed(gate, CLEAR_DOC)
        answering.join(5)
        assert decision.verdict == "CLEAR" and decision.centre == LATE
        stats = link.link.queries.stats
        assert stats.answered == 0 and stats.hits == 0
        if forgery == "foreign-key":
            assert wait_until(lambda: sum(link.link.stats.rejected.values()) >= 1, 5)
        else:
            assert wait_until(lambda: stats.stray == 1, 5)
    finally:
        centre.close()


def test_centre_answers_a_query_while_its_writer_holds_a_transaction(online, broker, tmp_path, keys):
    """The centre answers on its network thread; it must not wait for the writer's transaction (and commit)
    to read the gate's key, also right after a batch of another gate's messages."""
    import threading

    gate, _link, node, lists = online()
    node.keys_max_age_s = 600  # no re-read during this test, however slow the machine
    write_records(lists / "sltd", NEW_ENTRY)
    node.online.scan()
    assert swipe_timed(gate, LISTED_DOC)[0].centre == "answered"  # the gate's key is known to the centre
    other = make_link(broker, tmp_path / "other", keys, "gate-u", store=node.store)  # its birth: a batch
    try:
        assert other.link.wait_for_connected(10)
        assert wait_until(lambda: any(g["gate_id"] == "gate-u" and g.get("online") for g in node.store.gates()), 10)
        held, release = threading.Event(), threading.Event()

        def writer() -> None:
            with node.store.transaction():  # as a batch whose commit (fsync) takes long
                held.set()
                release.wait(10)

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        assert held.wait(5)
        try:
            decision, _ = swipe_timed(gate, CLEAR_DOC)
        finally:
            release.set()
            thread.join(10)
        assert decision.centre == "answered" and decision.verdict == "HIT", decision.centre
    finally:
        other.link.stop()


def test_gate_retired_by_another_process_gets_no_more_online_answers(online):
    """Online queries come outside the writer's batches: the keys they are verified with are re-read once
    older than ``keys_max_age_s``, so a gate retired meanwhile (`sharaka-central` in another process, a
    stolen gate's key) is no oracle on the centre's lists."""
    gate, _link, node, lists = online()
    node.keys_max_age_s = 0.0
    write_records(lists / "sltd", NEW_ENTRY)
    node.online.scan()
    assert swipe_timed(gate, LISTED_DOC)[0].centre == "answered"
    assert node.store.retire("gate-t", time.time(), "stolen")
    decision, _ = swipe_timed(gate, CLEAR_DOC)
    assert decision.centre == LATE and decision.verdict == "CLEAR"


def test_vin_entered_by_the_officer_is_asked_online_and_hits_on_an_entry_only_the_centre_has(online):
    from agent.vehicles import VehicleCheck

    gate, _link, node, lists = online()
    write_records(lists / "vehicles", {"kind": "vehicle", "vin": "1M8GDM9AXKP042788", "reason": "stolen",
                                       "ref": "SMV-NEW-1"})
    node.online.scan()
    decision = VehicleCheck(gate.screener)(vin="1m8gdm9axkp042788")
    assert decision.verdict == "HIT" and decision.centre == "answered" and decision.hit.ref == "SMV-NEW-1"
    assert gate.events()[-1]["sources"][1]["hit"] == {"kind": "vehicle", "reason": "stolen", "strength": "exact"}
