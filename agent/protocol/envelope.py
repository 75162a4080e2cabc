"""Signed message envelope (docs/protocol.md "Envelope").

Wire form: ``b"SG" | format(1) | n(1) | n * (key_id(8) | signature(64)) | body``. ``body`` is a msgpack
map. Each signature is Ed25519 over ``domain(type) | body``; the domain prefix names the message type, so
a valid signature on one type never verifies as another (RELIABILITY 2). Signatures are checked over the
exact received bytes before the body is unpacked, and the body is then checked against its type's schema
(``agent.protocol.schema``: every field typed and range-checked). Pure: bytes in, verified dicts out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgpack
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from agent.keys import message_key_id
from agent.protocol.schema import (
    LIMITS,
    MESSAGES,
    SCHEMA_VERSION,
    Limits,
    ProtocolError,
    TooLargeError,
    check_message,
)

MAGIC = b"SG"
FORMAT = 1
KEY_ID_LEN = 8
SIG_LEN = 64


class SignatureError(ProtocolError):
    """A message without enough valid signatures by trusted keys."""


def domain(msg_type: str) -> bytes:
    """The signature domain prefix of a message type."""
    if msg_type not in MESSAGES:
        raise ProtocolError(f"unknown message type {msg_type!r}: expected one of {sorted(MESSAGES)}")
    return b"sharaka/v1/msg/" + msg_type.encode() + b"\x00"


def seal(msg_type: str, body: Mapping[str, Any], signers: Iterable[SigningKey]) -> bytes:
    """Pack ``body`` (with ``v`` and ``t`` set) and sign it by every key in ``signers``. Raises ProtocolError
    for a body its receiver would refuse: the schema's bounds lie within the unpacker's ``LIMITS``, and the
    whole message must fit ``LIMITS.max_wire``."""
    full = {"v": SCHEMA_VERSION, "t": msg_type, **body}
    check_message(msg_type, full)
    packed = msgpack.packb(full, use_bin_type=True)
    prefix = domain(msg_type)
    sigs = [(message_key_id(k.verify_key), k.sign(prefix + packed).signature) for k in signers]
    if not sigs or len(sigs) > LIMITS.max_signatures:
        raise ProtocolError(f"need 1..{LIMITS.max_signatures} signers, got {len(sigs)}")
    wire = MAGIC + bytes([FORMAT, len(sigs)]) + b"".join(k + s for k, s in sigs) + packed
    if len(wire) > LIMITS.max_wire:
        raise TooLargeError(f"{msg_type} message of {len(wire)} bytes exceeds the limit of {LIMITS.max_wire}")
    return wire


def open_signed(
    msg_type: str,
    wire: bytes,
    trusted: Mapping[bytes, VerifyKey],
    *,
    threshold: int = 1,
    limits: Limits = LIMITS,
) -> tuple[dict[str, Any], frozenset[bytes]]:
    """Verify ``wire`` as ``msg_type`` signed by at least ``threshold`` distinct trusted keys.

    Returns (body, ids of the keys that signed validly). Raises SignatureError when too few trusted
    keys signed (a key's repeated signatures count once, RELIABILITY 10/16) and ProtocolError when the
    bytes are not a well-formed message of that type.
    """
    sigs, body_bytes = _split(wire, limits)
    signed = domain(msg_type) + body_bytes
    good: set[bytes] = set()
    for kid, sig in sigs:
        key = trusted.get(kid)
        if key is None or kid in good:
            continue
        try:
            key.verify(signed, sig)
        except BadSignatureError:
            continue
        good.add(kid)
    if len(good) < threshold:
        raise SignatureError(
            f"{msg_type} message has {len(good)} valid trusted signature(s), needs {threshold}"
        )
    return unpack_body(msg_type, body_bytes, limits), frozenset(good)


def _split(wire: bytes, limits: Limits) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """(key id, signature) slots and the body bytes of ``wire``; nothing verified. Raises ProtocolError."""
    if not isinstance(wire, bytes | bytearray):
        raise ProtocolError(f"payload must be bytes, got {type(wire).__name__}")
    wire = bytes(wire)
    if len(wire) > limits.max_wire:
        raise ProtocolError(f"message of {len(wire)} bytes exceeds the limit of {limits.max_wire}")
    if len(wire) < 4 or wire[:2] != MAGIC or wire[2] != FORMAT:
        raise ProtocolError(f"not a Sharaka message (header {wire[:4]!r}, expected b'SG\\x01' + count)")
    count = wire[3]
    start = 4 + count * (KEY_ID_LEN + SIG_LEN)
    if count == 0 or count > limits.max_signatures or len(wire) <= start:
        raise SignatureError(f"bad signature count {count} for a {len(wire)}-byte message")
    slots = [wire[4 + i * (KEY_ID_LEN + SIG_LEN) : 4 + (i + 1) * (KEY_ID_LEN + SIG_LEN)] for i in range(count)]
    return [(slot[:KEY_ID_LEN], slot[KEY_ID_LEN:]) for slot in slots], wire[start:]


def peek(msg_type: str, wire: bytes, limits: Limits = LIMITS) -> tuple[dict[str, Any], list[bytes]]:
    """The body and the signers' key ids of ``wire`` WITHOUT verifying any signature: for a second
    operator to review a partially signed command before adding a signature. Raises ProtocolError."""
    sigs, body_bytes = _split(wire, limits)
    return unpack_body(msg_type, body_bytes, limits), [kid for kid, _ in sigs]


def signer_ids(wire: bytes, limits: Limits = LIMITS) -> list[bytes]:
    """The key ids ``wire`` claims signed it, nothing verified or unpacked: to tell a message signed by no
    known key (refused as unknown) from one a known key's signature does not cover (forged, tampered).
    Raises ProtocolError."""
    return [kid for kid, _ in _split(wire, limits)[0]]


def cosign(msg_type: str, wire: bytes, signers: Iterable[SigningKey], limits: Limits = LIMITS) -> bytes:
    """``wire`` with the signatures of ``signers`` added over the same body (a second operator's
    signature on a command). A key that already signed is not added twice. Raises ProtocolError."""
    sigs, body_bytes = _split(wire, limits)
    unpack_body(msg_type, body_bytes, limits)
    have = {kid for kid, _ in sigs}
    prefix = domain(msg_type)
    for key in signers:
        kid = message_key_id(key.verify_key)
        if kid not in have:
            sigs.append((kid, key.sign(prefix + body_bytes).signature))
            have.add(kid)
    if len(sigs) > limits.max_signatures:
        raise ProtocolError(f"{len(sigs)} signatures, limit {limits.max_signatures}")
    return MAGIC + bytes([FORMAT, len(sigs)]) + b"".join(k + s for k, s in sigs) + body_bytes


def unpack_body(msg_type: str, body_bytes: bytes, limits: Limits = LIMITS) -> dict[str, Any]:
    """Unpack an already verified body within ``limits`` and check its schema."""
    try:
        body = msgpack.unpackb(
            body_bytes,
            raw=False,
            strict_map_key=True,
            max_str_len=limits.max_str,
            max_bin_len=limits.max_bin,
            max_array_len=limits.max_array,
            max_map_len=limits.max_map,
        )
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise ProtocolError(f"{msg_type} body is not a bounded msgpack map: {exc}")
    if not isinstance(body, dict):
        raise ProtocolError(f"{msg_type} body is a {type(body).__name__}, expected a map")
    check_message(msg_type, body)
    return body
