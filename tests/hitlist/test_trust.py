"""Hit-list trust: RELIABILITY 1, 2, 4, 9, 10 and key validity. Every refusal leaves the list unchanged."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from agent.hitlist.errors import HitListRejected
from agent.hitlist.store import HitListStore
from agent.keys import list_key_id
from tests.support.hitlist_central import (
    DAY,
    T0,
    Central,
    corrupt_signature,
    doc,
    grant,
    observe,
    relabel,
    resign,
)


def refused(
    store: HitListStore, blob: bytes, reason: str, *, now: float = T0, head: bool = False
) -> HitListRejected:
    before = observe(store)
    with pytest.raises(HitListRejected) as info:
        (store.accept_head if head else store.install)(blob, now=now)
    assert info.value.reason == reason, str(info.value)
    assert observe(store) == before
    assert observe(HitListStore(store.dir, store._pinned.root_keys[0])) == before  # also after a restart
    return info.value


def test_p01_bad_signature_keeps_installed_list(gate, central):
    refused(gate, corrupt_signature(central.snapshot([doc(i) for i in range(25)], 2)), "bad_signature")


def test_p01_signature_by_unpinned_key_rejected(gate, central):
    forged = resign(central.snapshot([doc(i) for i in range(25)], 2), SigningKey.generate())
    refused(gate, forged, "unknown_key")


def test_p01_altered_metadata_fails_signature(gate, central):
    blob = central.snapshot([doc(i) for i in range(25)], 2)
    tampered = blob.replace(b"sltd", b"sltx", 1)
    refused(gate, tampered, "bad_signature")


def test_p02_command_key_signing_a_delta_is_wrong_role(gate, central):
    central.snapshot([doc(i) for i in range(25)], 2)
    delta = resign(
        central.delta(1, 2), central.command_key, key_id=list_key_id(bytes(central.command_key.verify_key))
    )
    refused(gate, delta, "wrong_role")


@pytest.mark.parametrize(
    "kind", ["snapshot", "head", "keyring"], ids=["as-snapshot", "as-head", "as-keyring"]
)
def test_p02_delta_relabelled_as_another_type_rejected(gate, central, kind):
    central.snapshot([doc(i) for i in range(25)], 2)
    relabelled = relabel(central.delta(1, 2), kind)
    refused(gate, relabelled, "bad_signature", head=kind == "head")


def test_p02_head_offered_as_list_is_wrong_role(gate, central):
    refused(gate, central.head(1), "wrong_role")


def test_p04_same_version_replay_rejected(gate, central):
    refused(gate, central.published[1], "rollback")


def test_p04_lower_version_rejected_even_when_installed_list_expired(tmp_path, central):
    store = HitListStore(tmp_path / "g", central.root_pub)
    central.snapshot([doc(1)], 1)
    store.install(central.snapshot([doc(i) for i in range(5)], 2, expires=T0 + DAY), now=T0)
    later = T0 + 2 * DAY
    assert store.stale_reason(later) == "list v2 expired"
    old = resign(central.published[1], central.list_key, expires=later + DAY)  # genuinely signed, still valid
    refused(store, old, "rollback", now=later)
    assert store.version == 2


def test_expired_signing_key_rejected(gate, central):
    blob = central.snapshot([doc(i) for i in range(25)], 2)
    refused(gate, blob, "expired_key", now=T0 + 400 * DAY)


def test_revoked_signing_key_rejected(gate, central):
    old_key = central.list_key
    old_blob = central.snapshot([doc(i) for i in range(25)], 2)
    gate.install(central.rotate_list_key(), now=T0)
    refused(gate, old_blob, "revoked_key")
    assert old_key is not central.list_key


def test_p09_list_key_rotation_accepts_lower_version_in_new_epoch(gate, central):
    central.snapshot([doc(i) for i in range(25)], 5)  # old epoch reached v5
    gate.install(central.published[5], now=T0)
    keyring = central.rotate_list_key()
    central.published.clear()
    fresh = central.snapshot([doc(i) for i in range(30)], 1)  # epoch 2 restarts at v1: fast-forward recovery
    old_key_list = resign(fresh, SigningKey.generate())
    gate.install(keyring, now=T0)
    gate.install(fresh, now=T0)
    assert gate.identity[1:3] == (2, 1)
    assert gate.lookup_document("UTO", "X00000029") is not None
    refused(gate, old_key_list, "unknown_key")


def test_p09_lists_signed_by_rotated_out_key_refused(gate, central):
    stale_signer = central.signer
    gate.install(central.rotate_list_key(), now=T0)
    from tools.hitlist.build import build_snapshot, entries_from_records

    old_epoch = build_snapshot(
        entries_from_records([doc(99)], central.fp_keys), signer=stale_signer, list_id="sltd", version=9,
        fp_keys=central.fp_keys, created=T0, expires=T0 + DAY,
    )  # fmt: skip
    refused(gate, old_epoch, "revoked_key")


def test_p09_keyring_embedded_in_list_rotates_on_install(gate, central):
    central.rotate_list_key()
    central.published.clear()
    gate.install(central.snapshot([doc(3)], 1), now=T0)
    assert gate.view().keyring.epoch == 2


def test_p10_root_rotation_needs_old_and_new_root_keys(gate, central):
    new_root = SigningKey.generate()
    only_old = central.keyring_blob(signers=central.roots, roots=[new_root])
    only_new = central.keyring_blob(signers=[new_root], roots=[new_root])
    refused(gate, only_old, "bad_signature")
    refused(gate, only_new, "bad_signature")
    both = central.keyring_blob(signers=[*central.roots, new_root], roots=[new_root])
    gate.install(both, now=T0)
    assert gate.view().keyring.root_keys == (bytes(new_root.verify_key),)


def test_p10_root_rotation_only_to_the_next_version(gate, central):
    new_root = SigningKey.generate()
    skip = central.keyring_blob(
        signers=[*central.roots, new_root], roots=[new_root], version=central.keyring_version + 2
    )
    err = refused(gate, skip, "keyring_gap")
    assert err.resync
    same = central.keyring_blob(
        signers=[*central.roots, new_root], roots=[new_root], version=central.keyring_version
    )
    refused(gate, same, "rollback")


def test_keyring_epoch_beyond_the_message_schemas_refused(gate, central):
    """An epoch of 2**63 would be reported in every status (schema 0..2**63-1) and no list could match it."""
    central.epoch = 2**63
    refused(gate, central.keyring_blob(signers=central.roots, roots=central.roots), "malformed")


def test_p10_duplicate_signatures_of_one_key_count_once(tmp_path):
    central = Central()
    second = SigningKey.generate()
    central.roots = [central.roots[0], second]  # keyring v2: two root keys, threshold 2
    central.keyring_version = 2
    two_roots = central.keyring_blob(signers=[central.roots[0], second], roots=central.roots, version=2)
    store = HitListStore(tmp_path / "g", central.root_pub)
    store.install(central.keyring, now=T0)
    store.install(two_roots, now=T0)
    new_root = SigningKey.generate()
    # the first root signs twice, the second not at all: one distinct old key of the two required
    dup = central.keyring_blob(
        signers=[central.roots[0], central.roots[0], new_root], roots=[new_root], version=3
    )
    before = store.view().keyring
    with pytest.raises(HitListRejected) as info:
        store.install(dup, now=T0)
    assert info.value.reason == "bad_signature"
    assert store.view().keyring is before


def test_grant_not_yet_valid_key_rejected(tmp_path):
    central = Central()
    central.grants[0] = grant(central.list_key, ["list"], T0 + DAY, T0 + 2 * DAY)
    central.keyring = central._sign_keyring(central.roots)
    store = HitListStore(tmp_path / "g", central.root_pub)
    with pytest.raises(HitListRejected) as info:
        store.install(central.snapshot([doc(1)], 1), now=T0)
    assert info.value.reason == "expired_key"
    assert store.identity is None
