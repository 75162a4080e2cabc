"""Wire framing of hit-list files and their signatures (docs/hitlist.md "File format").

    blob = b"SHKL" | format (1) | kind (1) | envelope length (u32 LE) | envelope | body
    envelope = msgpack {"signed": bin, "sigs": [[key_id, signature], ...], "keyring": bin | nil}

Each signature is Ed25519 over ``DOMAINS[kind] + signed`` (the exact received bytes), so a delta
cannot pass as a head or a command and a list key cannot sign for another role. ``signed`` is
itself msgpack and is unpacked only after a signature over it verified; it declares the body's
sections and BLAKE2b-256 content hash.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import msgpack
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from agent.hitlist.errors import HitListRejected
from agent.hitlist.limits import Limits
from agent.keys import list_key_id

MAGIC = b"SHKL"
FORMAT = 1
HEADER = struct.Struct("<4sBBI")
KINDS = {1: "snapshot", 2: "delta", 3: "head", 4: "keyring"}
KIND_CODES = {name: code for code, name in KINDS.items()}
DOMAINS = {
    "snapshot": b"sharaka/hitlist/snapshot/v1\0",
    "delta": b"sharaka/hitlist/delta/v1\0",
    "head": b"sharaka/hitlist/head/v1\0",
    "keyring": b"sharaka/hitlist/keyring/v1\0",
}


def content_hash(body) -> bytes:
    """BLAKE2b-256 of a list body: what the signed metadata commits to."""
    return hashlib.blake2b(body, digest_size=32).digest()


@dataclass(frozen=True)
class Frame:
    """An outer frame whose envelope is parsed but whose signed part is still opaque bytes."""

    kind: str
    signed: bytes
    sigs: tuple[tuple[str, bytes], ...]
    keyring: bytes | None
    body: memoryview


def pack(
    kind: str, signed: bytes, signers: list[SigningKey], body: bytes = b"", keyring: bytes | None = None
) -> bytes:
    """Frame and sign: every signer signs the domain of ``kind`` plus ``signed``."""
    sigs = [[list_key_id(k.verify_key), k.sign(DOMAINS[kind] + signed).signature] for k in signers]
    envelope = msgpack.packb({"signed": signed, "sigs": sigs, "keyring": keyring}, use_bin_type=True)
    return HEADER.pack(MAGIC, FORMAT, KIND_CODES[kind], len(envelope)) + envelope + body


def unpack_frame(blob, limits: Limits) -> Frame:
    """Parse the outer frame within ``limits``. Raises HitListRejected (truncated, oversized, malformed)."""
    view = memoryview(blob).cast("B")
    if len(view) > limits.max_blob_bytes:
        raise HitListRejected("oversized", f"{len(view)} bytes, limit {limits.max_blob_bytes}")
    if len(view) < HEADER.size:
        raise HitListRejected("truncated", f"{len(view)} bytes, shorter than the {HEADER.size}-byte header")
    magic, fmt, code, env_len = HEADER.unpack_from(view)
    if magic != MAGIC or fmt != FORMAT or code not in KINDS:
        raise HitListRejected("malformed", f"header {bytes(view[:6])!r}: expected {MAGIC!r}, format {FORMAT}")
    if env_len > limits.max_envelope_bytes:
        raise HitListRejected("oversized", f"envelope {env_len} bytes, limit {limits.max_envelope_bytes}")
    if len(view) < HEADER.size + env_len:
        raise HitListRejected(
            "truncated", f"envelope declares {env_len} bytes, {len(view) - HEADER.size} present"
        )
    try:
        env = msgpack.unpackb(
            view[HEADER.size : HEADER.size + env_len],
            raw=False,
            max_bin_len=limits.max_envelope_bytes,
            max_str_len=256,
            max_array_len=limits.max_signatures,
            max_map_len=8,
        )
    except (ValueError, msgpack.UnpackException) as exc:
        raise HitListRejected("malformed", f"envelope is not msgpack: {exc}")
    if (
        not isinstance(env, dict)
        or not isinstance(env.get("signed"), bytes)
        or not isinstance(env.get("sigs"), list)
    ):
        raise HitListRejected("malformed", "envelope: expected a map with 'signed' bytes and 'sigs'")
    if len(env["signed"]) > limits.max_signed_bytes:
        raise HitListRejected(
            "oversized", f"signed part {len(env['signed'])} bytes, limit {limits.max_signed_bytes}"
        )
    sigs = []
    for item in env["sigs"]:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], bytes)
        ):
            raise HitListRejected("malformed", f"signature entry {item!r:.80}: expected [key_id, bytes]")
        sigs.append((item[0], item[1]))
    keyring = env.get("keyring")
    if keyring is not None and not isinstance(keyring, bytes):
        raise HitListRejected("malformed", "envelope keyring: expected bytes")
    return Frame(KINDS[code], env["signed"], tuple(sigs), keyring, view[HEADER.size + env_len :])


def verify_signature(frame: Frame, kind: str, public_key: bytes) -> bool:
    """True when some signature in ``frame`` by ``public_key`` verifies over DOMAINS[kind] + signed."""
    kid = list_key_id(public_key)
    for sig_kid, sig in frame.sigs:
        if sig_kid != kid:
            continue
        try:
            VerifyKey(public_key).verify(DOMAINS[kind] + frame.signed, sig)
            return True
        except (BadSignatureError, ValueError):
            continue
    return False


def unpack_signed(frame: Frame, limits: Limits) -> dict:
    """Unpack the signed part; call only after its signature verified. Raises HitListRejected."""
    try:
        meta = msgpack.unpackb(
            frame.signed,
            raw=False,
            max_bin_len=limits.max_signed_bytes,
            max_str_len=limits.max_signed_bytes,
            max_array_len=4 * max(limits.max_keys, limits.max_reasons),
            max_map_len=64,
            strict_map_key=True,
        )
    except (ValueError, msgpack.UnpackException) as exc:
        raise HitListRejected("malformed", f"signed metadata is not msgpack: {exc}")
    if not isinstance(meta, dict) or meta.get("type") != frame.kind:
        raise HitListRejected(
            "wrong_role",
            f"signed metadata type {meta.get('type') if isinstance(meta, dict) else meta!r:.40}, frame says {frame.kind!r}",
        )
    return meta
