"""The gate's MQTT and hit-list contract proven from outside: a peer centre written from docs/hitlist.md,
docs/protocol.md and docs/online-query.md alone (tests/support/peercentre.py, nothing of ``agent`` or ``tools``)
serves the real gate app (the real pipeline on simulated hardware, its real link) through a real Mosquitto.

The gate is provisioned as an operator does it: pinned to the peer's root and node keys, nothing else; it learns
the list key, the command keys and the alert key from the peer's root-signed keyring over MQTT.
"""

from __future__ import annotations

import ast
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl.signing import SigningKey, VerifyKey

from agent import keys as keyfiles
from agent.app import GateApp
from agent.config import load_config
from agent.durable import atomic_write
from agent.hitlist import names, names_data
from tests.support import peercentre, peernames
from tests.support.gatesim import CLEAR_DOC, LISTED_DOC, VALID_UNTIL, write_app_config
from tests.support.peercentre import PeerCentre, doc_fp, person_fp
from tests.support.peergate import open_envelope
from tests.support.wait import wait_until
from tools.specimens import td3

LISTED = ("UTO", "L898902C3")  # LISTED_DOC's document
CLEARED = ("UTO", "C01X00T47")  # CLEAR_DOC's
DATA = Path(__file__).parents[1] / "data" / "names"


class Gate:
    def __init__(self, app: GateApp, directory: Path) -> None:
        self.app, self.device_pub = app, keyfiles.read_public_key(directory / "state" / "device.key.pub")

    def swipe(self, lines):
        """The decision the running app's reader thread made on ``lines``."""
        screener = self.app.screener
        assert screener is not None
        before = screener.last
        self.app.reader.device.swipe(lines)
        assert wait_until(lambda: screener.last is not before, 10), "no decision"
        assert screener.last is not None
        return screener.last.decision


@pytest.fixture
def peer(broker) -> Iterator[PeerCentre]:
    p = PeerCentre(broker.host, broker.port, *broker.central)
    p.connect()
    yield p
    p.close()


@pytest.fixture
def gate(broker, peer, tmp_path) -> Iterator[Gate]:
    """``gate-a``: the real app, its signed store pinned to the peer's root, its link to the peer's broker."""
    atomic_write(tmp_path / "root.pub", bytes(peer.root.verify_key))
    atomic_write(tmp_path / "node.pub", bytes(peer.node.verify_key))
    _, password = broker.add_gate("gate-a")
    (tmp_path / "pw").write_text(password)
    config = write_app_config(
        tmp_path, screening={"duplicate_window_s": 0.0},
        hitlist={"store_dir": "state/hitlist", "list_id": "sltd", "root_pub": "root.pub"},
        link={"enabled": True, "port": broker.port, "password_file": "pw", "node_pub": "node.pub",
              "list_fetch_spread_s": 0.0, "query": True, "query_deadline_ms": 2000})
    app = GateApp(load_config(config))
    app.open()
    peer.devices["gate-a"] = keyfiles.read_public_key(tmp_path / "state" / "device.key.pub")  # enrolment
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), daemon=True)
    runner.start()
    try:
        assert app.link is not None and app.link.wait_for_connected(10)
        yield Gate(app, tmp_path)
    finally:
        stop.set()
        runner.join(15)


def installed(gate: Gate, version: int) -> bool:
    status = gate.app.status()["hitlist"]
    return status.get("version") == version and not status.get("stale")


@pytest.mark.parametrize("module", [peercentre, peernames], ids=["centre", "names"])
def test_the_peer_centre_uses_nothing_of_the_project(module):
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    peer_parts = {"tests.support.peergate", "tests.support"}  # peergate and peernames, written from the docs
    roots = {name.split(".")[0] for name in imported if name not in peer_parts}
    assert roots <= {"__future__", "hashlib", "os", "struct", "threading", "time", "uuid", "dataclasses", "typing",
                     "msgpack", "paho", "nacl", "itertools", "re", "unicodedata", "pathlib"}, imported


def test_peer_snapshot_then_delta_are_installed_fresh_and_decide_hit_and_clear(peer, gate):
    peer.lists["sltd"] = [(doc_fp(peer.fp_keys.doc, *LISTED), "stolen", b"PEER-0001")]
    peer.publish_list("sltd", 1)
    assert wait_until(lambda: installed(gate, 1), 20), gate.app.status()["hitlist"]
    hit, clear = gate.swipe(LISTED_DOC), gate.swipe(CLEAR_DOC)
    assert (hit.verdict, hit.hit.ref, hit.list_version, hit.list_stale) == ("HIT", "PEER-0001", 1, False)
    assert (clear.verdict, clear.list_stale) == ("CLEAR", False)
    time_status = gate.app.status()["time"]
    assert time_status["last_signed"] is not None and time_status["wall"] == "ok"  # the signed times were taken

    peer.lists["sltd"] = [(doc_fp(peer.fp_keys.doc, *CLEARED), "lost", b"PEER-0002")]  # one out, one in
    built = peer.publish_list("sltd", 2)
    assert "delta-1-2" in built.files
    assert wait_until(lambda: installed(gate, 2), 20), gate.app.status()["hitlist"]
    assert peer.served[-1] == "delta-1-2"  # the gate asked from v1: the delta answered
    assert gate.swipe(LISTED_DOC).verdict == "CLEAR"
    second = gate.swipe(CLEAR_DOC)
    assert (second.verdict, second.hit.ref, second.hit.reason) == ("HIT", "PEER-0002", "lost")


def listing(peer: PeerCentre) -> None:
    """A list holding CLEAR_DOC only, installed fresh."""
    peer.lists["sltd"] = [(doc_fp(peer.fp_keys.doc, *CLEARED), "lost", b"PEER-0002")]


def result(peer: PeerCentre, gate: Gate, cmd_id: str, n: int = 1) -> list[dict]:
    assert peer.wait_for(lambda: len([r for r in peer.results("gate-a", gate.device_pub) if r["cmd_id"] == cmd_id])
                         >= n, 10), peer.results("gate-a", gate.device_pub)
    return [r for r in peer.results("gate-a", gate.device_pub) if r["cmd_id"] == cmd_id]


def statuses(peer: PeerCentre, gate: Gate) -> list[dict]:
    wires = [w for g, leaf, w in list(peer.received) if (g, leaf) == ("gate-a", "status")]
    return [open_envelope("status", w, VerifyKey(gate.device_pub)) for w in wires]


def test_peer_command_is_run_and_answered_its_replay_and_an_expired_one_refused(peer, gate):
    listing(peer)
    peer.publish_list("sltd", 1)  # the keyring that certifies the command keys comes with it
    assert wait_until(lambda: installed(gate, 1), 20)
    cmd_id, wire = peer.command("gate-a", "request_status", {})
    (ok,) = result(peer, gate, cmd_id)
    assert (ok["ok"], ok["reason"]) == (True, "ok")
    assert peer.wait_for(lambda: any(body["kind"] == "status" for body in statuses(peer, gate)), 10)
    peer._publish("sharaka/v1/gates/gate-a/cmd", wire)  # the same signed bytes again
    assert [r["reason"] for r in result(peer, gate, cmd_id, 2)] == ["ok", "replay"]
    late_id, _ = peer.command("gate-a", "request_status", {}, issued=time.time() - 600, lifetime=300)
    (late,) = result(peer, gate, late_id)
    assert (late["ok"], late["reason"]) == (False, "expired")
    stranger_id, _ = peer.command("gate-a", "request_status", {}, signers=(SigningKey.generate(),))
    (stranger,) = result(peer, gate, stranger_id)
    assert (stranger["ok"], stranger["reason"]) == (False, "unsigned")


def test_peer_alert_listing_a_document_makes_the_gate_hit(peer, gate):
    listing(peer)
    peer.publish_list("sltd", 1)
    assert wait_until(lambda: installed(gate, 1), 20)
    assert gate.swipe(LISTED_DOC).verdict == "CLEAR"
    fp = doc_fp(peer.fp_keys.doc, *LISTED).to_bytes(8, "little")
    alert_id = peer.alert([{"fps": [fp], "kind": "document", "reason": "wanted", "ref": "ALERT-1", "list": "",
                            "version": 0}])
    assert wait_until(lambda: alert_id in gate.app.warnings.alerts, 10), gate.app.warnings.rejected
    decision = gate.swipe(LISTED_DOC)
    assert (decision.verdict, decision.hit.ref) == ("HIT", "ALERT-1")
    assert "listed_document:wanted" in decision.reasons


def test_peer_alert_valid_longer_than_30_days_is_refused_as_malformed_and_nothing_applies(peer, gate):
    listing(peer)
    peer.publish_list("sltd", 1)
    assert wait_until(lambda: installed(gate, 1), 20)
    fp = doc_fp(peer.fp_keys.doc, *LISTED).to_bytes(8, "little")
    alert_id = peer.alert([{"fps": [fp], "kind": "document", "reason": "wanted", "ref": "ALERT-1", "list": "",
                            "version": 0}], ttl=31 * 86400)
    assert wait_until(lambda: gate.app.warnings.rejected.get("malformed") == 1, 10), gate.app.warnings.rejected
    assert alert_id not in gate.app.warnings.alerts
    assert gate.swipe(LISTED_DOC).verdict == "CLEAR"


def test_peer_online_answer_with_correlation_data_decides_a_hit(peer, gate):
    listing(peer)
    peer.publish_list("sltd", 1)
    assert wait_until(lambda: installed(gate, 1), 20)
    peer.online[LISTED] = ("wanted", "ONLINE-1", "online")
    hit = gate.swipe(LISTED_DOC)
    assert (hit.verdict, hit.hit.ref, hit.centre) == ("HIT", "ONLINE-1", "answered")
    assert "online_hit" in hit.reasons
    peer.online.clear()
    clear = gate.swipe(LISTED_DOC)
    assert (clear.verdict, clear.centre) == ("CLEAR", "answered")


def test_the_gate_matches_an_online_answer_by_its_signed_req_not_by_the_correlation_data(peer, gate):
    """docs/protocol.md "query": the Correlation Data is echoed, but unsigned: the signed ``req`` decides."""
    listing(peer)
    peer.publish_list("sltd", 1)
    assert wait_until(lambda: installed(gate, 1), 20)
    peer.online[LISTED] = ("wanted", "ONLINE-1", "online")
    peer.correlate = False
    hit = gate.swipe(LISTED_DOC)
    assert (hit.verdict, hit.hit.ref, hit.centre) == ("HIT", "ONLINE-1", "answered")


# ---------------------------------------------------------------------- persons (docs/names.md "Key text")
WANTED = ("EL AMRANI", "KHALED MAHMOUD", "850307")
# NAMES.md's cases: what each traveller's document says, and what docs/names.md promises for the listings below
TRAVELLERS = {
    "as listed": (("EL AMRANI", "KHALED MAHMOUD", "850307"), "HIT"),
    "transliteration": (("AL AMRANI", "KHALID MAHMUD", "850307"), "HIT"),
    "glued article": (("ELAMRANI", "KHALED MAHMOUD", "850307"), "HIT"),
    "given names in another order": (("EL AMRANI", "MAHMOUD KHALED", "850307"), "HIT"),
    "a trailing given name dropped": (("EL AMRANI", "KHALED", "850307"), "HIT"),
    "a given name more": (("EL AMRANI", "KHALED MAHMOUD ALI", "850307"), "HIT"),
    "another father's name": (("EL AMRANI", "KHALED MOHAMED", "850307"), "CLEAR"),
    "surname and given names swapped": (("KHALED MAHMOUD", "EL AMRANI", "850307"), "REFER"),
    "day and month transposed": (("EL AMRANI", "KHALED MAHMOUD", "850703"), "REFER"),
    "another birth date": (("EL AMRANI", "KHALED MAHMOUD", "850308"), "CLEAR"),
    "Maghreb and Mashriq spellings": (("ABDULRAHMAN", "SHARIF MUHAMMAD", "811111"), "HIT"),
    "Egyptian G for J, a name the dictionary tags": (("HADDAD", "GAMAL", "720202"), "HIT"),
    "only a vowel apart, the dictionary tells it": (("HADDAD", "JAMIL", "720202"), "CLEAR"),
    "K never meets G": (("HADDAD", "KAMAL", "720202"), "CLEAR"),
    "Appendix B transliteration": (("XHSYN", "MXHMD", "800101"), "HIT"),
    "abd family": (("ABDERRAHMANE", "NOUREDDINE", "790101"), "HIT"),
    "particle written apart": (("BIN LADIN", "YOUSSEF", "700505"), "HIT"),
    "compound surname joined": (("DASILVA", "JOAO", "910911"), "HIT"),
    "diacritics listed, MRZ transliterated": (("MUELLER", "JOSE", "660606"), "HIT"),
    "unknown birth month and day": (("HADDAD", "SAMIRA", "88<<<<"), "HIT"),
    "unknown birth month and day listed, a full date read": (("HADDAD", "SAMIRA", "880101"), "REFER"),
    "unknown birth month and day listed, another year read": (("HADDAD", "SAMIRA", "890101"), "CLEAR"),
    "MRZ field cut at 39 after whole given names": (("HASHEMI", "MOUSTAFA KAMAL ABDELRAHMANE SU", "771212"), "HIT"),
    "MRZ field cut at 39 in the first given name": (("ABDELRAHMAN BEN MOHAMED AL HASHEMI", "MOU", "660101"), "REFER"),
}
LISTED_PERSONS = [
    WANTED,
    ("ABD AL RAHMAN", "NUR AL DIN", "790101"),
    ("ABDERRAHMANE", "CHERIF MOHAMED", "811111"),
    ("HADDAD", "DJAMEL", "720202"),
    ("HUSSEIN", "MOHAMED", "800101"),
    ("BENLADIN", "YUSUF", "700505"),
    ("DA SILVA", "JOÃO", "910911"),
    ("MÜLLER", "JOSÉ", "660606"),
    ("HADDAD", "SAMIRA", "88<<<<"),
    ("HASHEMI", "MOUSTAFA KAMAL ABDELRAHMANE SULEIMAN", "771212"),
    ("ABDELRAHMAN BEN MOHAMED AL HASHEMI", "MOUSTAFA", "660101"),
]


def test_peer_person_listing_hits_the_spellings_the_docs_promise(peer, gate):
    """Persons listed by a centre whose name keys come from docs/names.md alone: the real gate HITs the spellings
    the rules fold, REFERs the weaker matches (NAMES.md rule 5: swapped fields, transposed dates, a full date read
    in the year of one listed as 88<<<<) and clears another father's name or another birth date."""
    for n, (surname, given, birth) in enumerate(LISTED_PERSONS):
        peer.add_person("sltd", surname, given, birth, "wanted", f"W-{n}".encode())
    peer.publish_list("sltd", 1)
    assert wait_until(lambda: installed(gate, 1), 20), gate.app.status()["hitlist"]
    got: dict[str, str] = {}
    for case, ((surname, given, birth), _) in TRAVELLERS.items():
        decision = gate.swipe(td3("UTO", surname, given, f"P{len(got):08d}", birth, "M", VALID_UNTIL))
        got[case] = decision.verdict
    assert got == {case: verdict for case, (_, verdict) in TRAVELLERS.items()}


@pytest.mark.parametrize("every", [pytest.param(12, id="a twelfth"), pytest.param(1, id="all", marks=pytest.mark.slow)])
def test_peer_person_keys_are_the_gates_own_record_keys(every):
    """The peer's keys, made from docs/names.md "Key text" alone, are the gate builder's own, in its order, for every
    listed and travelling spelling of the name sets and the pinned spellings paired up (about 7,700 names; every
    twelfth in the default run, 12 ms a name for both builders): a key the gate makes that the docs do not let a
    peer make would be a gap in the docs."""
    people = [p for f in sorted(DATA.glob("*_people.json")) for p in json.loads(f.read_text())["people"]]
    spellings = {tuple(p["listed"]) for p in people} | {(t[0], t[1]) for p in people for t in p.get("travelling", [])}
    words = [w for w in (DATA / "pinned_spellings.txt").read_text().splitlines() if w and not w.startswith("#")]
    spellings |= {(w, f"{words[(i * 7 + 3) % len(words)]} {words[(i * 13 + 5) % len(words)]}") for i, w in enumerate(words)}
    assert len(spellings) > 7500
    sample = sorted(spellings)[::every]
    differ = [(s, g) for s, g in sample if peernames.record_keys(s, g) != names.record_name_keys(s, g)]
    assert not differ, differ[:5]


def test_peer_alert_listing_a_person_hits_a_spelling_the_docs_fold(peer, gate):
    """An early warning's person listing carries the record keys' fingerprints under the alert's own keys."""
    listing(peer)
    peer.publish_list("sltd", 1)
    assert wait_until(lambda: installed(gate, 1), 20)
    surname, given, birth = WANTED
    keys = peernames.record_keys(surname, given)
    assert len(keys) <= 4096  # docs/protocol.md "alert": at most 4,096 fingerprints a listing
    fps = [person_fp(peer.fp_keys.person, peer.fp_keys.person_cost, k, birth).to_bytes(8, "little") for k in keys]
    alert_id = peer.alert([{"fps": fps, "kind": "person", "reason": "wanted", "ref": "ALERT-P", "list": "",
                            "version": 0}])
    assert wait_until(lambda: alert_id in gate.app.warnings.alerts, 10), gate.app.warnings.rejected
    decision = gate.swipe(td3("UTO", "AL AMRANI", "KHALID MAHMUD", "P00000001", birth, "M", VALID_UNTIL))
    assert (decision.verdict, decision.hit.ref) == ("HIT", "ALERT-P")
    assert "listed_person:wanted" in decision.reasons


def test_the_dictionary_appendix_is_the_gates():
    assert peernames.VARIANTS == names_data.NAME_DICTIONARY
    assert {tag: list(spellings) for tag, spellings in names_data.DISTINCT_BY_VOWELS.items()} == peernames.TAGS
    assert peernames.VERSION == names.NORMALISER_VERSION
