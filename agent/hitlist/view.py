"""The lookup view: one immutable installed state, read by every lookup (docs/hitlist.md "Lookups").

A miss is answered from RAM (Bloom filter and overlay); only filter positives read the exact table
(memory-mapped). The store swaps the whole view at once, so no partial change is ever visible.
"""

from __future__ import annotations

from pathlib import Path

import msgpack
import numpy as np

from agent.hitlist.layout import BaseTable, ListState, OverlayTable
from agent.hitlist.table import U64, Entries, bloom_may_contain, bloom_may_contain_many, contains_sorted
from agent.hitlist.trust import Keyring
from agent.hitlist.verify import Installed


class ListView:
    """One immutable installed state: list metadata, keyring, base table + filter, overlay."""

    def __init__(
        self, state: ListState | None, keyring: Keyring, base_dir: Path | None, overlay_dir: Path | None
    ) -> None:
        self.state, self.keyring = state, keyring
        self.base_dir, self.overlay_dir = base_dir, overlay_dir
        self.base = BaseTable(base_dir) if base_dir is not None else None
        self.filter = self.base.filter if self.base else np.zeros(8, U64)  # resident: the miss path
        self.nblocks = self.base.nblocks if self.base else 1
        self.buckets = self.base.offsets if self.base else np.zeros(2, np.uint32)
        self.adds: OverlayTable | None = None
        self.removes = np.empty(0, U64)
        if overlay_dir is not None:
            manifest = msgpack.unpackb((overlay_dir / "manifest.msgpack").read_bytes())
            self.adds = OverlayTable(overlay_dir, "add_", manifest, fp_in_ram=True)
            self.removes = np.fromfile(overlay_dir / "removes.u64", dtype=U64)
        self._filter_words = memoryview(self.filter)  # type: ignore[arg-type]
        self._bucket_offsets = memoryview(self.buckets)  # type: ignore[arg-type]

    @property
    def installed(self) -> Installed | None:
        """What verification of the next file needs about the list in force."""
        return (
            None
            if self.state is None
            else Installed(self.state.identity, self.state.chain, self.state.fp_keys)
        )

    @property
    def resident_bytes(self) -> int:
        """Bytes held in RAM for the miss path: filter, bucket offsets, overlay fingerprints."""
        adds = self.adds.fp.nbytes if self.adds is not None else 0
        return self.filter.nbytes + self.buckets.nbytes + adds + self.removes.nbytes

    @property
    def overlay_size(self) -> int:
        """Entries the overlay adds or removes."""
        return (len(self.adds) if self.adds else 0) + len(self.removes)

    def find(self, fp: int) -> tuple[str, str] | None:
        """(reason, ref) of fingerprint ``fp`` or None. Misses touch only RAM."""
        key = U64(fp)  # never pass a Python int to searchsorted: it converts the whole array
        if self.adds is not None and len(self.adds):
            i = int(self.adds.fp.searchsorted(key))
            if i < len(self.adds) and int(self.adds.fp[i]) == fp:
                return self.adds.entries.reason_at(i), self.adds.entries.ref_at(i)
        if self.base is None or not bloom_may_contain(self._filter_words, self.nblocks, fp):
            return None
        if len(self.removes):
            j = int(self.removes.searchsorted(key))
            if j < len(self.removes) and int(self.removes[j]) == fp:
                return None
        k = self.base.position(fp, self._bucket_offsets)
        return self.base.hit(k) if k >= 0 else None

    def find_many(self, fps: list[int]) -> list[tuple[str, str] | None]:
        """``find`` of each of ``fps``, in order: the misses are sorted out by one vectorised pass over the
        overlay and the Bloom filter (a traveller's 10-64 person keys), only the rest looked up one by one."""
        if not fps:
            return []
        keys = np.array(fps, U64)
        maybe = np.zeros(len(keys), bool)
        if self.adds is not None and len(self.adds):
            maybe |= contains_sorted(self.adds.fp, keys)
        if self.base is not None:
            maybe |= bloom_may_contain_many(self.filter, self.nblocks, keys)
        return [self.find(fp) if m else None for fp, m in zip(fps, maybe.tolist(), strict=True)]

    def contains_many(self, fps: np.ndarray) -> np.ndarray:
        """Vectorised membership of many fingerprints (uint64 array)."""
        fps = np.asarray(fps, U64)
        hit = np.zeros(len(fps), bool)
        if self.base is not None and len(self.base):
            maybe = np.flatnonzero(bloom_may_contain_many(self.filter, self.nblocks, fps))
            cand = fps[maybe]
            found = self.base.quotient.find_many(self.base.offsets, self.base.rem, cand) >= 0
            hit[maybe] = found & ~contains_sorted(self.removes, cand)
        if self.adds is not None and len(self.adds):
            hit |= contains_sorted(self.adds.fp, fps)
        return hit

    def base_positions(self, fps: np.ndarray) -> np.ndarray:
        """Positions of ``fps`` in the base table, -1 where absent."""
        if self.base is None or len(fps) == 0:
            return np.full(len(fps), -1, np.int64)
        return self.base.quotient.find_many(self.base.offsets, self.base.rem, np.asarray(fps, U64))

    def removed_from_base(self) -> Entries:
        """The base entries the overlay removes, with their whole fingerprints."""
        if self.base is None:
            return Entries.empty()
        return self.base.take(self.base_positions(self.removes), self.removes)
