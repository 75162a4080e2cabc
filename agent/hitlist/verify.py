"""Pure verification of snapshots, deltas and heads: bytes and a reference time in, verified
objects out, or HitListRejected with a precise reason (docs/hitlist.md "Refusals").

Order: frame bounds -> keyring update (if embedded) -> key, role, validity, signature over the
exact signed bytes -> unpack metadata -> list id, epoch, version, base, chain, expiry -> body
length -> content hash -> arrays. Nothing is unpacked before its signature verified.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import msgpack
import numpy as np

from agent.hitlist.errors import HitListRejected
from agent.hitlist.fingerprint import FingerprintKeys
from agent.hitlist.format import HEADER, Frame, content_hash, unpack_frame, unpack_signed
from agent.hitlist.limits import Limits
from agent.hitlist.table import U64, Entries
from agent.hitlist.trust import Keyring, authorise, verify_keyring


@dataclass(frozen=True)
class Identity:
    """What a list is: two gates with the same identity answer every lookup the same way."""

    list_id: str
    epoch: int
    version: int
    state_hash: bytes

    def as_tuple(self) -> tuple[str, int, int, bytes]:
        """``(list_id, epoch, version, state_hash)``, as status and the link report it."""
        return (self.list_id, self.epoch, self.version, self.state_hash)


@dataclass(frozen=True)
class Installed:
    """What verification needs to know about the installed list."""

    identity: Identity
    chain: bytes
    fp_keys: FingerprintKeys


@dataclass(frozen=True)
class ListMeta:
    """Signed metadata of a snapshot or delta."""

    kind: str
    list_id: str
    epoch: int
    version: int
    base_version: int
    base_state_hash: bytes
    base_chain: bytes
    prev_hash: bytes
    created: float
    expires: float
    count: int
    adds: int
    removes: int
    content_hash: bytes
    key_id: str
    name_key_version: int
    fp_keys: FingerprintKeys
    reasons: tuple[str, ...]
    ref_width: int
    state_hash: bytes
    persons: bool = True  # the resulting list may hold person entries (absent in older lists: it may)

    @property
    def identity(self) -> Identity:
        """The list identity this metadata signs."""
        return Identity(self.list_id, self.epoch, self.version, self.state_hash)

    @property
    def chain(self) -> bytes:
        """Hash-chain link of this version, the same whether it arrived as a snapshot or a delta."""
        return chain_hash(self.list_id, self.epoch, self.version, self.state_hash, self.prev_hash)


def chain_hash(list_id: str, epoch: int, version: int, state_hash: bytes, prev_hash: bytes) -> bytes:
    """The hash linking a list version to the one before it."""
    record = msgpack.packb([list_id, epoch, version, state_hash, prev_hash], use_bin_type=True)
    return hashlib.blake2b(record, digest_size=32, person=b"sharaka-chain").digest()


@dataclass(frozen=True)
class VerifiedList:
    """A snapshot (``entries`` = the whole list) or delta (``entries`` = additions, ``removes``)."""

    meta: ListMeta
    keyring: Keyring
    entries: Entries
    removes: np.ndarray


@dataclass(frozen=True)
class Head:
    """A verified freshness statement about one list state."""

    list_id: str
    epoch: int
    version: int
    state_hash: bytes
    issued: float
    expires: float
    blob: bytes
    keyring_version: int = 0  # the centre's keyring when it signed (0: a head from before keyring delivery)


def _get(meta: dict, name: str, kind: type | tuple[type, ...]):
    value = meta.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise HitListRejected("malformed", f"metadata field {name!r} = {value!r:.60}: expected {kind}")
    return value


def _number(meta: dict, name: str, limits: Limits) -> int:
    """A signed version or epoch in ``0..limits.max_number``: a larger one installs, then fails every message
    that reports or requests it (status, hitlist_req: ``agent.protocol.schema``), for ever."""
    value = _get(meta, name, int)
    if not 0 <= value <= limits.max_number:
        raise HitListRejected("malformed", f"metadata field {name!r} = {value}: expected 0..{limits.max_number}")
    return value


def _time(meta: dict, name: str) -> float:
    """A signed time in seconds, finite: a NaN ``expires`` compares as never reached (a list never expired)."""
    value = float(_get(meta, name, (int, float)))
    if not math.isfinite(value):
        raise HitListRejected("malformed", f"metadata field {name!r} = {value!r}: expected a finite time")
    return value


def parse_list_meta(meta: dict, kind: str, limits: Limits) -> ListMeta:
    """Typed view of signed list metadata. Raises HitListRejected('malformed' / 'oversized')."""
    reasons = _get(meta, "reasons", list)
    if len(reasons) > limits.max_reasons or not all(
        isinstance(r, str) and 0 < len(r) <= limits.max_reason_chars for r in reasons
    ):
        raise HitListRejected(
            "malformed", f"reasons {reasons!r:.80}: expected <= {limits.max_reasons} short names"
        )
    list_id = _get(meta, "list_id", str)
    if not 0 < len(list_id) <= limits.max_list_id_chars:
        raise HitListRejected(
            "malformed", f"list id {list_id!r:.80}: expected 1..{limits.max_list_id_chars} characters"
        )
    width = _get(meta, "ref_width", int)
    if width % 8 or not 8 <= width <= (limits.max_ref_bytes + 7) // 8 * 8:
        raise HitListRejected(
            "malformed", f"ref_width {width}: expected a multiple of 8 up to {limits.max_ref_bytes}"
        )
    try:
        fp_keys = FingerprintKeys.from_wire(meta.get("fp_keys"))
    except ValueError as exc:
        raise HitListRejected("malformed", str(exc))
    hashes = {
        n: _get(meta, n, bytes)
        for n in ("base_state_hash", "base_chain", "prev_hash", "content_hash", "state_hash")
    }
    if any(len(h) != 32 for h in hashes.values()):
        raise HitListRejected("malformed", "metadata hashes must be 32 bytes")
    counts = {n: _get(meta, n, int) for n in ("count", "adds", "removes")}
    if counts["count"] > limits.max_entries:
        raise HitListRejected("oversized", f"{counts['count']} entries, limit {limits.max_entries}")
    if kind == "delta" and counts["adds"] + counts["removes"] > limits.max_delta_changes:
        raise HitListRejected(
            "oversized",
            f"delta of {counts['adds'] + counts['removes']} changes, limit {limits.max_delta_changes}",
        )
    if min(counts.values()) < 0:
        raise HitListRejected("malformed", f"negative count in {counts!r}")
    persons = meta.get("persons", True)
    if not isinstance(persons, bool):
        raise HitListRejected("malformed", f"persons {persons!r:.40}: expected true or false")
    return ListMeta(
        kind=kind,
        list_id=list_id,
        epoch=_number(meta, "epoch", limits),
        version=_number(meta, "version", limits),
        base_version=_number(meta, "base_version", limits),
        created=_time(meta, "created"),
        expires=_time(meta, "expires"),
        key_id=_get(meta, "key_id", str),
        name_key_version=_number(meta, "name_key_version", limits),
        fp_keys=fp_keys,
        reasons=tuple(reasons),
        ref_width=width,
        persons=persons,
        **hashes,
        **counts,
    )


def _sections(meta: ListMeta) -> list[tuple[str, int]]:
    n = meta.count if meta.kind == "snapshot" else meta.adds
    out = [("fp", 8 * n), ("reason", n), ("ref", n * meta.ref_width)]
    return out + ([("removes", 8 * meta.removes)] if meta.kind == "delta" else [])


def _parse_body(body: memoryview, meta: ListMeta) -> tuple[Entries, np.ndarray]:
    sections, pos = {}, 0
    for name, size in _sections(meta):
        sections[name] = body[pos : pos + size]
        pos += size
    n = len(sections["fp"]) // 8
    fp = np.frombuffer(sections["fp"], "<u8").view(U64)
    reason = np.frombuffer(sections["reason"], np.uint8)
    ref = np.frombuffer(sections["ref"], np.uint8).reshape(n, meta.ref_width)
    removes = (
        np.frombuffer(sections["removes"], "<u8").view(U64) if "removes" in sections else np.empty(0, U64)
    )
    for name, arr in (("fingerprints", fp), ("removals", removes)):
        if len(arr) > 1 and not bool(np.all(arr[1:] > arr[:-1])):
            raise HitListRejected("malformed", f"{name} are not strictly increasing")
    if n and int(reason.max()) >= len(meta.reasons):
        raise HitListRejected(
            "malformed", f"reason index {int(reason.max())} outside the table of {len(meta.reasons)}"
        )
    return Entries(fp, reason, ref, meta.reasons), removes


def _accept_keyring(frame: Frame, keyring: Keyring, limits: Limits) -> Keyring:
    """An embedded newer keyring is verified as a successor; an older or equal one is ignored."""
    if frame.keyring is None or frame.keyring == keyring.blob:
        return keyring
    try:
        return verify_keyring(frame.keyring, keyring, limits)
    except HitListRejected as exc:
        if exc.reason == "rollback":
            return keyring
        raise


def _verify_signed(frame: Frame, keyring: Keyring, now: float, limits: Limits) -> tuple[Keyring, ListMeta]:
    """The keyring (with an embedded successor accepted) and the metadata of a snapshot or delta frame,
    after the list key's signature over it verified."""
    if frame.kind not in ("snapshot", "delta"):
        raise HitListRejected("wrong_role", f"a {frame.kind} frame where a snapshot or delta was expected")
    keyring = _accept_keyring(frame, keyring, limits)
    grant = authorise(frame, keyring, "list", now)
    meta = parse_list_meta(unpack_signed(frame, limits), frame.kind, limits)
    if meta.key_id != grant.key_id:
        raise HitListRejected(
            "malformed", f"metadata key id {meta.key_id!r} differs from the signer {grant.key_id!r}"
        )
    if meta.epoch != keyring.epoch:
        raise HitListRejected("epoch", f"list epoch {meta.epoch}, keyring epoch {keyring.epoch}")
    grant.check_scope(meta.list_id)  # each list its own signing key (docs/hitlist.md "Several lists")
    return keyring, meta


def signed_file_size(prefix, *, keyring: Keyring, now: float, limits: Limits) -> int | None:
    """The size of a snapshot or delta file as its list key signed it (header, envelope and the body its
    signed metadata declares), from the file's first bytes; None while ``prefix`` is shorter than the header
    and envelope. A transfer is bounded by this before the body arrives (docs/hitlist.md "Transfer").

    Raises HitListRejected as ``verify_list`` does for the frame and its signature."""
    view = memoryview(prefix).cast("B")
    if len(view) < HEADER.size:
        return None
    env_len = HEADER.unpack_from(view)[3]
    if env_len <= limits.max_envelope_bytes and len(view) < HEADER.size + env_len:
        return None
    frame = unpack_frame(view[: HEADER.size + env_len], limits)
    _, meta = _verify_signed(frame, keyring, now, limits)
    return HEADER.size + env_len + sum(size for _, size in _sections(meta))


def verify_list(
    blob, *, keyring: Keyring, installed: Installed | None, now: float, limits: Limits
) -> VerifiedList:
    """Verify a snapshot or delta against the trusted keyring and the installed list.

    Raises HitListRejected: truncated, oversized, malformed, wrong_role, unknown_key, revoked_key,
    expired_key, bad_signature, wrong_list_id, epoch, rollback, base_mismatch (resync),
    broken_chain (resync), expired, content_hash."""
    frame = unpack_frame(blob, limits)
    keyring, meta = _verify_signed(frame, keyring, now, limits)
    if installed is not None:
        cur = installed.identity
        if meta.list_id != cur.list_id:
            raise HitListRejected("wrong_list_id", f"list id {meta.list_id!r}, installed {cur.list_id!r}")
        if (meta.epoch, meta.version) <= (cur.epoch, cur.version):
            raise HitListRejected(
                "rollback",
                f"version {meta.version} (epoch {meta.epoch}) not newer than installed {cur.version} (epoch {cur.epoch})",
            )
    if meta.kind == "delta":
        _check_delta_base(meta, installed)
    elif (
        installed is not None
        and (meta.epoch, meta.base_version) == (installed.identity.epoch, installed.identity.version)
        and meta.prev_hash != installed.chain
    ):
        raise HitListRejected(
            "broken_chain",
            f"snapshot v{meta.version} does not chain from installed v{meta.base_version}",
            resync=True,
        )
    if meta.expires <= now:
        raise HitListRejected("expired", f"list v{meta.version} expired at {meta.expires:.0f}, now {now:.0f}")
    expected = sum(size for _, size in _sections(meta))
    if len(frame.body) < expected:
        raise HitListRejected("truncated", f"body {len(frame.body)} bytes, metadata declares {expected}")
    if len(frame.body) > expected:
        raise HitListRejected("oversized", f"body {len(frame.body)} bytes, metadata declares {expected}")
    if content_hash(frame.body) != meta.content_hash:
        raise HitListRejected(
            "content_hash", f"content hash of {len(frame.body)} body bytes does not match the signed one"
        )
    entries, removes = _parse_body(frame.body, meta)
    return VerifiedList(meta, keyring, entries, removes)


def _check_delta_base(meta: ListMeta, installed: Installed | None) -> None:
    if installed is None:
        raise HitListRejected(
            "base_mismatch",
            f"delta {meta.base_version}->{meta.version} but no list is installed",
            resync=True,
        )
    cur = installed.identity
    if (meta.epoch, meta.base_version, meta.base_state_hash) != (cur.epoch, cur.version, cur.state_hash):
        raise HitListRejected(
            "base_mismatch",
            f"delta base v{meta.base_version} (epoch {meta.epoch}) does not match installed v{cur.version} (epoch {cur.epoch})",
            resync=True,
        )
    if meta.base_chain != installed.chain:
        raise HitListRejected(
            "broken_chain", f"delta base chain hash differs from installed v{cur.version}", resync=True
        )
    if meta.fp_keys != installed.fp_keys:
        raise HitListRejected(
            "base_mismatch", "delta fingerprint keys differ from the installed list's", resync=True
        )


def read_head(blob, *, keyring: Keyring, now: float, limits: Limits) -> Head:
    """A head whose signature verifies by a list key valid at ``now``, before its own times are judged:
    its signed ``issued`` feeds the gate's trusted time (docs/protocol.md "Trusted time"), which then
    judges it in ``verify_head``. Raises HitListRejected as for lists."""
    if len(blob) > limits.max_head_bytes:
        raise HitListRejected("oversized", f"head of {len(blob)} bytes, limit {limits.max_head_bytes}")
    frame = unpack_frame(blob, limits)
    if frame.kind != "head":
        raise HitListRejected("wrong_role", f"a {frame.kind} frame where a head was expected")
    grant = authorise(frame, keyring, "list", now)
    meta = unpack_signed(frame, limits)
    grant.check_scope(_get(meta, "list_id", str))
    head = Head(
        _get(meta, "list_id", str),
        _number(meta, "epoch", limits),
        _number(meta, "version", limits),
        _get(meta, "state_hash", bytes),
        _time(meta, "issued"),
        _time(meta, "expires"),
        bytes(blob),
        _number(meta, "keyring", limits) if "keyring" in meta else 0,
    )
    return head


def verify_head(blob, *, keyring: Keyring, now: float, limits: Limits) -> Head:
    """Verify a freshness head. Raises HitListRejected (as for lists, plus 'expired', 'not_yet_valid')."""
    head = read_head(blob, keyring=keyring, now=now, limits=limits)
    if head.issued > now + limits.clock_skew_seconds:
        raise HitListRejected("not_yet_valid", f"head issued at {head.issued:.0f}, now {now:.0f}")
    if head.expires <= now:
        raise HitListRejected("expired", f"head expired at {head.expires:.0f}, now {now:.0f}")
    return head
