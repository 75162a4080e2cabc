"""Central side: records -> fingerprinted entries -> signed snapshots, deltas, heads and keyrings
(used by `sharaka-hitlist`, the reference central node, tests and the bench)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import msgpack
import numpy as np
from nacl.signing import SigningKey

from agent.errors import BadDataError
from agent.hitlist import names
from agent.hitlist.fingerprint import (
    FingerprintKeys,
    document_fingerprint,
    normalise_birth_date,
    person_fingerprint,
    plate_fingerprint,
    vehicle_fingerprint,
)
from agent.hitlist.format import content_hash, pack, unpack_frame
from agent.hitlist.limits import DEFAULT_LIMITS, Limits
from agent.hitlist.table import U64, Entries, StateSum, contains_sorted, encode_refs, ref_width
from agent.hitlist.verify import ListMeta, parse_list_meta
from agent.keys import list_key_id
from agent.protocol.ids import check_id

ZERO32 = bytes(32)
# PBKDF2 iterations per person key: what fits the gate's swipe-to-indicator budget (p99 <= 5 ms with up to
# ~64 name keys per traveller on 2 cores), not what stops an attacker (docs/hitlist.md "Privacy")
DEFAULT_PERSON_COST = 150


def new_fingerprint_keys(person_cost: int = DEFAULT_PERSON_COST) -> FingerprintKeys:
    """Fresh random fingerprint keys for a new list chain (rotated with each snapshot). Raises BadDataError
    for a ``person_cost`` gates would refuse (FingerprintKeys.from_wire)."""
    return FingerprintKeys.from_wire({"doc": os.urandom(32), "person": os.urandom(32), "person_cost": person_cost})


class RecordFieldError(BadDataError):
    """A record refused for one of its fields: ``field`` is ``document`` (issuing state and number), ``name``
    (surname and given names), ``birth_date``, ``vin`` or ``plate`` (plate and country), so a form can say which
    of its fields to correct in the operator's language; ``str()`` is the English detail, naming the value."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


@contextlib.contextmanager
def _field(name: str) -> Iterator[None]:
    """A BadDataError raised inside as a RecordFieldError naming ``name``."""
    try:
        yield
    except BadDataError as exc:
        raise RecordFieldError(name, str(exc)) from None


def record_fingerprints(record: dict, keys: FingerprintKeys) -> list[int]:
    """Fingerprints one record contributes: the one check of a listed record's fields (lists, alerts from the
    command line and the console). Raises RecordFieldError naming the record's bad field, BadDataError for an
    unknown kind."""
    kind = record.get("kind")
    if kind == "document":
        with _field("document"):
            return [document_fingerprint(keys, str(record.get("issuing_state", "")),
                                         str(record.get("document_number", "")))]
    if kind == "vehicle":  # by VIN, by plate (with its country), or both
        with _field("vin"):
            fps = [vehicle_fingerprint(keys, str(record["vin"]))] if record.get("vin") else []
        if record.get("plate") or not fps:
            with _field("plate"):
                fps.append(plate_fingerprint(keys, str(record.get("country", "")), str(record.get("plate", ""))))
        return fps
    if kind == "person":
        with _field("name"):
            name_keys = names.record_name_keys(str(record.get("surname", "")), str(record.get("given_names", "")))
        with _field("birth_date"):
            birth = normalise_birth_date(str(record.get("birth_date", "")))
        return [person_fingerprint(keys, k, birth) for k in dict.fromkeys(name_keys)]
    raise BadDataError(f"record kind {kind!r}: expected 'document', 'person' or 'vehicle'")


def entries_from_records(
    records: Iterable[dict],
    keys: FingerprintKeys,
    *,
    limits: Limits = DEFAULT_LIMITS,
    progress: Callable[[int], None] | None = None,
) -> Entries:
    """Sorted, de-duplicated entries (the first record wins a fingerprint collision)."""
    fps: list[int] = []
    reason_idx: list[int] = []
    refs: list[bytes] = []
    reasons: dict[str, int] = {}
    for n, record in enumerate(records, 1):
        reason, ref = str(record.get("reason", "")), str(record.get("ref", "")).encode()
        if not 0 < len(reason) <= limits.max_reason_chars:
            raise BadDataError(
                f"record {n}: reason {reason!r}: expected 1..{limits.max_reason_chars} characters"
            )
        if len(ref) > limits.max_ref_bytes or b"\0" in ref:
            raise BadDataError(
                f"record {n}: ref {ref!r:.60}: expected at most {limits.max_ref_bytes} bytes, no NUL"
            )
        if reason not in reasons:
            if len(reasons) >= limits.max_reasons:
                raise BadDataError(f"record {n}: more than {limits.max_reasons} distinct reasons")
            reasons[reason] = len(reasons)
        for fp in record_fingerprints(record, keys):
            fps.append(fp)
            reason_idx.append(reasons[reason])
            refs.append(ref)
        if progress and n % 100_000 == 0:
            progress(n)
    return make_entries(np.array(fps, U64), np.array(reason_idx, np.uint8), refs, tuple(reasons))


def make_entries(
    fp: np.ndarray, reason: np.ndarray, refs: list[bytes] | np.ndarray, reasons: tuple[str, ...]
) -> Entries:
    """Sort by fingerprint and keep the first of duplicates."""
    ref = (
        refs
        if isinstance(refs, np.ndarray)
        else encode_refs(refs, ref_width(max((len(r) for r in refs), default=0)))
    )
    order = np.argsort(fp, kind="stable")
    fp = fp[order]
    keep = np.r_[True, fp[1:] != fp[:-1]] if len(fp) else np.empty(0, bool)
    idx = order[keep]
    return Entries(fp[keep], reason[idx], ref[idx], reasons)


@dataclass(frozen=True)
class Signer:
    """A list-signing key and the keyring that certifies it (embedded in every file it signs)."""

    key: SigningKey
    keyring: bytes
    epoch: int

    @property
    def keyring_version(self) -> int:
        """Version of the keyring that certifies ``key`` (named in every head, so gates fetch newer ones)."""
        return int(msgpack.unpackb(unpack_frame(self.keyring, DEFAULT_LIMITS).signed, raw=False)["version"])


def _body(entries: Entries, removes: np.ndarray | None = None) -> bytes:
    parts = [
        entries.fp.astype("<u8").tobytes(),
        entries.reason.tobytes(),
        np.ascontiguousarray(entries.ref).tobytes(),
    ]
    if removes is not None:
        parts.append(removes.astype("<u8").tobytes())
    return b"".join(parts)


def sign_list(kind: str, fields: dict, body: bytes, signer: Signer) -> bytes:
    """A signed list file of ``kind`` (snapshot or delta): ``fields`` and the body's hash, signed by ``signer``."""
    fields = {
        **fields,
        "type": kind,
        "content_hash": content_hash(body),
        "key_id": list_key_id(signer.key.verify_key),
    }
    return pack(kind, msgpack.packb(fields, use_bin_type=True), [signer.key], body, signer.keyring)


def build_snapshot(
    entries: Entries,
    *,
    signer: Signer,
    list_id: str,
    version: int,
    fp_keys: FingerprintKeys,
    created: float,
    expires: float,
    previous: ListMeta | None = None,
    persons: bool = True,
) -> bytes:
    """A signed snapshot. ``previous`` (the metadata of version N-1) links the hash chain; ``persons``: whether
    ``entries`` may hold person entries (False lets gates skip the person keys for this list).

    Raises BadDataError for a list id a gate could not follow (agent.protocol.ids), a negative version, or a
    ``previous`` of another list or not older (gates refuse such a chain: another list, or a rollback)."""
    check_id(list_id, "list id")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**63:
        raise BadDataError(f"list version {version!r}: expected an integer 0 <= n < 2**63")
    if previous is not None and (previous.list_id != list_id or previous.version >= version):
        raise BadDataError(f"base {previous.list_id!r} v{previous.version}: a snapshot chained from it is a newer "
                           f"version of the same list, not {list_id!r} v{version}")
    fields = {
        "list_id": list_id,
        "epoch": signer.epoch,
        "version": version,
        "base_version": previous.version if previous else 0,
        "base_state_hash": ZERO32,
        "base_chain": ZERO32,
        "prev_hash": previous.chain if previous else ZERO32,
        "created": created,
        "expires": expires,
        "count": len(entries),
        "adds": 0,
        "removes": 0,
        "name_key_version": names.NORMALISER_VERSION,
        "fp_keys": fp_keys.to_wire(),
        "reasons": list(entries.reasons),
        "ref_width": entries.ref.shape[1],
        "state_hash": StateSum.of(entries).digest(),
        "persons": persons,
    }
    return sign_list("snapshot", fields, _body(entries), signer)


def read_list(blob, limits: Limits = DEFAULT_LIMITS) -> tuple[ListMeta, Entries, np.ndarray]:
    """Parse a list file the builder itself wrote (no trust decision: use verify_list on a gate)."""
    from agent.hitlist.verify import _parse_body

    frame = unpack_frame(blob, limits)
    meta = parse_list_meta(msgpack.unpackb(frame.signed, raw=False), frame.kind, limits)
    entries, removes = _parse_body(frame.body, meta)
    return meta, entries, removes


def diff_entries(old: Entries, new: Entries) -> tuple[Entries, np.ndarray]:
    """(additions, removals) turning ``old`` into ``new``; a changed reason or ref is both."""
    reasons = tuple(dict.fromkeys(new.reasons + old.reasons))
    width = max(old.ref.shape[1], new.ref.shape[1])
    old_u, new_u = old.with_reasons(reasons).with_width(width), new.with_reasons(reasons).with_width(width)
    same = np.zeros(len(new), bool)
    if len(old):
        pos = np.minimum(np.searchsorted(old.fp, new.fp), len(old) - 1)
        same = old.fp[pos] == new.fp
        idx = np.flatnonzero(same)
        same[idx] = (old_u.reason[pos[idx]] == new_u.reason[idx]) & np.all(
            old_u.ref[pos[idx]] == new_u.ref[idx], axis=1
        )
    adds = new.take(np.flatnonzero(~same))
    removes = old.fp[~contains_sorted(new.fp[same], old.fp)]
    return adds, removes


def build_delta(
    old_blob, new_blob, *, signer: Signer, created: float, limits: Limits = DEFAULT_LIMITS
) -> bytes:
    """A signed delta from snapshot ``old_blob`` to snapshot ``new_blob`` (same list, epoch and keys).

    Raises BadDataError when the two snapshots cannot be linked by a delta."""
    old, old_entries, _ = read_list(old_blob, limits)
    new, new_entries, _ = read_list(new_blob, limits)
    if (old.kind, new.kind) != ("snapshot", "snapshot"):
        raise BadDataError(f"delta needs two snapshots, got {old.kind} and {new.kind}")
    if old.list_id != new.list_id or old.fp_keys != new.fp_keys or new.version <= old.version:
        raise BadDataError(
            f"snapshots {old.list_id!r} v{old.version} and {new.list_id!r} v{new.version}: a delta needs the same "
            "list id and fingerprint keys and a newer target (ship the snapshot after a key rotation)"
        )
    adds, removes = diff_entries(old_entries, new_entries)
    fields = {
        "list_id": new.list_id,
        "epoch": signer.epoch,
        "version": new.version,
        "base_version": old.version,
        "base_state_hash": old.state_hash,
        "base_chain": old.chain,
        "prev_hash": new.prev_hash,
        "created": created,
        "expires": new.expires,
        "count": new.count,
        "adds": len(adds),
        "removes": len(removes),
        "name_key_version": new.name_key_version,
        "fp_keys": new.fp_keys.to_wire(),
        "reasons": list(adds.reasons),
        "ref_width": adds.ref.shape[1],
        "state_hash": new.state_hash,
        "persons": new.persons,
    }
    return sign_list("delta", fields, _body(adds, removes), signer)


def build_head(meta: ListMeta, *, signer: Signer, issued: float, expires: float) -> bytes:
    """A short-lived signed head saying ``meta``'s version is the current one."""
    fields = {
        "type": "head",
        "list_id": meta.list_id,
        "epoch": meta.epoch,
        "version": meta.version,
        "state_hash": meta.state_hash,
        "issued": issued,
        "expires": expires,
        "keyring": signer.keyring_version,
    }
    return pack("head", msgpack.packb(fields, use_bin_type=True), [signer.key], b"", None)


def build_keyring(
    *,
    version: int,
    root_keys: list[bytes],
    threshold: int,
    epoch: int,
    grants: list[dict],
    revoked: list[str],
    signers: list[SigningKey],
) -> bytes:
    """A keyring signed by ``signers`` (for a root rotation: enough old *and* new root keys).

    ``grants``: ``{"pub": bytes, "roles": [...], "not_before": t, "not_after": t}``."""
    fields = {
        "type": "keyring",
        "version": version,
        "root_keys": root_keys,
        "threshold": threshold,
        "epoch": epoch,
        "keys": grants,
        "revoked": revoked,
    }
    return pack("keyring", msgpack.packb(fields, use_bin_type=True), signers)
