"""The vectorised building blocks agree with their scalar and incremental forms."""

from __future__ import annotations

import numpy as np

from agent.hitlist.build import make_entries
from agent.hitlist.table import (
    U64,
    StateSum,
    bloom_blocks,
    bloom_may_contain,
    bloom_may_contain_many,
    build_bloom,
    merge_entries,
    mix64,
    mix64_int,
)


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
