"""Installation refusals and freshness: RELIABILITY 3, 5, 7, 8, 11, 12, 30. Each refusal asserts
the installed list is unchanged (identity and lookups), also after reopening the store."""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from agent.hitlist.api import Hit
from agent.hitlist.errors import HitListRejected
from agent.hitlist.limits import DEFAULT_LIMITS, Limits
from agent.hitlist.store import HitListStore
from agent.hitlist.transfer import Transfer
from agent.link.config import FetchPacing
from agent.link.sync import HitListSync
from tests.support.hitlist_central import (
    DAY,
    LISTED_DOCUMENT,
    LISTED_PERSON,
    T0,
    Central,
    body_offset,
    doc,
    observe,
    resign,
    signed_meta,
)


def refused(store: HitListStore, blob: bytes, reason: str, *, now: float = T0) -> HitListRejected:
    before = observe(store)
    files_before = sorted(p.relative_to(store.dir) for p in store.dir.rglob("*"))
    with pytest.raises(HitListRejected) as info:
        store.install(blob, now=now)
    assert info.value.reason == reason, str(info.value)
    assert observe(store) == before
    assert observe(HitListStore(store.dir, store._pinned.root_keys[0], limits=store.limits)) == before
    assert (
        sorted(p.relative_to(store.dir) for p in store.dir.rglob("*")) == files_before
    )  # nothing left behind
    return info.value


def test_p03_delta_with_wrong_base_version_rejected_and_resync_requested(gate, central):
    central.snapshot([doc(i) for i in range(22)], 2)
    central.snapshot([doc(i) for i in range(24)], 3)
    err = refused(gate, central.delta(2, 3), "base_mismatch")
    assert err.resync


def test_p03_delta_with_wrong_base_state_hash_rejected(gate, central):
    central.snapshot([doc(i) for i in range(22)], 2)
    delta = resign(central.delta(1, 2), central.list_key, base_state_hash=bytes(32))
    assert refused(gate, delta, "base_mismatch").resync


def test_p03_delta_without_installed_list_requests_resync(tmp_path, central):
    central.snapshot([doc(1)], 1)
    central.snapshot([doc(2)], 2)
    store = HitListStore(tmp_path / "empty", central.root_pub)
    assert refused(store, central.delta(1, 2), "base_mismatch").resync


def test_broken_previous_hash_chain_rejected(gate, central):
    central.snapshot([doc(i) for i in range(22)], 2)
    delta = resign(central.delta(1, 2), central.list_key, base_chain=bytes(32))
    assert refused(gate, delta, "broken_chain").resync


def test_snapshot_forking_the_chain_rejected(gate, central):
    fork = resign(central.snapshot([doc(i) for i in range(22)], 2), central.list_key, prev_hash=b"\1" * 32)
    refused(gate, fork, "broken_chain")


def test_p05_delta_yielding_other_state_hash_undone_atomically(gate, central):
    central.snapshot([doc(i) for i in range(5, 30)], 2)
    lying = resign(central.delta(1, 2), central.list_key, state_hash=b"\7" * 32)
    refused(gate, lying, "state_hash")


def test_p05_snapshot_whose_entries_do_not_give_signed_state_hash_rejected(gate, central):
    lying = resign(central.snapshot([doc(i) for i in range(30)], 2), central.list_key, state_hash=b"\7" * 32)
    refused(gate, lying, "state_hash")


def test_p05_lookups_never_see_a_partial_delta(gate, central):
    """A reader thread checks every view it sees against the one full state of its identity."""
    versions = {1: set(range(20))}
    for v in range(2, 8):
        versions[v] = set(range(v * 3, 20 + v * 4))
        central.snapshot([doc(i) for i in sorted(versions[v])], v)
    expected = {}
    stop, bad, checked = threading.Event(), [], Counter[int]()

    def reader():
        while not stop.is_set():
            view = gate.view()
            ident = view.state.identity
            want = expected.get(ident.version)
            if want is None:
                continue
            got = {i for i in range(60) if view.find(_fp(central, i)) is not None}
            checked[ident.version] += 1
            if got != want:
                bad.append((ident.version, got ^ want))

    expected.update(versions)
    thread = threading.Thread(target=reader)
    thread.start()
    for v in range(2, 8):
        gate.install(central.delta(v - 1, v), now=T0)
    stop.set()
    thread.join()
    assert bad == []
    assert checked.keys() & set(range(2, 7)), f"the reader saw no view while deltas installed: {checked}"
    assert {i for i in range(60) if gate.lookup_document("UTO", f"X{i:08d}")} == versions[7]


def _fp(central: Central, i: int) -> int:
    from agent.hitlist.fingerprint import document_fingerprint

    return document_fingerprint(central.fp_keys, "UTO", f"X{i:08d}")


def test_content_hash_mismatch_rejected(gate, central):
    blob = bytearray(central.snapshot([doc(i) for i in range(25)], 2))
    blob[-3] ^= 0x20  # a ref byte in the body
    refused(gate, bytes(blob), "content_hash")


@pytest.mark.parametrize(
    "cut",
    [3, 10, 200, -1, -100],
    ids=["inside-magic", "inside-header", "inside-envelope", "last-body-byte", "body-cut"],
)
def test_truncated_file_rejected(gate, central, cut):
    blob = central.snapshot([doc(i) for i in range(25)], 2)
    refused(gate, blob[:cut], "truncated")


def test_trailing_bytes_rejected_as_oversized(gate, central):
    refused(gate, central.snapshot([doc(i) for i in range(25)], 2) + b"\0" * 8, "oversized")


def test_wrong_list_id_from_same_centre_rejected(gate, central):
    blob = resign(central.snapshot([doc(i) for i in range(25)], 2), central.list_key, list_id="sltd-test")
    refused(gate, blob, "wrong_list_id")


def test_list_already_expired_not_installed(gate, central):
    refused(gate, central.snapshot([doc(i) for i in range(25)], 2, expires=T0 - 1), "expired")


NON_FINITE = [("expires", float("nan")), ("expires", float("inf")), ("created", float("nan"))]
NON_FINITE_IDS = ["expires-nan", "expires-inf", "created-nan"]


@pytest.mark.parametrize(("field", "value"), NON_FINITE, ids=NON_FINITE_IDS)
def test_list_with_a_non_finite_signed_time_not_installed(gate, central, field, value):
    """A NaN ``expires`` compares as never reached: the list would never be flagged expired."""
    blob = central.snapshot([doc(i) for i in range(25)], 2)
    refused(gate, resign(blob, central.list_key, **{field: value}), "malformed")


@pytest.mark.parametrize("field", ["issued", "expires"])
def test_head_with_a_nan_signed_time_refused(gate, central, field):
    before = gate.status(T0)
    with pytest.raises(HitListRejected) as info:
        gate.accept_head(resign(central.head(1), central.list_key, **{field: float("nan")}), now=T0)
    assert info.value.reason == "malformed"
    assert gate.status(T0) == before


@pytest.mark.parametrize("field", ["version", "epoch", "base_version", "name_key_version"])
def test_list_with_a_version_or_epoch_beyond_the_message_schemas_not_installed(gate, central, field):
    """A version of 2**63 installed, then failed every status and hit-list request naming it (their schema
    takes 0..2**63-1): the gate's status never went out again and the sync raised at each tick."""
    blob = central.snapshot([doc(i) for i in range(25)], 2)
    refused(gate, resign(blob, central.list_key, **{field: 2**63}), "malformed")


@pytest.mark.parametrize("field", ["version", "epoch", "keyring"])
def test_head_with_a_version_beyond_the_message_schemas_refused(gate, central, field):
    before = gate.status(T0)
    with pytest.raises(HitListRejected) as info:
        gate.accept_head(resign(central.head(1), central.list_key, **{field: 2**63}), now=T0)
    assert info.value.reason == "malformed"
    assert gate.status(T0) == before


# --- RELIABILITY 11: bounds --------------------------------------------------------------------

SMALL = Limits(max_blob_bytes=4096, max_envelope_bytes=2048, max_entries=50, max_delta_changes=10)


@pytest.fixture
def small_gate(tmp_path, central) -> HitListStore:
    store = HitListStore(tmp_path / "small", central.root_pub, limits=SMALL)
    store.install(central.snapshot([doc(i) for i in range(20)], 1), now=T0)
    return store


def test_p11_blob_over_quota_refused(small_gate, central):
    refused(small_gate, central.snapshot([doc(i) for i in range(200)], 2), "oversized")


def test_p11_entry_count_over_limit_refused(small_gate, central):
    refused(small_gate, central.snapshot([doc(i) for i in range(60)], 2), "oversized")


def test_p11_delta_with_too_many_changes_refused(small_gate, central):
    central.snapshot([doc(i) for i in range(5, 36)], 2)
    refused(small_gate, central.delta(1, 2), "oversized")


def test_p11_envelope_length_over_limit_refused_without_reading_it(small_gate):
    import struct

    header = struct.pack("<4sBBI", b"SHKL", 1, 1, 1 << 31)
    refused(small_gate, header + b"x" * 100, "oversized")


def test_p11_declared_envelope_longer_than_file_is_truncated(gate):
    import struct

    refused(gate, struct.pack("<4sBBI", b"SHKL", 1, 1, 5000) + b"x" * 100, "truncated")


class Syncing:
    """The gate's hit-list sync (agent/link/sync.py) over ``gate``, with the centre's chunk answers scripted
    by the test: the transfer is connected to the store it installs into, as on a gate."""

    def __init__(self, gate: HitListStore, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.now = T0
        self.requests: list[dict] = []
        self.sync = HitListSync(gate, "gate-t", self.requests.append, lambda: self.now, list_id="sltd",
                                limits=limits)
        self.sync.fetch(2)

    def chunk(self, data: bytes, *, offset: int, total: int) -> None:
        # as the centre does: the answer names the request it answers (the latest one)
        self.sync.on_chunk({"req": self.requests[-1]["id"], "name": "sltd-2.shl", "total": total, "offset": offset,
                            "data": data})

    def serve(self, blob: bytes, size: int = 500, *, until: int | None = None) -> None:
        """Answer each request for the next chunk of ``blob``, as the centre does, up to byte ``until``."""
        while self.sync.state == "fetching" and self.requests[-1]["offset"] < (until or len(blob)):
            offset = self.requests[-1]["offset"]
            self.chunk(blob[offset : offset + size], offset=offset, total=len(blob))


def test_p11_transfer_chunk_beyond_declared_size_refused(gate, central):
    before = observe(gate)
    blob = central.snapshot([doc(i) for i in range(30)], 2)
    syncing = Syncing(gate)
    half = len(blob) // 2
    syncing.chunk(blob[:half], offset=0, total=len(blob))
    assert syncing.requests[-1]["offset"] == half
    syncing.chunk(blob[half:] + b"b", offset=half, total=len(blob))
    assert (syncing.sync.state, syncing.sync.rejected) == ("abandoned", {"oversized": 1})
    assert observe(gate) == before


def test_p11_transfer_declared_over_quota_refused(tmp_path):
    with pytest.raises(HitListRejected) as info:
        Transfer(tmp_path / "incoming.part", SMALL.max_blob_bytes + 1, now=T0, limits=SMALL)
    assert info.value.reason == "oversized"
    assert not (tmp_path / "incoming.part").exists()


def test_p03_delta_from_another_base_makes_the_sync_ask_for_a_snapshot_and_install_it(gate, central):
    """RELIABILITY 3 through the gate's sync, not only the refusal's flag: the delta v2 → v3 offered to a gate
    at v1 is refused, the list stays v1, and the next request asks for a whole snapshot, which installs."""
    before = observe(gate)
    central.snapshot([doc(i) for i in range(22)], 2)
    snapshot = central.snapshot([doc(i) for i in range(24)], 3)
    syncing = Syncing(gate)
    assert syncing.requests[-1]["want"] == "auto"
    delta = central.delta(2, 3)
    syncing.chunk(delta, offset=0, total=len(delta))
    assert syncing.sync.rejected == {"base_mismatch": 1}
    assert observe(gate) == before
    assert (syncing.sync.state, syncing.requests[-1]["want"], syncing.requests[-1]["offset"]) == \
        ("fetching", "snapshot", 0)
    syncing.serve(snapshot)
    assert (syncing.sync.state, gate.version) == ("idle", 3)
    assert gate.lookup_document("UTO", "X00000023") is not None


def test_p12_stalled_transfer_abandoned_screening_continues(gate, central):
    before = observe(gate)
    blob = central.snapshot([doc(i) for i in range(30)], 2)
    syncing = Syncing(gate, limits=Limits(stall_seconds=30.0))
    syncing.now = T0 + 10
    syncing.serve(blob, 100, until=100)
    syncing.now = T0 + 39  # 29 s without progress: still fetching
    syncing.sync.tick()
    assert syncing.sync.state == "fetching"
    syncing.now = T0 + 41
    syncing.sync.tick()
    assert syncing.sync.state == "abandoned" and "no progress for 31 s after 100 bytes" in syncing.sync.detail
    syncing.chunk(blob[100:], offset=100, total=len(blob))  # the rest, too late: not installed
    assert observe(gate) == before
    assert gate.lookup_document("UTO", "X00000003") is not None


def test_p12_completed_transfer_installs(gate, central):
    blob = central.snapshot([doc(i) for i in range(30)], 2)
    syncing = Syncing(gate)
    syncing.serve(blob)
    assert (syncing.sync.state, gate.version) == ("idle", 2)
    assert gate.lookup_document("UTO", "X00000025") is not None


def test_p12_abandoned_transfer_is_tried_again_after_a_growing_jittered_backoff_without_a_new_head(gate, central):
    """The centre does not answer (overloaded, or its answers lost): the transfer is abandoned, then tried
    again by itself after 5..10 s, then 5..20 s (full jitter), not only when the next head comes (which the
    whole fleet gets at the same moment); once answered it installs."""
    blob = central.snapshot([doc(i) for i in range(30)], 2)
    syncing = Syncing(gate, limits=Limits(stall_seconds=30.0))
    sync = syncing.sync

    def silent_until(state: str, most: float) -> float:
        start = syncing.now
        while sync.state != state:
            syncing.now += 0.25
            assert syncing.now - start <= most, f"still {sync.state!r} ({sync.detail}) after {most} s"
            sync.tick()
        return syncing.now - start

    for attempt, (lo, hi) in enumerate([(5, 10), (5, 20)], start=1):
        silent_until("abandoned", 31)
        assert "again in" in sync.detail and sync.status()["next_fetch_in_s"] <= hi
        asked = len(syncing.requests)
        waited = silent_until("fetching", hi + 0.25)
        assert lo <= waited <= hi + 0.25, (attempt, waited)
        assert len(syncing.requests) == asked + 1 and syncing.requests[-1]["offset"] == 0
    syncing.serve(blob)
    assert (sync.state, gate.version) == ("idle", 2)
    assert "next_fetch_in_s" not in sync.status()


def test_unanswered_requests_are_sent_again_after_growing_jittered_waits(gate, central):
    central.snapshot([doc(i) for i in range(30)], 2)
    syncing = Syncing(gate, limits=Limits(stall_seconds=600.0, request_retry_seconds=5.0))
    sent = [syncing.now]
    while syncing.now < T0 + 300:
        syncing.now += 0.25
        syncing.sync.tick()
        if len(syncing.requests) > len(sent):
            sent.append(syncing.now)
    waits = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert 5.0 <= waits[0] <= 5.25  # the first retry as before: request_retry_seconds
    assert all(5.0 <= w <= 5.0 * 2 ** n + 0.25 for n, w in enumerate(waits)), waits
    assert len(waits) < 20, "a request every 5 s: a stalled fleet would keep asking in lockstep"


def test_list_update_announced_to_a_fleet_is_fetched_spread_over_the_window(gate, central):
    """200 gates get the head of v2 at the same moment (one retained message): their fetches start at
    random moments spread over ``spread_s`` (uniformly: no tenth of the window holds twice its share),
    every one of them within it, none at once."""
    central.snapshot([doc(i) for i in range(30)], 2)
    head = central.head(2)
    now, spread = [T0], 60.0
    fleet = [HitListSync(gate, f"gate-{i}", [].append, lambda: now[0], list_id="sltd",
                         pacing=FetchPacing(spread_s=spread), rng=random.Random(i)) for i in range(200)]
    for sync in fleet:
        sync.on_head("sltd", head)
    assert all(sync.state == "idle" and 0 <= sync.status()["next_fetch_in_s"] <= spread for sync in fleet)
    started: dict[int, float] = {}
    while now[0] <= T0 + spread + 1:
        for i, sync in enumerate(fleet):
            sync.tick()
            if sync.state == "fetching" and i not in started:
                started[i] = now[0] - T0
        now[0] += 0.5
    assert len(started) == len(fleet) and max(started.values()) <= spread + 0.5
    tenths = Counter(min(9, int(t / spread * 10)) for t in started.values())
    assert len(tenths) == 10 and max(tenths.values()) <= 2 * len(fleet) / 10, sorted(tenths.items())
    assert sum(t < 1.0 for t in started.values()) <= 10  # not a storm in the first second


def test_a_gate_without_a_list_and_a_resync_command_fetch_at_once_whatever_the_spread(tmp_path, central, gate):
    central.snapshot([doc(i) for i in range(30)], 2)
    head = central.head(2)
    pacing = FetchPacing(spread_s=600.0)
    empty = HitListStore(tmp_path / "empty", central.root_pub)
    for store, start in ((empty, lambda sync: sync.on_head("sltd", head)),  # no list: everyone is referred
                         (gate, lambda sync: sync.resync({}))):  # an operator asked for it
        requests: list[dict] = []
        sync = HitListSync(store, "gate-t", requests.append, lambda: T0, list_id="sltd", pacing=pacing)
        start(sync)
        assert sync.state == "fetching" and len(requests) == 1
    requests = []
    prompt = HitListSync(gate, "gate-t", requests.append, lambda: T0, list_id="sltd", pacing=FetchPacing(spread_s=0))
    prompt.on_head("sltd", head)
    assert prompt.state == "fetching" and len(requests) == 1


# --- RELIABILITY 7, 8: freshness -------------------------------------------------------------------


def test_p07_without_head_list_is_stale_and_fresh_head_clears_it(gate, central):
    assert gate.is_stale(T0)
    gate.accept_head(central.head(1, issued=T0), now=T0)
    assert not gate.is_stale(T0 + 10)
    assert gate.status(T0 + 10)["stale"] is False


def test_p07_head_older_than_max_staleness_makes_list_stale(tmp_path, central):
    store = HitListStore(tmp_path / "g", central.root_pub, max_staleness=600)
    store.install(central.snapshot([doc(1)], 1), now=T0)
    store.accept_head(central.head(1, issued=T0, valid=3600), now=T0)
    assert not store.is_stale(T0 + 599)
    assert store.stale_reason(T0 + 601) == "last head older than 600 s"
    store.accept_head(central.head(1, issued=T0 + 700, valid=3600), now=T0 + 700)
    assert not store.is_stale(T0 + 701)


def test_p07_head_for_newer_version_reports_list_behind(gate, central):
    central.snapshot([doc(i) for i in range(21)], 2)
    gate.accept_head(central.head(2), now=T0)
    assert "head names v2" in gate.stale_reason(T0)


def test_p07_stale_list_stays_in_force(gate, central):
    gate.accept_head(central.head(1, issued=T0, valid=60), now=T0)
    later = T0 + 3600
    assert gate.is_stale(later)
    assert gate.lookup_document("UTO", "X00000004") is not None


def test_p07_freshness_survives_restart(gate, central):
    gate.accept_head(central.head(1, issued=T0), now=T0)
    assert not HitListStore(gate.dir, central.root_pub).is_stale(T0 + 5)


def test_p08_expired_head_never_taken_as_fresh(gate, central):
    expired = central.head(1, issued=T0 - 7200, valid=3600)
    with pytest.raises(HitListRejected) as info:
        gate.accept_head(expired, now=T0)
    assert info.value.reason == "expired"
    assert gate.is_stale(T0)


def test_p08_one_reference_time_decides_expiry(gate, central):
    gate.accept_head(central.head(1, issued=T0, valid=100), now=T0)
    assert not gate.is_stale(T0 + 99.999)
    assert gate.is_stale(T0 + 100)
    assert gate.stale_reason(T0 + 7 * DAY) == "list v1 expired"


def test_p08_head_from_far_future_refused(gate, central):
    with pytest.raises(HitListRejected) as info:
        gate.accept_head(central.head(1, issued=T0 + 3600), now=T0)
    assert info.value.reason == "not_yet_valid"


def test_head_replay_of_older_head_refused(gate, central):
    gate.accept_head(central.head(1, issued=T0 + 50), now=T0 + 50)
    with pytest.raises(HitListRejected) as info:
        gate.accept_head(central.head(1, issued=T0), now=T0 + 60)
    assert info.value.reason == "rollback"


def test_head_with_bad_signature_refused(gate, central):
    from tests.support.hitlist_central import corrupt_signature

    with pytest.raises(HitListRejected) as info:
        gate.accept_head(corrupt_signature(central.head(1)), now=T0)
    assert info.value.reason == "bad_signature"
    assert gate.is_stale(T0)


# --- RELIABILITY 30: privacy at rest ---------------------------------------------------------------


def test_p30_state_files_hold_no_document_number_or_name(tmp_path, central):
    records = [LISTED_DOCUMENT, LISTED_PERSON]
    store = HitListStore(tmp_path / "g", central.root_pub)
    store.install(central.snapshot(records, 1), now=T0)
    central.snapshot([*records, doc(5)], 2)
    store.install(central.delta(1, 2), now=T0)
    store.accept_head(central.head(2), now=T0)
    assert store.lookup_document("UTO", "L898902C3") is not None
    needles = [b"L898902C3", b"L898902C36", b"UTOL898902C3", b"ERIKSSON", b"ANNA", b"740812", b"X00000005",
               b"P<UTOERIKSSON<<ANNA<MARIA", "L898902C3".encode("utf-16-le")]  # fmt: skip
    files = [p for p in Path(store.dir).rglob("*") if p.is_file()]
    assert len(files) >= 10
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, (path, needle)


# --- lookups -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "number"),
    [
        ("UTO", "X00000007"),
        ("uto", "x00000007"),
        ("UTO<", "X00000007<<"),
        ("UTO", "X0000 0007"),
        ("U T O", "X-00000007"),
    ],
    ids=["plain", "lower-case", "fillers", "space", "separators"],
)
def test_document_lookup_normalises_like_an_officer(gate, state, number):
    hit = gate.lookup_document(state, number)
    assert hit is not None and (hit.reason, hit.ref) == ("stolen", "R7")


def test_td1_long_document_number_is_looked_up_whole(tmp_path, central):
    store = HitListStore(tmp_path / "g", central.root_pub)
    rec = {
        "kind": "document",
        "issuing_state": "D",
        "document_number": "D23145890734",
        "reason": "lost",
        "ref": "L1",
    }
    store.install(central.snapshot([rec], 1), now=T0)
    assert store.lookup_document("D<<", "D23145890734").ref == "L1"
    assert store.lookup_document("D", "D23145890") is None


@pytest.mark.parametrize(
    ("state", "number"),
    [("U2O", "X1"), ("UTO", ""), ("UTO", "X1/2")],
    ids=["digit-in-state", "empty-number", "slash"],
)
def test_malformed_identifier_raises_bad_data_naming_value(gate, state, number):
    with pytest.raises(ValueError, match="expected"):
        gate.lookup_document(state, number)


def test_uint64_search_exact_near_top_of_range(tmp_path):
    """Regression for the Python-int searchsorted pitfall: a float conversion would merge neighbours."""
    from agent.hitlist.store import ListView
    from agent.hitlist.table import StateSum
    from tools.hitlist.build import make_entries

    top = (1 << 64) - 1
    fps = np.array([top - 2048, top - 1024, top - 2, top], np.uint64)
    entries = make_entries(fps, np.zeros(4, np.uint8), [b"a", b"b", b"c", b"d"], ("stolen",))
    central = Central()
    store = HitListStore(tmp_path / "g", central.root_pub)
    base = store._writer.write_base(entries, 1)
    view = ListView(None, store._pinned, base, None)
    assert [view.find(int(f)) for f in fps] == [("stolen", r) for r in "abcd"]
    assert view.find(top - 1) is None and view.find(top - 1023) is None
    assert StateSum.of(entries).count == 4


def test_searchsorted_lookup_does_not_copy_the_table(tmp_path, central):
    """A Python int below 2^63 passed to searchsorted makes NumPy convert the whole uint64 array
    (PERFORMANCE.md pitfall: ms instead of us). The lookup must allocate ~nothing."""
    import tracemalloc

    store = HitListStore(tmp_path / "g", central.root_pub)
    central.snapshot([doc(i) for i in range(300)], 1)
    central.snapshot([doc(i) for i in range(20000)], 2)
    store.install(central.published[1], now=T0)
    store.install(central.delta(1, 2), now=T0)
    view = store.view()
    assert len(view.adds) > 19000
    low_overlay = int(view.adds.fp[10])  # sorted: the first fingerprints are far below 2^63
    low_base = min(f for f in (_fp(central, i) for i in range(300)) if f < 1 << 63)
    assert low_overlay < 1 << 63 and low_base < 1 << 63
    tracemalloc.start()
    assert view.find(low_overlay) is not None
    assert view.find(low_base) is not None
    assert view.find(low_base + 1) is None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < len(view.adds) * 8 // 4, peak


def test_compaction_keeps_identity_and_answers(gate, central):
    central.snapshot([doc(i) for i in range(10, 35)], 2)
    gate.install(central.delta(1, 2), now=T0)
    before = observe(gate)
    assert gate.view().overlay_size > 0
    gate.compact()
    assert gate.view().overlay_size == 0
    assert observe(gate) == before
    assert gate.verify()["ok"]


def test_store_verify_detects_corrupted_table(gate):
    base = gate.view().base_dir
    ref = base / "payload.bin"
    data = bytearray(ref.read_bytes())
    data[0] ^= 1
    ref.write_bytes(bytes(data))
    assert HitListStore(gate.dir, gate._pinned.root_keys[0]).verify()["ok"] is False


def test_signed_metadata_declares_required_fields(central):
    meta = signed_meta(central.snapshot([doc(1)], 1))
    for field in ("list_id", "version", "base_version", "prev_hash", "created", "expires", "count", "content_hash",
                  "key_id", "name_key_version", "fp_keys", "state_hash", "epoch"):  # fmt: skip
        assert field in meta
    assert body_offset(central.published[1]) > 0


class _CountingArray:
    """Wraps the memory-mapped exact table and counts reads (the disk side of a lookup)."""

    def __init__(self, arr):
        self.arr, self.reads = arr, 0

    def __getitem__(self, index):
        self.reads += 1
        return self.arr[index]

    def __len__(self):
        return len(self.arr)


def test_misses_are_answered_from_ram_without_reading_the_table(tmp_path, central):
    store = HitListStore(tmp_path / "g", central.root_pub)
    central.snapshot([doc(i) for i in range(5000)], 1)
    central.snapshot([doc(i) for i in range(100, 5100)], 2)
    store.install(central.published[1], now=T0)
    store.install(central.delta(1, 2), now=T0)
    view = store.view()
    spy = _CountingArray(view.base.rem)
    view.base.rem = spy
    misses = 20000
    for i in range(10**6, 10**6 + misses):
        assert store.lookup_document("UTO", f"X{i:08d}") is None
    assert spy.reads <= misses * 0.01, spy.reads  # only filter false positives (~0.13 %) read the table
    assert store.lookup_document("UTO", "X00000200") is not None
    assert spy.reads > 0


def test_overlay_over_limit_is_compacted_in_the_background(tmp_path, central):
    store = HitListStore(tmp_path / "g", central.root_pub, limits=Limits(max_overlay_entries=10))
    central.snapshot([doc(i) for i in range(20)], 1)
    central.snapshot([doc(i) for i in range(8, 40)], 2)
    store.install(central.published[1], now=T0)
    before_base = store.view().base_dir
    store.install(central.delta(1, 2), now=T0)
    with store._lock:  # the compaction thread holds the store lock until it has switched
        pass
    for _ in range(200):
        if store.view().overlay_size == 0:
            break
        threading.Event().wait(0.02)
    view = store.view()
    assert view.overlay_size == 0 and view.base_dir != before_base
    assert store.identity[2] == 2 and store.verify()["ok"]
    assert {i for i in range(45) if store.lookup_document("UTO", f"X{i:08d}")} == set(range(8, 40))


@pytest.mark.parametrize("exact_below", [0, 1 << 20], ids=["quotiented", "whole_fingerprints"])
def test_base_answers_reason_and_ref_through_delta_streamed_compaction_and_verify(
    tmp_path, central, monkeypatch, exact_below
):
    """Large bases keep 32 + bucket bits of each fingerprint and packed reason/ref (docs "Store
    layout"); compaction merges base and overlay in chunks (here 97 entries) into the same answers."""
    import agent.hitlist.layout as layout_module
    import agent.hitlist.table as table

    monkeypatch.setattr(table, "EXACT_BELOW", exact_below)  # 0: the 10^8 layout at test scale
    monkeypatch.setattr(layout_module, "COMPACT_CHUNK", 97)
    reasons = ("stolen", "lost", "revoked")
    v1 = [doc(i, reasons[i % 3]) for i in range(3000)]
    v2 = [doc(i, reasons[i % 3]) for i in range(100, 3100)] + [
        doc(5000, "wanted") | {"ref": "LONGER-REF-5000"}
    ]
    store = HitListStore(tmp_path / "g", central.root_pub)
    store.install(central.snapshot(v1, 1), now=T0)
    central.snapshot(v2, 2)
    view = store.view()
    assert view.base.quotient.dtype == ("<u4" if exact_below == 0 else "<u8") and view.base.codec.width < 8
    store.install(central.delta(1, 2), now=T0)
    expected = {r["document_number"]: Hit("document", r["reason"], r["ref"]) for r in v2}

    def answers():
        return {f"X{i:08d}": store.lookup_document("UTO", f"X{i:08d}") for i in range(5200)}

    want = {n: expected.get(n) for n in answers()}
    assert answers() == want and store.verify()["ok"]
    fps = np.array([_fp(central, i) for i in range(5200)], np.uint64)
    assert np.array_equal(
        store.view().contains_many(fps), np.array([want[f"X{i:08d}"] is not None for i in range(5200)])
    )
    before = store.view().base
    store.compact()
    after = store.view()
    assert after.overlay_size == 0 and after.base.count == len(v2)
    assert after.base.quotient == before.quotient
    assert answers() == want and store.verify() == {**store.verify(), "ok": True, "count": len(v2)}
    central.snapshot(v2[:-10], 3)
    store.install(central.delta(2, 3), now=T0)  # a delta on a compacted base
    assert store.lookup_document("UTO", v2[-2]["document_number"]) is None
    assert store.lookup_document("UTO", v2[0]["document_number"]) == expected[v2[0]["document_number"]]
    assert store.verify()["ok"]


def test_base_of_the_first_layout_is_rewritten_at_start_up_with_the_same_answers(gate, central):
    """A gate upgraded in place finds a layout-1 base (whole fp.u64, reason.u8, ref.bin): the store
    rewrites it as an installation would and answers exactly as before."""
    import msgpack

    from tools.hitlist.build import read_list

    before = observe(gate)
    _, entries, _ = read_list(central.published[1])
    old = gate.view().base_dir
    for f in old.iterdir():
        f.unlink()
    (old / "fp.u64").write_bytes(entries.fp.astype("<u8").tobytes())
    (old / "reason.u8").write_bytes(entries.reason.tobytes())
    (old / "ref.bin").write_bytes(entries.ref.tobytes())
    manifest = {"count": len(entries), "reasons": list(entries.reasons), "ref_width": entries.ref.shape[1]}
    (old / "manifest.msgpack").write_bytes(msgpack.packb(manifest))
    reopened = HitListStore(gate.dir, central.root_pub)
    assert reopened.view().base_dir != old and not old.exists()
    assert observe(reopened) == before and reopened.verify()["ok"]


def test_transfer_resumes_after_gate_restart_from_the_bytes_on_disk(gate, central):
    """A gate restarted mid-transfer keeps what reached its disk: offered the same file again, it asks for the
    rest, and the file it assembles still verifies and installs."""
    blob = central.snapshot([doc(i) for i in range(300)], 2)
    first = Syncing(gate)
    first.serve(blob, 500, until=len(blob) // 2)
    kept = first.sync.transfer.received
    assert kept >= len(blob) // 2 and gate.spool_path().stat().st_size == kept
    restarted = Syncing(gate)  # a new sync over the same store: the process restarted
    restarted.chunk(blob[:500], offset=0, total=len(blob))
    assert restarted.requests[-1]["offset"] == kept, "the restarted gate asked for bytes it already had"
    restarted.serve(blob, 500)
    assert gate.version == 2 and not gate.spool_path().exists(), restarted.sync.status()


def test_transfer_of_another_file_after_restart_starts_from_zero(gate, central):
    blob = central.snapshot([doc(i) for i in range(300)], 2)
    first = Syncing(gate)
    first.serve(blob, 500, until=len(blob) // 2)
    restarted = Syncing(gate)
    restarted.sync.on_chunk({"req": restarted.requests[-1]["id"], "name": "other.shl", "total": len(blob),
                             "offset": 0, "data": blob[:500]})
    assert restarted.requests[-1]["offset"] == 500


def test_batched_find_answers_as_one_find_per_fingerprint(tmp_path, central):
    """``ListView.find_many`` (a traveller's person keys at once) answers exactly what ``find`` answers for
    each fingerprint: base hits, misses, entries the overlay adds, base entries it removes; and with no list."""
    store = HitListStore(tmp_path / "g", central.root_pub)
    assert store.view().find_many([_fp(central, 1)]) == [None] and store.view().find_many([]) == []
    v1 = [doc(i) for i in range(300)]
    v2 = [doc(i, "lost") for i in range(50, 350)]  # removes 0-49 from the base, adds 300-349 in the overlay
    store.install(central.snapshot(v1, 1), now=T0)
    central.snapshot(v2, 2)
    fps = [_fp(central, i) for i in range(400)]
    for version in (1, 2):
        if version == 2:
            store.install(central.delta(1, 2), now=T0)
        view = store.view()
        one_by_one = [view.find(fp) for fp in fps]
        assert view.find_many(fps) == one_by_one
        assert sum(found is not None for found in one_by_one) == 300
    assert store.view().overlay_size > 0 and store.view().find_many(fps[:50]) == [None] * 50
