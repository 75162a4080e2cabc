"""Key rotation and revocation reach gates over MQTT alone (RELIABILITY 41, docs/hitlist.md "Keyring delivery"):
real Mosquitto, the real central node serving the keyrings `sharaka-hitlist certify` wrote, real gates whose
HitListStore verifies every keyring as the successor of what it trusts."""

from __future__ import annotations

import time

from nacl.signing import SigningKey

from agent.hitlist.errors import HitListRejected
from agent.keys import list_key_id, load_signing_key
from tests.support.lists import DOCS, wait_fresh
from tests.support.wait import wait_until
from tools.hitlist.build import Signer, build_head, read_list


def test_gate_that_missed_several_list_key_rotations_catches_up_over_mqtt(site):
    v1 = site.lists.snapshot(1, DOCS[:50])
    site.publish(v1)
    gate, store = site.gate("gate-a")
    wait_fresh(gate, store, 1)
    assert store.keyring_version == 1
    gate.stop()
    site.gates.remove(gate)  # the gate is away while the centre rotates its list key three times
    for _ in range(3):
        site.lists.certify("--rotate-list-key")
    old_list_keys = {list_key_id(load_signing_key(site.lists.keys / f"list-{e}.key").verify_key) for e in (1, 2, 3)}
    v5 = site.lists.snapshot(5, DOCS[:60])
    site.publish(v5)
    back, store = site.gate("gate-a", key=gate.key)
    wait_fresh(back, store, 5)
    assert store.keyring_version == 4 and store.view().keyring.epoch == 4
    assert back.link.sync.keyrings == 3  # v2, v3, v4: each verified as the successor of the last
    assert old_list_keys <= store.view().keyring.revoked
    assert store.lookup_document("UTO", DOCS[55][1]) is not None


def test_fresh_gate_pinned_to_old_root_follows_root_chain(site):
    first_root = site.lists.root_pub  # what the gate image was provisioned with
    site.lists.certify("--rotate-root")
    site.lists.certify("--rotate-list-key")
    site.lists.certify("--rotate-root")
    site.lists.certify("--rotate-list-key", "--rotate-root")
    v3 = site.lists.snapshot(3, DOCS[:20])
    site.publish(v3)
    gate, store = site.gate("gate-new", first_root)
    wait_fresh(gate, store, 3)
    keyring = store.view().keyring
    assert keyring.version == 5 and first_root not in keyring.root_keys
    asked = [r["have"] for r in site.requests if r.get("want") == "keyring"]
    # one step of the chain after another; the same step asked twice (the retained head and the connection
    # both start a fetch, or a retry) is harmless and not what this test is about
    assert [have for i, have in enumerate(asked) if i == 0 or have != asked[i - 1]][:5] == [0, 1, 2, 3, 4]
    assert store.lookup_document("UTO", DOCS[10][1]) is not None


def test_revoked_list_key_untrusted_within_one_head_interval(site):
    v1, gate, store = site.gate_with_list("gate-a", DOCS[:30])
    stolen = load_signing_key(site.lists.keys / "list-1.key")  # the key an attacker holds
    site.lists.certify("--rotate-list-key")  # revokes it
    v2 = site.lists.snapshot(2, DOCS[:30])
    published = time.monotonic()
    site.publish(v2)  # the next head: signed by the new key, naming keyring v2
    assert wait_until(lambda: store.keyring_version == 2, 10), gate.link.sync.status()
    took = time.monotonic() - published
    assert list_key_id(stolen.verify_key) in store.view().keyring.revoked
    assert wait_until(lambda: store.version == 2, 10), gate.link.sync.status()
    assert took < 10
    # the attacker's head, signed by the revoked key, for a list state the gate does not have
    meta = read_list(v1.read_bytes())[0]
    forged = build_head(meta, signer=Signer(stolen, (site.lists.keyrings / "000001.bin").read_bytes(), 1),
                        issued=time.time() + 1, expires=time.time() + 3600)
    identity = store.identity
    try:
        store.accept_head(forged, now=time.time())
        raise AssertionError("a head signed by a revoked key was accepted")
    except HitListRejected as exc:
        assert exc.reason == "revoked_key"
    site.central.publish_head("sltd", forged, 600)
    assert wait_until(lambda: gate.link.sync.rejected.get("head_revoked_key", 0) >= 1, 10), gate.link.sync.status()
    assert store.identity == identity and store.stale_reason(time.time()) is None


def test_head_from_unknown_key_triggers_keyring_fetch(site):
    v1, gate, store = site.gate_with_list("gate-a", DOCS[:30])
    site.requests.clear()
    fetched = gate.link.sync.keyrings
    site.lists.certify("--rotate-list-key")
    v2 = site.lists.snapshot(2, DOCS[:31])
    site.publish(v2)
    assert wait_until(lambda: any(r.get("want") == "keyring" for r in site.requests), 10), \
        "a head signed by a key the gate does not know yet was dropped in silence"
    assert wait_until(lambda: store.version == 2, 15), gate.link.sync.status()
    assert store.keyring_version == 2 and gate.link.sync.keyrings == fetched + 1


def test_head_nobody_can_verify_is_reported_not_refetched_in_a_loop(site):
    v1, gate, store = site.gate_with_list("gate-a", DOCS[:30])
    rogue = Signer(SigningKey.generate(), (site.lists.keyrings / "000001.bin").read_bytes(), 1)
    site.requests.clear()
    site.central.publish_head("sltd", build_head(read_list(v1.read_bytes())[0], signer=rogue,
                                                 issued=time.time(), expires=time.time() + 600), 600)
    assert wait_until(lambda: gate.link.sync.rejected.get("head_unknown_key", 0) >= 1, 10), gate.link.sync.status()
    time.sleep(1.0)
    assert [r["have"] for r in site.requests if r.get("want") == "keyring"] == [1], site.requests
    assert store.version == 1 and store.keyring_version == 1
