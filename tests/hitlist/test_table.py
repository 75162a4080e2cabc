"""The vectorised building blocks agree with their scalar and incremental forms."""

from __future__ import annotations

import numpy as np

from agent.hitlist.table import (
    U64,
    Codec,
    Quotient,
    StateSum,
    bloom_blocks,
    bloom_may_contain,
    bloom_may_contain_many,
    build_bloom,
    merge_entries,
    mix64,
    mix64_int,
)
from tools.hitlist.build import make_entries


def _entries(fps, refs):
    return make_entries(np.array(fps, U64), np.zeros(len(fps), np.uint8), refs, ("stolen",))


def test_mix64_vector_equals_scalar():
    xs = np.array([0, 1, 2**63, 2**64 - 1, 123456789], U64)
    assert [int(v) for v in mix64(xs)] == [mix64_int(int(x)) for x in xs]


def test_state_hash_independent_of_ref_width_and_order_of_additions():
    a = _entries([5, 9, 11], [b"r1", b"r2", b"r3"])
    wide = a.with_width(24)
    assert StateSum.of(a).digest() == StateSum.of(wide).digest()
    one, two = _entries([5, 11], [b"r1", b"r3"]), _entries([9], [b"r2"])
    assert StateSum.zero().add(two).add(one) == StateSum.of(merge_entries(one, two)) == StateSum.of(a)
    assert StateSum.of(a).remove(two) == StateSum.of(one)


def test_state_hash_covers_reason_and_ref():
    base = _entries([5], [b"r1"])
    assert StateSum.of(base).digest() != StateSum.of(_entries([5], [b"r2"])).digest()
    other_reason = make_entries(np.array([5], U64), np.zeros(1, np.uint8), [b"r1"], ("lost",))
    assert StateSum.of(base).digest() != StateSum.of(other_reason).digest()


def test_bloom_has_no_false_negatives_and_few_false_positives():
    rng = np.random.default_rng(3)
    fps = np.sort(rng.integers(0, 2**64 - 1, 50_000, dtype=U64, endpoint=True))
    words = build_bloom(fps)
    nblocks = bloom_blocks(len(fps))
    assert bool(bloom_may_contain_many(words, nblocks, fps).all())
    assert all(bloom_may_contain(memoryview(words), nblocks, int(f)) for f in fps[:2000])  # type: ignore[arg-type]
    others = rng.integers(0, 2**64 - 1, 200_000, dtype=U64, endpoint=True)
    rate = float(bloom_may_contain_many(words, nblocks, others).mean())
    assert rate < 0.004, rate


def _random_entries(n: int, seed: int = 5):
    rng = np.random.default_rng(seed)
    fps = rng.integers(0, 2**64 - 1, n, dtype=U64, endpoint=True)
    refs = [b"SLTD-%s-%07d" % (rng.choice([b"UTO", b"D", b"GBR"]), rng.integers(0, 10**7)) for _ in range(n)]
    return make_entries(fps, rng.integers(0, 3, n).astype(np.uint8), refs, ("stolen", "lost", "revoked"))


def test_codec_round_trips_reason_and_ref_in_fewer_bytes():
    entries = _random_entries(3000)
    codec = Codec.fit(entries)
    packed = codec.encode(entries)
    assert codec.width < entries.ref.shape[1] // 2, codec.width  # 16-byte refs + reason in < 8 bytes
    reason, ref = codec.decode(packed)
    assert np.array_equal(reason, entries.reason) and np.array_equal(ref, entries.ref)
    assert all(
        codec.decode_one(bytes(packed[i])) == (int(entries.reason[i]), bytes(entries.ref[i]))
        for i in range(50)
    )


def test_codec_splits_columns_whose_product_overflows_64_bits():
    rng = np.random.default_rng(9)
    refs = [bytes(rng.integers(1, 256, 32, dtype=np.uint8)) for _ in range(2000)]  # ~8 bits per column
    entries = make_entries(
        rng.integers(0, 2**63, 2000, dtype=U64), np.zeros(2000, np.uint8), refs, ("stolen",)
    )
    codec = Codec.fit(entries)
    assert len(codec.groups) >= 4 and codec.width <= 33
    reason, ref = codec.decode(codec.encode(entries))
    assert np.array_equal(ref, entries.ref) and np.array_equal(reason, entries.reason)


def test_quotient_search_many_agrees_with_the_exact_set():
    rng = np.random.default_rng(4)
    fps = np.sort(rng.integers(0, 2**64 - 1, 40_000, dtype=U64, endpoint=True))
    q = Quotient(8, "<u4")  # 40-bit keys: ~156 entries per bucket
    offsets, rem = q.offsets(fps), q.remainders(fps)
    others = rng.integers(0, 2**64 - 1, 40_000, dtype=U64, endpoint=True)
    pos = q.find_many(offsets, rem, np.concatenate([fps[::7], others]))
    assert np.array_equal(pos[: len(fps[::7])], np.arange(0, len(fps), 7))
    assert int((pos[len(fps[::7]) :] >= 0).sum()) <= 1  # 40 000^2 / 2^40 expected false matches
    stored = q.fingerprints(offsets, rem)
    assert np.array_equal(stored >> U64(24), fps >> U64(24))  # the low 64 - 40 bits are not stored
