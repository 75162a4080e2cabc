"""Installation arithmetic (docs/hitlist.md "Installation"): what a verified snapshot or delta makes of
the list in force, checked against the signed state hash before anything is written, and compaction
of the overlay into a new base. The store (``agent.hitlist.store``) does the locking and switching.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.hitlist import layout
from agent.hitlist.errors import HitListRejected
from agent.hitlist.layout import BaseTable, ListState, TableWriter
from agent.hitlist.table import (
    U64,
    Codec,
    Entries,
    Quotient,
    StateSum,
    build_bloom,
    contains_sorted,
    merge_entries,
)
from agent.hitlist.verify import VerifiedList
from agent.hitlist.view import ListView


@dataclass(frozen=True)
class Delta:
    """The list in force after a delta: its state sum, the overlay's additions and removals."""

    total: StateSum
    adds: Entries
    removes: np.ndarray


def list_state(v: VerifiedList, total: StateSum) -> ListState:
    """The state record of verified list ``v`` whose entries sum to ``total``."""
    m = v.meta
    return ListState(m.identity, m.chain, total, m.created, m.expires, m.name_key_version, m.fp_keys, m.persons)


def snapshot_sum(v: VerifiedList) -> StateSum:
    """The state sum of snapshot ``v``; raises HitListRejected (state_hash) when it is not the signed one."""
    total = StateSum.of(v.entries)
    if total.digest() != v.meta.state_hash:
        raise HitListRejected(
            "state_hash", f"snapshot v{v.meta.version} entries do not give the signed state hash"
        )
    return total


def apply_delta(view: ListView, v: VerifiedList) -> Delta:
    """What the list in force becomes with delta ``v``: its state sum and the new overlay.

    Raises HitListRejected (base_mismatch with resync, state_hash) before anything is written."""
    assert_state = view.state
    if assert_state is None:  # verify_list refuses deltas without a base; keeps mypy informed
        raise HitListRejected("base_mismatch", "no list installed", resync=True)
    removes, adds = v.removes, v.entries
    in_adds = (
        contains_sorted(view.adds.fp, removes) if view.adds is not None else np.zeros(len(removes), bool)
    )
    base_pos = view.base_positions(removes)
    in_base = (base_pos >= 0) & ~contains_sorted(view.removes, removes)
    if not bool(np.all(in_adds | in_base)):
        raise HitListRejected(
            "base_mismatch",
            f"delta removes {int((~(in_adds | in_base)).sum())} entries the list does not hold",
            resync=True,
        )
    from_base = in_base & ~in_adds
    removed = merge_entries(
        view.adds.entries.take(np.flatnonzero(contains_sorted(removes, view.adds.fp)))
        if view.adds is not None
        else Entries.empty(),
        view.base.take(base_pos[from_base], removes[from_base])
        if view.base is not None
        else Entries.empty(),
    )
    still = ~contains_sorted(removes, adds.fp)
    clash = contains_sorted(view.adds.fp, adds.fp) if view.adds is not None else np.zeros(len(adds), bool)
    if view.base is not None and view.base.quotient.dtype == "<u8":  # whole fingerprints: exact
        clash |= (view.base_positions(adds.fp) >= 0) & ~contains_sorted(view.removes, adds.fp)
    # (a quotiented base cannot tell a duplicate from a 52-bit neighbour; the state hash catches it)
    if bool(np.any(clash & still)):
        raise HitListRejected("base_mismatch", "delta adds entries the list already holds", resync=True)
    total = assert_state.sum.remove(removed).add(adds)
    if total.digest() != v.meta.state_hash:
        # RELIABILITY 5: nothing was written, the view in force is untouched.
        raise HitListRejected(
            "state_hash", f"delta to v{v.meta.version} yields a state hash different from the signed one"
        )
    old_adds = view.adds.entries if view.adds is not None else Entries.empty()
    kept_adds = old_adds.take(np.flatnonzero(~contains_sorted(removes, old_adds.fp)))
    new_adds = merge_entries(kept_adds, adds)
    new_removes = np.union1d(view.removes, removes[in_base]).astype(U64)
    return Delta(total, new_adds, new_removes)


def write_compacted(writer: TableWriter, base: BaseTable, view: ListView, full_sum: StateSum) -> Path:
    """A new base = ``base`` minus the overlay's removals plus its additions, merged chunk by
    chunk (memory: one chunk, the additions and a filter copy, not the table). A quotiented base
    keeps its bucket layout and its Bloom filter (the additions are added to a copy): it does not
    hold the low fingerprint bits a new layout or filter would need."""
    adds = view.adds.entries if view.adds is not None else Entries.empty(base.ref_width)
    reasons = tuple(dict.fromkeys(base.reasons + adds.reasons))
    width = max(base.ref_width, adds.ref.shape[1])
    adds = adds.with_reasons(reasons).with_width(width)
    drop = np.sort(view.base_positions(view.removes))
    n = base.count - len(drop) + len(adds)
    exact = base.quotient.dtype == "<u8"
    quotient = Quotient.for_count(n) if exact else base.quotient
    bloom = None if exact else (base.nblocks, build_bloom(adds.fp, base.nblocks, base.filter.copy()))
    codec = (
        base.codec.union(Codec.fit(adds))
        if len(adds)
        else base.codec.union(Codec((b"\0",) * (1 + width)))
    )

    def chunks() -> Iterator[Entries]:
        a_lo, q = 0, base.quotient
        for lo in range(0, max(base.count, 1), layout.COMPACT_CHUNK):
            hi = min(base.count, lo + layout.COMPACT_CHUNK)
            keep = np.ones(hi - lo, bool)
            keep[drop[np.searchsorted(drop, lo) : np.searchsorted(drop, hi)] - lo] = False
            reason, ref = base.codec.decode(np.asarray(base.payload[lo:hi])[keep])
            fp = q.fingerprints(base.offsets, np.asarray(base.rem[lo:hi]), lo)[keep]
            bound = q.fingerprints(base.offsets, np.asarray(base.rem[hi : hi + 1]), hi)
            a_hi = int(adds.fp.searchsorted(bound[0])) if len(bound) else len(adds)
            yield merge_entries(Entries(fp, reason, ref, base.reasons), adds.part(a_lo, a_hi))
            a_lo = a_hi

    return writer.write_table(
        writer.base_dir_name(view.state.identity.version if view.state else 0),
        n, chunks, reasons, width, quotient, codec, bloom, full_sum,
    )  # fmt: skip
