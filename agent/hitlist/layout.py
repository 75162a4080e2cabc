"""The hit-list store's files (docs/hitlist.md "Store layout"): reading and writing them.

    state_dir/CURRENT                    name of the state record in force (switched by rename)
    state_dir/states/NNNNNNNN.msgpack    list identity, state sum, keyring, base and overlay names
    state_dir/bases/NAME/                immutable table: rem.bin (quotiented fingerprints, sorted),
                                         offsets.bin (bucket offsets, RAM), payload.bin (packed reason
                                         and ref), filter.u64 (split-block Bloom, RAM), manifest.msgpack
    state_dir/overlays/NAME/             immutable delta overlay: adds and removals since the base
    state_dir/head.msgpack               last accepted freshness head

Every file is written through ``agent.durable`` (full writes, fsync, rename, directory fsync); a
directory is written under ``NAME.tmp`` and renamed into place whole.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import msgpack
import numpy as np

from agent.durable import Step, durable_replace, fsync_dir, write_file
from agent.errors import BadDataError
from agent.hitlist.errors import HitListRejected
from agent.hitlist.fingerprint import FingerprintKeys
from agent.hitlist.format import unpack_frame
from agent.hitlist.limits import Limits
from agent.hitlist.table import U64, Codec, Entries, Quotient, StateSum, bloom_blocks, build_bloom
from agent.hitlist.trust import Keyring, verify_keyring
from agent.hitlist.verify import Identity

logger = logging.getLogger(__name__)

WRITE_CHUNK = 64 << 20
BASE_LAYOUT = 2  # 1: whole fp.u64, reason.u8, ref.bin (rewritten at start-up by agent.hitlist.migrate)
COMPACT_CHUNK = 1 << 22  # entries per step of a base write (bounds compaction memory)
FILE_MODE = 0o644  # the agent and a technician's CLI both read the store


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
    persons: bool = True  # the list may hold person entries (the signed metadata's ``persons``)

    def to_wire(self) -> dict:
        """The msgpack form kept in the state record."""
        i = self.identity
        return {
            "list_id": i.list_id, "epoch": i.epoch, "version": i.version, "state_hash": i.state_hash,
            "chain": self.chain, "sum": self.sum.to_wire(), "created": self.created, "expires": self.expires,
            "name_key_version": self.name_key_version, "fp_keys": self.fp_keys.to_wire(), "persons": self.persons,
        }  # fmt: skip

    @classmethod
    def from_wire(cls, w: dict) -> ListState:
        """Read back what ``to_wire`` wrote."""
        return cls(
            Identity(w["list_id"], w["epoch"], w["version"], w["state_hash"]),
            w["chain"], StateSum.from_wire(w["sum"]), w["created"], w["expires"], w["name_key_version"],
            FingerprintKeys.from_wire(w["fp_keys"]), w.get("persons", True),
        )  # fmt: skip


class OverlayTable:
    """Overlay entries memory-mapped from one directory (read-only); ``fp_in_ram`` loads the
    fingerprints (the overlay's, which every miss searches)."""

    def __init__(self, directory: Path, prefix: str, manifest: dict, *, fp_in_ram: bool = False) -> None:
        n, width = manifest[prefix + "count"], manifest["ref_width"]
        self.reasons: tuple[str, ...] = tuple(manifest["reasons"])
        fp_path = directory / f"{prefix}fp.u64"
        self.entries = Entries(
            np.fromfile(fp_path, dtype=U64) if fp_in_ram else map_array(fp_path, U64, (n,)),
            map_array(directory / f"{prefix}reason.u8", np.uint8, (n,)),
            map_array(directory / f"{prefix}ref.bin", np.uint8, (n, width)),
            self.reasons,
        )
        self.fp = self.entries.fp

    def __len__(self) -> int:
        return len(self.entries)


class BaseTable:
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
        self.rem = map_array(directory / "rem.bin", np.dtype(m["rem_dtype"]), (self.count,))
        self.payload = map_array(directory / "payload.bin", np.uint8, (self.count, self.codec.width))
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
        """(reason, ref) of the entry at position ``k``."""
        reason, ref = self.codec.decode_one(bytes(self.payload[k]))
        return self.reasons[reason], ref.rstrip(b"\0").decode("utf-8", "replace")

    def take(self, positions: np.ndarray, fps: np.ndarray) -> Entries:
        """Entries at ``positions`` with the (whole) fingerprints ``fps`` the caller knows."""
        reason, ref = self.codec.decode(np.asarray(self.payload[np.asarray(positions, np.int64)]))
        return Entries(np.asarray(fps, U64), reason, ref, self.reasons)

    def digests_ok(self, directory: Path) -> bool:
        """True when the memory-mapped files still hold what was written (the manifest's digests)."""
        return all(file_digest(directory / f) == self.manifest["digests"][f] for f in self.FILES)


def file_digest(path: Path) -> str:
    """BLAKE2b-256 of a file, read in chunks."""
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while chunk := f.read(WRITE_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def map_array(path: Path, dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only memory map of ``path`` (an empty array for no entries)."""
    if 0 in shape:
        return np.empty(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=shape)


class TableWriter:
    """Writes base tables and overlays under ``state_dir`` (``step`` is the crash-injection hook)."""

    def __init__(self, state_dir: Path, step: Step) -> None:
        self.dir = state_dir
        self.step = step

    def write_arrays(
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
            write_file(tmp / name, _chunks(arr) if isinstance(arr, np.ndarray) else arr(), mode=FILE_MODE, step=self.step)
        write_file(tmp / "manifest.msgpack", [msgpack.packb(manifest())], mode=FILE_MODE, step=self.step)
        fsync_dir(tmp, step=self.step)
        durable_replace(tmp, directory, step=self.step)
        return directory

    def base_dir_name(self, version: int) -> Path:
        """A new, unique base directory for list ``version``."""
        return self.dir / "bases" / f"{version:010d}-{secrets.token_hex(4)}"

    def write_base(self, entries: Entries, version: int, *, full_sum: StateSum | None = None) -> Path:
        """Write a base table from whole-fingerprint ``entries`` (a snapshot)."""
        n = len(entries)

        def chunks() -> Iterator[Entries]:
            for lo in range(0, n, COMPACT_CHUNK):
                yield entries.part(lo, lo + COMPACT_CHUNK)

        return self.write_table(
            self.base_dir_name(version), n, chunks, entries.reasons, entries.ref.shape[1],
            Quotient.for_count(n), Codec.fit(entries), None, full_sum or StateSum.of(entries),
        )  # fmt: skip

    def write_table(
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
        digests = {name: hashlib.blake2b(digest_size=32) for name in BaseTable.FILES}

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
        return self.write_arrays(directory, {**files, "filter.u64": lambda: _chunks(words)}, manifest)

    def write_overlay(self, adds: Entries, removes: np.ndarray, version: int) -> Path:
        """Write a delta overlay (additions and removals since the base) for list ``version``."""
        manifest = {"add_count": len(adds), "reasons": list(adds.reasons), "ref_width": adds.ref.shape[1]}
        arrays = {
            "add_fp.u64": adds.fp,
            "add_reason.u8": adds.reason,
            "add_ref.bin": adds.ref,
            "removes.u64": removes,
        }
        return self.write_arrays(
            self.dir / "overlays" / f"{version:010d}-{secrets.token_hex(4)}", arrays, lambda: manifest
        )


def replay_keyring(blob: bytes, pinned: Keyring, limits: Limits) -> Keyring:
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
