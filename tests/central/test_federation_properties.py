"""Properties of federation trust (docs/central.md "Federation", tools/central/federation.py), in the manner of
shared/RELIABILITY.md: whatever the order, count, origin or bytes of what arrives, a receiving centre records
each genuine item of a pinned peer exactly once, and nothing else: no replay, no loop, no forgery. The relay and
the store are the real ones (SQLite); only the broker is left out (``FederationRelay.receive`` is what its
network thread calls)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from agent.alerts import CLOCK_SKEW_S
from agent.errors import ConfigError
from agent.protocol import topics
from agent.protocol.envelope import peek, seal
from agent.screening.events import encode_event
from tools.central.alerts import build_alert, build_clearing
from tools.central.cli import main as central_cli
from tools.central.federation import (
    Federation,
    FederationRelay,
    ItemRejected,
    _item,
    new_federation,
    open_hit,
    reissue_alert,
    reissued_alert_id,
    share_alert,
    share_clearing,
    share_hit,
    verify_item,
)
from tools.central.node import CentralConfig
from tools.central.store import CentralStore

T0 = 1_800_000_000.0
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Region:
    """Three centres: ATL and BOR pin each other; EVE has a key nobody pinned. BOR's relay records into a real
    store and runs on an injected clock."""

    def __init__(self, root: Path) -> None:
        self.atl = new_federation(root / "atl" / "federation.toml", "ATL")
        self.bor = new_federation(root / "bor" / "federation.toml", "BOR")
        self.eve = new_federation(root / "eve" / "federation.toml", "EVE")
        for fed, peer in ((self.atl, self.bor), (self.bor, self.atl)):
            assert central_cli(["federation", "pin", "--config", str(fed.path), "--centre", peer.centre,
                                "--pub", str(peer.key_path) + ".pub"]) == 0
        self.atl, self.bor = Federation.load(root / "atl" / "federation.toml"), Federation.load(
            root / "bor" / "federation.toml")
        self.store = CentralStore(root / "bor.db")
        self.now = T0
        self.relay = FederationRelay(CentralConfig(), self.store, self.bor, alert_key=None, clock=lambda: self.now)

    def hit(self, fed: Federation | None = None, **kw: object) -> tuple[str, bytes]:
        row = {"msg_id": uuid.uuid4().hex, "gate_id": "atl-gate-1", "is_hit": 1, "created": T0,
               "body": encode_event({"decision": "HIT", "site": "border-1", "mrz": {"surname": "ERIKSSON"}})}
        kw.setdefault("note", "seen at border-1")
        return share_hit(fed or self.atl, row, now=kw.pop("now", T0), **kw)  # type: ignore[arg-type]

    def recorded(self) -> int:
        return len(self.store.federation_items("in"))


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Region:
    return Region(tmp_path_factory.mktemp("region"))


def deliver(region: Region, wire: bytes, item_id: str, origin: str = "ATL") -> str | None:
    """What BOR's relay did with one delivery: None when recorded, else the refusal's reason."""
    try:
        region.relay.receive(f"{topics.FED_IN}/{origin}/{item_id}", wire)
    except ItemRejected as exc:
        return exc.reason
    return None


@SETTINGS
@given(order=st.lists(st.integers(0, 3), min_size=1, max_size=16))
def test_each_genuine_item_is_recorded_once_however_often_and_in_whatever_order_it_arrives(region, order):
    items = [region.hit() for _ in range(4)]
    before, replays = region.recorded(), region.relay.rejected["replay"]
    outcomes = [deliver(region, items[i][1], items[i][0]) for i in order]
    assert region.recorded() - before == len(set(order))
    assert outcomes.count("replay") == len(order) - len(set(order)) == region.relay.rejected["replay"] - replays
    assert set(outcomes) <= {None, "replay"}


@SETTINGS
@given(data=st.data())
def test_any_altered_byte_is_refused_and_nothing_is_recorded(region, data):
    item_id, wire = region.hit()
    at = data.draw(st.integers(0, len(wire) - 1), label="at")
    flip = data.draw(st.integers(1, 255), label="flip")
    altered = wire[:at] + bytes([wire[at] ^ flip]) + wire[at + 1:]
    before = region.recorded()
    assert deliver(region, altered, item_id) in {"unknown_centre", "forged", "malformed"}
    assert region.recorded() == before
    assert deliver(region, wire, item_id) is None  # the genuine one still goes through afterwards


@SETTINGS
@given(cut=st.integers(0, 200), extra=st.binary(max_size=16))
def test_a_truncated_or_extended_item_is_refused(region, cut, extra):
    item_id, wire = region.hit()
    before = region.recorded()
    changed = wire[: len(wire) - cut] + extra
    if changed == wire:
        return
    assert deliver(region, changed, item_id) in {"unknown_centre", "forged", "malformed"}
    assert region.recorded() == before


@SETTINGS
@given(origin=st.sampled_from(["ATL", "BOR", "EVE"]))
def test_an_item_back_at_its_origin_is_a_loop_whatever_topic_it_comes_on(region, origin):
    item_id, wire = region.hit(region.bor)  # BOR's own item, delivered to BOR
    before = region.recorded()
    assert deliver(region, wire, item_id, origin) == "loop"
    assert region.recorded() == before


def test_an_unpinned_centre_is_refused_whatever_origin_it_claims(region):
    for claimed in ("EVE", "ATL"):
        body = {"id": uuid.uuid4().hex, "ts": T0, "origin": claimed, "kind": "hit", "ref": "r", "issued": T0,
                "expires": T0 + 60, "personal": False, "hit": {"gate": "g"}}
        wire = seal("fed_item", body, [region.eve.signing_key()])
        assert deliver(region, wire, body["id"], claimed) == "unknown_centre"
        unsigned = wire[:3] + b"\x00" + wire[4 + 72:]
        assert deliver(region, unsigned, body["id"], claimed) in {"unknown_centre", "malformed"}
    assert region.recorded() == 0 or all(r["origin"] == "ATL" for r in region.store.federation_items("in"))


def test_a_pinned_key_cannot_speak_for_another_centre(region):
    """BOR's relay pins ATL; an item that says origin ATL but is signed by a key pinned for another centre (here
    BOR's own, the only other key it knows) is refused, as is ATL's genuine item arriving on another centre's
    hub topic."""
    body = {"id": uuid.uuid4().hex, "ts": T0, "origin": "ATL", "kind": "hit", "ref": "r", "issued": T0,
            "expires": T0 + 60, "personal": False, "hit": {"gate": "g"}}
    assert deliver(region, seal("fed_item", body, [region.bor.signing_key()]), body["id"]) == "wrong_origin"
    item_id, wire = region.hit()
    assert deliver(region, wire, item_id, origin="EVE") == "wrong_origin"


@SETTINGS
@given(issued=st.floats(T0 - 40 * 86400, T0 + 3 * CLOCK_SKEW_S), ttl=st.floats(1, 20 * 86400))
def test_only_items_in_force_are_accepted(region, issued, ttl):
    item_id, wire = region.hit(now=issued, ttl=ttl)
    outcome = deliver(region, wire, item_id)
    if issued > T0 + CLOCK_SKEW_S:
        assert outcome == "not_yet_valid"
    elif issued + ttl <= T0:
        assert outcome == "expired"
    else:
        assert outcome is None


def test_refusals_are_counted_and_logged_without_the_items_content(region, caplog):
    item_id, wire = region.hit(personal=True)
    tampered = wire.replace(b"border-1", b"border-2")
    with caplog.at_level("INFO"):
        assert deliver(region, tampered, item_id) == "forged"
    assert "border-" not in caplog.text and "forged" in caplog.text
    assert region.store.rejects()["federation_forged"] >= 1


def test_a_shared_hit_carries_personal_data_only_when_marked_and_only_the_peers_can_read_it(region):
    _, plain = region.hit()
    assert "mrz" not in open_hit(region.bor, plain) and b"ERIKSSON" not in plain
    _, marked = region.hit(personal=True)
    assert b"ERIKSSON" not in marked  # sealed, not in clear on the hub or any broker on the way
    assert open_hit(region.bor, marked)["mrz"] == {"surname": "ERIKSSON"}  # a pinned peer opens it
    assert "mrz" not in open_hit(region.eve, marked)  # a centre ATL does not pin gets nothing
    assert open_hit(region.bor, marked)["site"] == open_hit(region.eve, marked)["site"] == "border-1"


def test_reissued_alert_keeps_origin_and_reference_and_drops_the_origins_list_references(region):
    listing = {"kind": "document", "issuing_state": "UTO", "document_number": "L898902C3", "reason": "stolen",
               "ref": "ATL-EW-1", "list": "sltd", "version": 9}
    alert_id, alert_wire, _ = build_alert(SigningKey.generate(), notice="n", severity="urgent", ttl=600,
                                          listings=[listing], now=T0)
    item = verify_item(share_alert(region.atl, alert_wire, now=T0)[1], fed=region.bor, now=T0 + 1)
    first_id, wire, expires = reissue_alert(item, SigningKey.generate(), now=T0 + 1)
    body = peek("alert", wire)[0]
    assert body["origin"] == {"centre": "ATL", "ref": alert_id} and body["notice"] == "[ATL] n"
    assert body["listings"][0]["list"] == "" and body["listings"][0]["ref"] == "ATL-EW-1" and expires == T0 + 600
    assert reissue_alert(item, SigningKey.generate(), now=T0 + 50)[0] == first_id  # the same alert to the gates
    assert body["target"] == "all"
    narrowed = peek("alert", reissue_alert(item, SigningKey.generate(), now=T0 + 1, sites=["north-1"])[1])[0]
    assert (narrowed["target"], narrowed["sites"]) == ("site", ["north-1"])  # federation run --site


def test_a_clearing_reissues_the_clearing_of_the_same_alert_and_an_alert_after_its_clearing_is_not_reissued(tmp_path):
    """A ``clear`` item re-issues, under the same id as the re-issued alert, a clearing (``cleared``, no
    listings); when the clearing arrives first, the alert that follows is recorded but never re-issued."""
    region = Region(tmp_path)
    issued: list[dict] = []
    region.relay._alert_key = SigningKey.generate()
    region.relay._client.publish = lambda topic, payload, **_kw: issued.append(peek("alert", payload)[0]) or \
        type("Info", (), {"mid": len(issued)})()  # the broker is left out: what would be published
    key = SigningKey.generate()
    alert_id, alert_wire, _ = build_alert(key, notice="n", severity="urgent", ttl=600, now=T0,
                                          listings=[{"kind": "vehicle", "vin": "WVWZZZ1JZXW000001"}])
    clearing = build_clearing(key, alert_wire, now=T0 + 5)[1]
    alert_item, clear_item = share_alert(region.atl, alert_wire, now=T0), share_clearing(region.atl, clearing, now=T0 + 5)
    region.now = T0 + 10
    assert deliver(region, clear_item[1], clear_item[0]) is None
    assert deliver(region, alert_item[1], alert_item[0]) is None
    assert [(a["id"], a.get("cleared"), a["listings"]) for a in issued] == [(reissued_alert_id("ATL", alert_id), True, [])]
    assert region.relay.reissue_pending() == 1 and len(issued) == 2 and issued[1].get("cleared")  # the clearing only


def test_a_clear_item_must_carry_a_clearing_and_an_alert_item_an_alert(region):
    key = SigningKey.generate()
    _, alert_wire, _ = build_alert(key, notice="n", severity="urgent", ttl=600, now=T0)
    clearing = build_clearing(key, alert_wire, now=T0 + 1)[1]
    fake_clear = _item(region.atl, "clear", peek("alert", alert_wire)[0]["id"], T0 + 600, T0, False, alert=alert_wire)
    fake_alert = _item(region.atl, "alert", peek("alert", alert_wire)[0]["id"], T0 + 600, T0, False, alert=clearing)
    region.now = T0 + 2
    assert deliver(region, fake_clear[1], fake_clear[0]) == "malformed"
    assert deliver(region, fake_alert[1], fake_alert[0]) == "malformed"


@pytest.mark.parametrize(("text", "says"), [
    ('centre = "ATL"\nkey = "federation.key"\ncolour = 1\n', "unknown key"),
    ('centre = "ATL/x"\nkey = "federation.key"\n', "centre id"),
    ('centre = "ATL"\nkey = "federation.key"\n[peers]\nBOR = ["abcd"]\n', "64 hex"),
    ('centre = "ATL"\nkey = "federation.key"\n[peers]\nATL = ["' + "ab" * 32 + '"]\n', "own id"),
    ('centre = "ATL"\n', "key"),
    ("centre = \n", "federation file"),
], ids=["unknown_key", "bad_centre_id", "short_peer_key", "pins_itself", "no_key", "not_toml"])
def test_a_bad_federation_file_is_refused_naming_what_is_wrong(tmp_path, text, says):
    path = tmp_path / "federation.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=says):
        Federation.load(path)


def test_init_refuses_to_replace_an_existing_federation_key(tmp_path, capsys):
    path = tmp_path / "fed" / "federation.toml"
    assert central_cli(["federation", "init", "--out", str(path), "--centre", "ATL"]) == 0
    key = (path.parent / "federation.key").read_bytes()
    assert central_cli(["federation", "init", "--out", str(path), "--centre", "ATL"]) == 2
    assert "already exists" in capsys.readouterr().err
    path.unlink()  # the file gone, the key still there: still refused
    assert central_cli(["federation", "init", "--out", str(path), "--centre", "ATL"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (path.parent / "federation.key").read_bytes() == key
