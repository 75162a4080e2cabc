"""Several signed lists synced over MQTT at once (docs/hitlist.md "Several lists", RELIABILITY 49): a real
Mosquitto, the real central node serving LISTS/sltd and LISTS/nominal, lists built and signed with the real
`sharaka-hitlist` (each list by its own key), one gate holding a store per list."""

from __future__ import annotations

import time

import pytest

from agent.hitlist.errors import HitListRejected
from agent.hitlist.store import HitListStore
from tests.support.hitlist_central import LISTED_DOCUMENT, LISTED_PERSON
from tests.support.link import make_central, make_gate
from tests.support.lists import Lists
from tests.support.wait import wait_until
from tools.central.hitlists import HitListServer


@pytest.fixture
def own_keys(tmp_path):
    lists = Lists(tmp_path)
    lists.certify("--add-list-key", "sltd", "--add-list-key", "nominal")
    return lists


def test_each_list_syncs_on_its_own_and_status_shows_each(mq, tmp_path, keys, own_keys):
    lists = own_keys
    central = make_central(mq, tmp_path / "central.db", keys)
    central.hitlists = HitListServer(lists.lists, keyrings=lists.keyrings)
    sltd = HitListStore(tmp_path / "g-sltd", lists.root_pub)
    nominal = HitListStore(tmp_path / "g-nominal", lists.root_pub)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, hitlist=sltd,
                     lists={"nominal": nominal}, list_id="sltd")
    try:
        assert gate.link.wait_for_connected(10)
        lists.head(lists.build("sltd", 4, [LISTED_DOCUMENT]))
        lists.head(lists.build("nominal", 9, [LISTED_PERSON]))
        assert central.poll_hitlists() == 2
        assert wait_until(lambda: sltd.version == 4 and nominal.version == 9, 20), gate.link.status()
        assert sltd.list_id == "sltd" and nominal.list_id == "nominal"
        assert sltd.lookup_document("UTO", "L898902C3") is not None and nominal.lookup_document("UTO", "L898902C3") is None
        assert nominal.lookup_person("ERIKSSON", "ANNA MARIA", "740812").ref == "N-7"
        assert wait_until(lambda: not nominal.is_stale(time.time()) and not sltd.is_stale(time.time()), 10)
        status = gate.link.status()
        assert status["hitlist"]["list_id"] == "sltd"
        assert {k: v["version"] for k, v in status["lists"].items()} == {"sltd": 4, "nominal": 9}
        # a new version of one list moves that list only
        lists.head(lists.build("nominal", 10, [LISTED_PERSON]))
        assert central.poll_hitlists() == 1
        assert wait_until(lambda: nominal.version == 10, 20), gate.link.status()
        assert sltd.version == 4 and gate.link.syncs["sltd"].installs == 1
    finally:
        gate.stop()
        central.stop()


def test_list_signed_by_another_lists_key_is_rejected_and_the_list_is_unchanged(tmp_path, own_keys):
    """Each list its own signing key: the sltd key cannot sign a `nominal` list (or its head)."""
    lists = own_keys
    store = HitListStore(tmp_path / "g-nominal", lists.root_pub)
    for keyring in sorted(lists.keyrings.glob("*.bin")):
        store.install(keyring.read_bytes(), now=time.time())
    store.install(lists.build("nominal", 1, [LISTED_PERSON]).read_bytes(), now=time.time())
    before = store.identity
    forged_dir = tmp_path / "forged"
    forged_dir.mkdir()
    # the sltd key is the only one left that may sign: sign a "nominal" v2 with it
    forged = _sign_as_other_list(lists, forged_dir)
    with pytest.raises(HitListRejected) as err:
        store.install(forged, now=time.time())
    assert err.value.reason == "wrong_list_key"
    assert store.identity == before
    assert store.lookup_person("ERIKSSON", "ANNA MARIA", "740812") is not None


def _sign_as_other_list(lists: Lists, out_dir):
    from tools.hitlist.build import build_snapshot, entries_from_records, new_fingerprint_keys
    from tools.hitlist_cli import KeyDir

    kd = KeyDir(lists.keys)
    fp_keys = new_fingerprint_keys(1)
    entries = entries_from_records([LISTED_PERSON], fp_keys)
    now = time.time()
    return build_snapshot(entries, signer=kd.signer("sltd"), list_id="nominal", version=2, fp_keys=fp_keys,
                          created=now, expires=now + 86400)
