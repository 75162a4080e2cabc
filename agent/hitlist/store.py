"""The gate's installed hit-list: verified installation, crash-safe switching and fast lookups
(docs/hitlist.md "Store layout", "Crash safety").

    state_dir/CURRENT                    name of the state record in force (switched by rename)
    state_dir/states/NNNNNNNN.msgpack    list identity, state sum, keyring, base and overlay names
    state_dir/bases/NAME/                immutable table: rem.bin (quotiented fingerprints, sorted),
                                         offsets.bin (bucket offsets, RAM), payload.bin (packed reason
                                         and ref), filter.u64 (split-block Bloom, RAM), manifest.msgpack
    state_dir/overlays/NAME/             immutable delta overlay: adds and removals since the base
    state_dir/head.msgpack               last accepted freshness head

A miss is answered from RAM (Bloom filter and overlay); only filter positives read the exact table
(memory-mapped). Every file is written, fsynced and its directory fsynced before the state record
is renamed into place and CURRENT switched, so a kill at any point leaves the old or the new list.
Lookups read one immutable ``ListView`` reference: no partial change is ever visible.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import msgpack
import numpy as np

from agent.errors import BadDataError
from agent.hitlist import names
from agent.hitlist.api import Hit
from agent.hitlist.errors import HitListRejected
from agent.hitlist.fingerprint import (
    FingerprintKeys,
    document_fingerprint,
    person_fingerprint,
    vehicle_fingerprint,
)
from agent.hitlist.format import unpack_frame
from agent.hitlist.limits import DEFAULT_LIMITS, Limits
from agent.hitlist.table import (
    U64,
    Codec,
    Entries,
    Quotient,
    StateSum,
    bloom_blocks,
    bloom_may_contain,
    bloom_may_contain_many,
    build_bloom,
    contains_sorted,
    merge_entries,
)
from agent.hitlist.trust import Keyring, verify_keyring
from agent.hitlist.verify import Head, Identity, Installed, VerifiedList, verify_head, verify_list

logger = logging.getLogger(__name__)

CRASH_ENV = "SHARAKA_HITLIST_CRASH_AT"  # test hook: SIGKILL the installer at its k-th step
WRITE_CHUNK = 64 << 20
BASE_LAYOUT = 2  # 1: whole fp.u64, reason.u8, ref.bin (rewritten at start-up by _upgrade_layout)
COMPACT_CHUNK = 1 << 22  # entries per step of a base write (bounds compaction memory)


@dataclass(frozen=True)
class ListState:
    """The installed list's identity and what verification of the next file needs."""

    identity: Identity
    chain: bytes
    sum: StateSum
    created: float
    expires: float
    name_key_version: int
    fp_keys: FingerprintKeys

    def to_wire(self) -> dict:
        """This state as stored in its state record (msgpack)."""
        i = self.identity
        return {
            "list_id": i.list_id, "epoch": i.epoch, "version": i.version, "state_hash": i.state_hash,
            "chain": self.chain, "sum": self.sum.to_wire(), "created": self.created, "expires": self.expires,
            "name_key_version": self.name_key_version, "fp_keys": self.fp_keys.to_wire(),
        }  # fmt: skip

    @classmethod
    def from_wire(cls, w: dict) -> ListState:
        """The state read back from its state record."""
        return cls(
            Identity(w["list_id"], w["epoch"], w["version"], w["state_hash"]),
            w["chain"], StateSum.from_wire(w["sum"]), w["created"], w["expires"], w["name_key_version"],
            FingerprintKeys.from_wire(w["fp_keys"]),
        )  # fmt: skip


class _Table:
    """Overlay entries memory-mapped from one directory (read-only); ``fp_in_ram`` loads the
    fingerprints (the overlay's, which every miss searches)."""

    def __init__(self, directory: Path, prefix: str, manifest: dict, *, fp_in_ram: bool = False) -> None:
        n, width = manifest[prefix + "count"], manifest["ref_width"]
        self.reasons: tuple[str, ...] = tuple(manifest["reasons"])
        fp_path = directory / f"{prefix}fp.u64"
        self.entries = Entries(
            np.fromfile(fp_path, dtype=U64) if fp_in_ram else _map(fp_path, U64, (n,)),
            _map(directory / f"{prefix}reason.u8", np.uint8, (n,)),
            _map(directory / f"{prefix}ref.bin", np.uint8, (n, width)),
            self.reasons,
        )
        self.fp = self.entries.fp

    def __len__(self) -> int:
        return len(self.entries)


class _Base:
    """The base table (docs/hitlist.md "Store layout"): quotiented fingerprints ``rem`` and packed
    reason/ref ``payload`` memory-mapped, bucket ``offsets`` and the Bloom ``filter`` in RAM."""

    FILES = ("rem.bin", "payload.bin")  # digests in the manifest, checked by verify()

    def __init__(self, directory: Path) -> None:
        m = msgpack.unpackb((directory / "manifest.msgpack").read_bytes())
        self.manifest, self.count = m, m["count"]
        self.reasons: tuple[str, ...] = tuple(m["reasons"])
        self.ref_width = m["ref_width"]
        self.quotient = Quotient(m["bucket_bits"], m["rem_dtype"])
        self.codec = Codec(tuple(m["alphabets"]))
        self.full_sum = StateSum.from_wire(m["full_sum"])
        self.nblocks = m["bloom_blocks"]
        self.rem = _map(directory / "rem.bin", np.dtype(m["rem_dtype"]), (self.count,))
        self.payload = _map(directory / "payload.bin", np.uint8, (self.count, self.codec.width))
        self.offsets = np.fromfile(directory / "offsets.bin", dtype=np.dtype(m["offsets_dtype"]))
        self.filter = np.fromfile(directory / "filter.u64", dtype=U64)
        self._rtype = np.dtype(m["rem_dtype"]).type

    def __len__(self) -> int:
        return self.count

    def position(self, fp: int, offsets) -> int:
        """Index of ``fp`` in the table or -1 (one bucket read: ~100 entries)."""
        q = self.quotient
        b, r = q.bucket(fp), q.remainder(fp)
        lo, hi = offsets[b], offsets[b + 1]
        k = lo + int(self.rem[lo:hi].searchsorted(self._rtype(r)))  # a NumPy scalar: no array copy
        return k if k < hi and int(self.rem[k]) == r else -1

    def hit(self, k: int) -> tuple[str, str]:
        reason, ref = self.codec.decode_one(bytes(self.payload[k]))
        return self.reasons[reason], ref.rstrip(b"\0").decode("utf-8", "replace")

    def take(self, positions: np.ndarray, fps: np.ndarray) -> Entries:
        """Entries at ``positions`` with the (whole) fingerprints ``fps`` the caller knows."""
        reason, ref = self.codec.decode(np.asarray(self.payload[np.asarray(positions, np.int64)]))
        return Entries(np.asarray(fps, U64), reason, ref, self.reasons)

    def digests_ok(self, directory: Path) -> bool:
        return all(_file_digest(directory / f) == self.manifest["digests"][f] for f in self.FILES)


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while chunk := f.read(WRITE_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _map(path: Path, dtype, shape: tuple[int, ...]) -> np.ndarray:
    if 0 in shape:
        return np.empty(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=shape)


class ListView:
    """One immutable installed state: list metadata, keyring, base table + filter, overlay."""

    def __init__(
        self, state: ListState | None, keyring: Keyring, base_dir: Path | None, overlay_dir: Path | None
    ) -> None:
        self.state, self.keyring = state, keyring
        self.base_dir, self.overlay_dir = base_dir, overlay_dir
        self.base = _Base(base_dir) if base_dir is not None else None
        self.filter = self.base.filter if self.base else np.zeros(8, U64)  # resident: the miss path
        self.nblocks = self.base.nblocks if self.base else 1
        self.buckets = self.base.offsets if self.base else np.zeros(2, np.uint32)
        self.adds: _Table | None = None
        self.removes = np.empty(0, U64)
        if overlay_dir is not None:
            manifest = msgpack.unpackb((overlay_dir / "manifest.msgpack").read_bytes())
            self.adds = _Table(overlay_dir, "add_", manifest, fp_in_ram=True)
            self.removes = np.fromfile(overlay_dir / "removes.u64", dtype=U64)
        self._filter_words = memoryview(self.filter)  # type: ignore[arg-type]
        self._bucket_offsets = memoryview(self.buckets)  # type: ignore[arg-type]

    @property
    def installed(self) -> Installed | None:
        """Identity and dates of the list this view answers for, or None when nothing is installed."""
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
        """Entries the deltas added or removed since the base (compaction starts above a limit)."""
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


class HitListStore:
    """A gate's hit-list in ``state_dir``, trusting the pinned root key ``root_pub``.

    Implements agent.hitlist.api.HitList. ``install`` and ``accept_head`` raise HitListRejected
    with the installed list unchanged; lookups of malformed identifiers raise BadDataError."""

    def __init__(
        self,
        state_dir: str | os.PathLike,
        root_pub: bytes,
        *,
        limits: Limits = DEFAULT_LIMITS,
        max_staleness: float = 3600.0,
    ) -> None:
        self.dir = Path(state_dir)
        self.limits, self.max_staleness = limits, max_staleness
        self._pinned = Keyring.pinned(root_pub)
        self._lock = threading.RLock()
        self._steps, self._crash_at = 0, int(os.environ.get(CRASH_ENV, "0") or 0)
        for sub in ("states", "bases", "overlays"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self._current = ""
        self._hash_pool: ThreadPoolExecutor | None = None  # person fingerprints on every core
        self._upgrade_layout()
        self._view = self._load()
        self._head: dict | None = self._load_head()
        with contextlib.suppress(BlockingIOError), self._flock(blocking=False):
            self.refresh()
            self._collect_garbage()

    # --- HitList -------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Version of the list in force (0: none installed)."""
        state = self._view.state
        return state.identity.version if state else 0

    @property
    def list_id(self) -> str | None:
        """Id of the list in force; None when no list is installed."""
        state = self._view.state
        return state.identity.list_id if state else None

    @property
    def identity(self) -> tuple[str, int, int, bytes] | None:
        """(list_id, epoch, version, state_hash) of the list in force, or None."""
        state = self._view.state
        return state.identity.as_tuple() if state else None

    @property
    def keyring(self) -> Keyring:
        """The root-signed keyring in force (list and command keys, revocations)."""
        return self._view.keyring

    @property
    def keyring_version(self) -> int:
        """Version of the root-signed keyring in force (0: only the pinned root)."""
        return self._view.keyring.version

    def view(self) -> ListView:
        """The immutable state in force (identity and lookups from one consistent list)."""
        return self._view

    def lookup_document(self, issuing_state: str, document_number: str) -> Hit | None:
        """Raises BadDataError on a malformed state or number."""
        return self._lookup_fp("document", lambda k: document_fingerprint(k, issuing_state, document_number))

    def lookup_vehicle(self, vin: str) -> Hit | None:
        """The entry for this VIN, or None."""
        return self._lookup_fp("vehicle", lambda k: vehicle_fingerprint(k, vin))

    def lookup_person(
        self, surname: str, given_names: str, birth_date: str, *, truncated: bool = False
    ) -> Hit | None:
        """Any query name key x birth date listed: exact hits win over weak ones.

        A list built with another name normaliser version cannot be searched by name: every person
        lookup then answers a weak hit (REFER), per NAMES.md point 1."""
        view = self._view
        if view.state is None:
            return None
        if view.state.name_key_version != names.NORMALISER_VERSION:
            return Hit("person", "normaliser_mismatch", "", "weak")
        queries = names.query_name_keys(surname, given_names, truncated=truncated)
        fingerprints = self._person_fingerprints(view.state.fp_keys, [key for key, _ in queries], birth_date)
        weak = None
        for (_key, strength), fp in zip(queries, fingerprints, strict=True):
            found = view.find(fp)
            if found is not None:
                hit = Hit("person", found[0], found[1], strength)
                if strength == "exact":
                    return hit
                weak = weak or hit
        return weak

    def _person_fingerprints(self, fp_keys: FingerprintKeys, name_keys: list[str], birth_date: str) -> list[int]:
        """One traveller's slow person fingerprints, computed on every core: PBKDF2 releases the GIL, so
        the 10-30 name keys of a traveller cost about keys / cores times one key (docs/hitlist.md)."""
        with self._lock:
            if self._hash_pool is None:
                self._hash_pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="hitlist-person")
            pool = self._hash_pool
        return list(pool.map(lambda key: person_fingerprint(fp_keys, key, birth_date), name_keys))

    def _lookup_fp(self, kind: str, fingerprint) -> Hit | None:
        view = self._view
        if view.state is None:
            return None
        found = view.find(fingerprint(view.state.fp_keys))
        return None if found is None else Hit(kind, *found)

    def is_stale(self, now: float) -> bool:
        """True when no valid head vouches for the list at ``now`` (RELIABILITY 7, 8)."""
        return self.stale_reason(now) is not None

    def stale_reason(self, now: float) -> str | None:
        """Why the list in force is not fresh at ``now`` (RELIABILITY 7, 8), or None when fresh."""
        state, head = self._view.state, self._head
        if state is None:
            return "no list installed"
        if now >= state.expires:
            return f"list v{state.identity.version} expired"
        if head is None:
            return "no head received"
        if (head["epoch"], head["version"], head["state_hash"]) != (
            state.identity.epoch, state.identity.version, state.identity.state_hash
        ):  # fmt: skip
            return (
                f"head names v{head['version']} (epoch {head['epoch']}), installed v{state.identity.version}"
            )
        if now >= head["expires"]:
            return "head expired"
        if now - head["issued"] > self.max_staleness:
            return f"last head older than {self.max_staleness:.0f} s"
        return None

    def status(self, now: float) -> dict:
        """Identity, head, freshness and sizes of the list in force, for status and ``hitlist status``."""
        view, state = self._view, self._view.state
        out: dict = {
            "installed": state is not None,
            "stale": self.is_stale(now),
            "stale_reason": self.stale_reason(now),
        }
        out["keyring_version"], out["epoch_keyring"] = view.keyring.version, view.keyring.epoch
        if state is not None:
            i = state.identity
            out.update(
                list_id=i.list_id, epoch=i.epoch, version=i.version, state_hash=i.state_hash.hex(),
                count=state.sum.count, overlay_entries=view.overlay_size, created=state.created,
                expires=state.expires, name_key_version=state.name_key_version,
                names_usable=state.name_key_version == names.NORMALISER_VERSION,
            )  # fmt: skip
        if self._head is not None:
            out["head"] = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in self._head.items()}
        return out

    # --- installation --------------------------------------------------------------------------

    def install(self, blob, *, now: float) -> Identity:
        """Verify and install a snapshot, delta or keyring; return the identity now in force.

        Raises HitListRejected (``.reason``, ``.resync``) with the installed list unchanged."""
        with self._lock, self._flock():
            self.refresh()
            if len(blob) >= 6 and unpack_frame(blob, self.limits).kind == "keyring":
                return self._install_keyring(blob)
            verified = verify_list(
                blob, keyring=self._view.keyring, installed=self._view.installed, now=now, limits=self.limits
            )
            if verified.meta.kind == "snapshot":
                identity = self._install_snapshot(verified)
            else:
                identity = self._install_delta(verified)
            logger.info(
                "hit-list %s v%d installed (%s)", identity.list_id, identity.version, verified.meta.kind
            )
            return identity

    def accept_head(self, blob, *, now: float) -> Head:
        """Accept a freshness head for the installed list and return it. Raises HitListRejected
        (wrong_list_id, rollback for a head older than the last one, and every signature/expiry reason)."""
        with self._lock, self._flock():
            self.refresh()
            head = verify_head(blob, keyring=self._view.keyring, now=now, limits=self.limits)
            state = self._view.state
            if state is None:
                raise HitListRejected("base_mismatch", "a head but no list installed", resync=True)
            if head.list_id != state.identity.list_id:
                raise HitListRejected(
                    "wrong_list_id", f"head for {head.list_id!r}, installed {state.identity.list_id!r}"
                )
            if (head.epoch, head.version) < (state.identity.epoch, state.identity.version):
                raise HitListRejected(
                    "rollback", f"head names v{head.version}, older than installed v{state.identity.version}"
                )
            if self._head is not None and head.issued < self._head["issued"]:
                raise HitListRejected(
                    "rollback",
                    f"head issued {head.issued:.0f}, before the last accepted {self._head['issued']:.0f}",
                )
            record = {"list_id": head.list_id, "epoch": head.epoch, "version": head.version,
                      "state_hash": head.state_hash, "issued": head.issued, "expires": head.expires}  # fmt: skip
            self._replace_durable(self.dir / "head.msgpack", msgpack.packb(record))
            self._head = record
            return head

    def verify(self) -> dict:
        """Re-read the whole installed list: the base files against the digests written with them,
        and base sum - removals + additions against the signed state hash."""
        view = self._view
        if view.state is None:
            return {"ok": True, "installed": False}
        total, ok = StateSum.zero(), True
        if view.base is not None and view.base_dir is not None:
            ok = view.base.digests_ok(view.base_dir) and bool(np.all(view.base_positions(view.removes) >= 0))
            total = view.base.full_sum.remove(view.removed_from_base()) if ok else total
        if view.adds is not None:
            total = total.add(view.adds.entries)
        ok = ok and total.digest() == view.state.identity.state_hash
        return {"ok": ok, "installed": True, "count": total.count, "state_hash": total.digest().hex()}

    def compact(self) -> None:
        """Fold the overlay into a new base (same identity), streaming the base in chunks; lookups
        keep using the old view meanwhile."""
        with self._lock, self._flock():
            self.refresh()
            view = self._view
            if view.state is None or view.overlay_dir is None or view.base is None:
                return
            base = self._compact_base(view.base, view, view.state.sum)
            self._switch(view.state, view.keyring, base, None)

    def _compact_base(self, base: _Base, view: ListView, full_sum: StateSum) -> Path:
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
            for lo in range(0, max(base.count, 1), COMPACT_CHUNK):
                hi = min(base.count, lo + COMPACT_CHUNK)
                keep = np.ones(hi - lo, bool)
                keep[drop[np.searchsorted(drop, lo) : np.searchsorted(drop, hi)] - lo] = False
                reason, ref = base.codec.decode(np.asarray(base.payload[lo:hi])[keep])
                fp = q.fingerprints(base.offsets, np.asarray(base.rem[lo:hi]), lo)[keep]
                bound = q.fingerprints(base.offsets, np.asarray(base.rem[hi : hi + 1]), hi)
                a_hi = int(adds.fp.searchsorted(bound[0])) if len(bound) else len(adds)
                yield merge_entries(Entries(fp, reason, ref, base.reasons), adds.part(a_lo, a_hi))
                a_lo = a_hi

        return self._write_table(
            self._base_dir_name(view.state.identity.version if view.state else 0),
            n, chunks, reasons, width, quotient, codec, bloom, full_sum,
        )  # fmt: skip

    def compact_in_background(self) -> threading.Thread:
        """Start `compact` in a daemon thread; lookups go on meanwhile."""
        thread = threading.Thread(target=self.compact, name="hitlist-compact", daemon=True)
        thread.start()
        return thread

    def _install_keyring(self, blob) -> Identity:
        keyring = verify_keyring(bytes(blob), self._view.keyring, self.limits)
        view = self._view
        self._switch(view.state, keyring, view.base_dir, view.overlay_dir)
        return view.state.identity if view.state else Identity("", keyring.epoch, 0, b"")

    def _install_snapshot(self, v: VerifiedList) -> Identity:
        total = StateSum.of(v.entries)
        if total.digest() != v.meta.state_hash:
            raise HitListRejected(
                "state_hash", f"snapshot v{v.meta.version} entries do not give the signed state hash"
            )
        base = self._write_base(v.entries, v.meta.version, full_sum=total)
        self._switch(self._list_state(v, total), v.keyring, base, None)
        return v.meta.identity

    def _install_delta(self, v: VerifiedList) -> Identity:
        view = self._view
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
        overlay = self._write_overlay(new_adds, new_removes, v.meta.version)
        self._switch(self._list_state(v, total), v.keyring, view.base_dir, overlay)
        if self._view.overlay_size > self.limits.max_overlay_entries:
            self.compact_in_background()
        return v.meta.identity

    @staticmethod
    def _list_state(v: VerifiedList, total: StateSum) -> ListState:
        m = v.meta
        return ListState(m.identity, m.chain, total, m.created, m.expires, m.name_key_version, m.fp_keys)

    # --- durable writes ------------------------------------------------------------------------

    def _step(self, label: str) -> None:
        """Crash-injection point (test hook CRASH_ENV): the installer SIGKILLs itself at step k."""
        self._steps += 1
        if self._steps == self._crash_at:
            logger.debug("crash hook: SIGKILL at step %d (%s)", self._steps, label)
            os.kill(os.getpid(), signal.SIGKILL)

    def _write_durable(self, path: Path, chunks: Iterable) -> None:
        with open(path, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                self._step(f"write {path}")
            f.flush()
            os.fsync(f.fileno())
        self._step(f"fsync {path}")

    def _fsync_dir(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._step(f"fsync dir {path}")

    def _replace_durable(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        self._write_durable(tmp, [data])
        os.replace(tmp, path)
        self._step(f"rename {path}")
        self._fsync_dir(path.parent)

    def _write_arrays(
        self,
        directory: Path,
        arrays: Mapping[str, np.ndarray | Callable[[], Iterable]],
        manifest: Callable[[], dict],
    ) -> Path:
        """Write a directory of files (arrays, or callables giving chunk streams, in order), then
        ``manifest()``; fsync everything and rename it into place."""
        tmp = directory.with_name(directory.name + ".tmp")
        tmp.mkdir()
        for name, arr in arrays.items():
            self._write_durable(tmp / name, _chunks(arr) if isinstance(arr, np.ndarray) else arr())
        self._write_durable(tmp / "manifest.msgpack", [msgpack.packb(manifest())])
        self._fsync_dir(tmp)
        os.replace(tmp, directory)
        self._step(f"rename {directory}")
        self._fsync_dir(directory.parent)
        return directory

    def _base_dir_name(self, version: int) -> Path:
        return self.dir / "bases" / f"{version:010d}-{secrets.token_hex(4)}"

    def _write_base(self, entries: Entries, version: int, *, full_sum: StateSum | None = None) -> Path:
        """Write a base table from whole-fingerprint ``entries`` (a snapshot)."""
        n = len(entries)

        def chunks() -> Iterator[Entries]:
            for lo in range(0, n, COMPACT_CHUNK):
                yield entries.part(lo, lo + COMPACT_CHUNK)

        return self._write_table(
            self._base_dir_name(version), n, chunks, entries.reasons, entries.ref.shape[1],
            Quotient.for_count(n), Codec.fit(entries), None, full_sum or StateSum.of(entries),
        )  # fmt: skip

    def _write_table(
        self,
        directory: Path,
        n: int,
        chunks: Callable[[], Iterator[Entries]],
        reasons: tuple[str, ...],
        width: int,
        quotient: Quotient,
        codec: Codec,
        bloom: tuple[int, np.ndarray] | None,
        full_sum: StateSum,
    ) -> Path:
        """Stream sorted entry ``chunks`` (called twice: remainders, then packed reason/ref) into a
        base directory. ``bloom`` (blocks, words) is a finished filter; None builds one on the way."""
        nblocks, words = bloom if bloom is not None else (bloom_blocks(n), np.zeros(bloom_blocks(n) * 8, U64))
        counts = np.zeros(1 << quotient.bits, np.int64)
        digests = {name: hashlib.blake2b(digest_size=32) for name in _Base.FILES}

        def remainders() -> Iterator[bytes | memoryview]:
            for part in chunks():
                if bloom is None:
                    build_bloom(part.fp, nblocks, words)
                fp = np.asarray(part.fp, U64)
                bucket = (
                    (fp >> U64(64 - quotient.bits)).astype(np.int64)
                    if quotient.bits
                    else np.zeros(len(fp), int)
                )
                counts[:] += np.bincount(bucket, minlength=len(counts))
                yield from _hashed(quotient.remainders(fp), digests["rem.bin"])

        def payload() -> Iterator[bytes | memoryview]:
            for part in chunks():
                yield from _hashed(codec.encode(part), digests["payload.bin"])

        def offsets() -> np.ndarray:
            return np.concatenate([[0], np.cumsum(counts)]).astype(np.uint32 if n < (1 << 32) else np.uint64)

        manifest = lambda: {  # noqa: E731
            "count": n, "reasons": list(reasons), "ref_width": width, "bloom_blocks": nblocks,
            "bucket_bits": quotient.bits, "rem_dtype": quotient.dtype, "offsets_dtype": offsets().dtype.str,
            "alphabets": list(codec.alphabets), "full_sum": full_sum.to_wire(),
            "digests": {name: h.hexdigest() for name, h in digests.items()}, "layout": BASE_LAYOUT,
        }  # fmt: skip
        files = {"rem.bin": remainders, "payload.bin": payload, "offsets.bin": lambda: _chunks(offsets())}
        return self._write_arrays(directory, {**files, "filter.u64": lambda: _chunks(words)}, manifest)

    def _write_overlay(self, adds: Entries, removes: np.ndarray, version: int) -> Path:
        manifest = {"add_count": len(adds), "reasons": list(adds.reasons), "ref_width": adds.ref.shape[1]}
        arrays = {
            "add_fp.u64": adds.fp,
            "add_reason.u8": adds.reason,
            "add_ref.bin": adds.ref,
            "removes.u64": removes,
        }
        return self._write_arrays(
            self.dir / "overlays" / f"{version:010d}-{secrets.token_hex(4)}", arrays, lambda: manifest
        )

    def _switch(
        self, state: ListState | None, keyring: Keyring, base: Path | None, overlay: Path | None
    ) -> None:
        """Write the new state record, then switch CURRENT to it: the single commit point."""
        seq = int(self._current.split("/")[-1].split(".")[0]) + 1 if self._current else 1
        record = {
            "list": state.to_wire() if state else None,
            "keyring": keyring.blob,
            "base": base.name if base else None,
            "overlay": overlay.name if overlay else None,
        }
        name = f"states/{seq:08d}.msgpack"
        self._replace_durable(self.dir / name, msgpack.packb(record))
        self._replace_durable(self.dir / "CURRENT", name.encode())
        self._current = name
        self._view = ListView(state, keyring, base, overlay)
        self._collect_garbage()

    # --- loading -------------------------------------------------------------------------------

    def _load(self) -> ListView:
        current = self.dir / "CURRENT"
        if not current.exists():
            self._current = ""
            return ListView(None, self._pinned, None, None)
        name = current.read_text().strip()
        record = msgpack.unpackb((self.dir / name).read_bytes())
        keyring = self._pinned
        if record["keyring"]:
            keyring = _replay_keyring(record["keyring"], self._pinned, self.limits)
        self._current = name
        state = ListState.from_wire(record["list"]) if record["list"] else None
        base = self.dir / "bases" / record["base"] if record["base"] else None
        overlay = self.dir / "overlays" / record["overlay"] if record["overlay"] else None
        return ListView(state, keyring, base, overlay)

    def _upgrade_layout(self, *, locked: bool = False) -> None:
        """Rewrite a base of layout 1 (whole fingerprints, reasons and refs) in the current layout,
        as an installation would: new files, new state record, CURRENT switched, old files removed.
        Takes the writer lock only when there is something to rewrite."""
        current = self.dir / "CURRENT"
        if not current.exists():
            return
        name = current.read_text().strip()
        record = msgpack.unpackb((self.dir / name).read_bytes())
        if not record["base"]:
            return
        old = self.dir / "bases" / record["base"]
        manifest = msgpack.unpackb((old / "manifest.msgpack").read_bytes())
        if manifest.get("layout", BASE_LAYOUT if "rem_dtype" in manifest else 1) != 1:
            return
        if not locked:
            with self._flock():
                return self._upgrade_layout(locked=True)
        n, width = manifest["count"], manifest["ref_width"]
        entries = Entries(
            _map(old / "fp.u64", U64, (n,)), _map(old / "reason.u8", np.uint8, (n,)),
            _map(old / "ref.bin", np.uint8, (n, width)), tuple(manifest["reasons"]),
        )  # fmt: skip
        logger.info("hit-list base %s: rewriting %d entries in layout %d", old.name, n, BASE_LAYOUT)
        base = self._write_base(entries, int(old.name.split("-")[0]))
        keyring = (
            _replay_keyring(record["keyring"], self._pinned, self.limits)
            if record["keyring"]
            else self._pinned
        )
        overlay = self.dir / "overlays" / record["overlay"] if record["overlay"] else None
        self._current = name
        self._switch(ListState.from_wire(record["list"]) if record["list"] else None, keyring, base, overlay)

    def refresh(self) -> None:
        """Pick up a list another process (e.g. `sharaka-gate hitlist install`) installed in the same state directory."""
        current = self.dir / "CURRENT"
        name = current.read_text().strip() if current.exists() else ""
        if name != self._current:
            self._view = self._load()
            self._head = self._load_head()

    def _load_head(self) -> dict | None:
        path = self.dir / "head.msgpack"
        return msgpack.unpackb(path.read_bytes()) if path.exists() else None

    @contextlib.contextmanager
    def _flock(self, *, blocking: bool = True) -> Iterator[None]:
        """Exclusive writer lock across processes (an agent and a technician's CLI)."""
        with open(self.dir / "lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _collect_garbage(self) -> None:
        """Remove files no state in force refers to (left by a finished or interrupted install)."""
        keep = {self._current.split("/")[-1]}
        view = self._view
        keep |= {p.name for p in (view.base_dir, view.overlay_dir) if p is not None}
        for sub in ("states", "bases", "overlays"):
            for path in (self.dir / sub).iterdir():
                if path.name not in keep:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                    self._step(f"remove {path}")
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink()


def _replay_keyring(blob: bytes, pinned: Keyring, limits: Limits) -> Keyring:
    """Rebuild the stored keyring object. The stored blob was verified as a successor chain when it
    was installed; here we re-verify its signatures only against its own root keys (trusted state)."""
    frame = unpack_frame(blob, limits)
    meta = msgpack.unpackb(frame.signed, raw=False)
    trusted = Keyring(
        meta["version"] - 1, tuple(meta["root_keys"]), meta["threshold"], pinned.epoch, {}, frozenset(), b""
    )
    try:
        return verify_keyring(blob, trusted, limits)
    except HitListRejected as exc:
        raise BadDataError(f"stored keyring in the state directory is corrupt: {exc}")


def _hashed(arr: np.ndarray, h) -> Iterator[bytes | memoryview]:
    for chunk in _chunks(arr):
        h.update(chunk)
        yield chunk


def _chunks(arr: np.ndarray) -> Iterator[bytes | memoryview]:
    if arr.size == 0:
        yield b""
        return
    view = memoryview(np.ascontiguousarray(arr)).cast("B")  # type: ignore[arg-type]
    for lo in range(0, len(view), WRITE_CHUNK):
        yield view[lo : lo + WRITE_CHUNK]
