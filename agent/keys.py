"""Ed25519 key files, key ids and the pinned root: the one key module of every side (gate, centre,
hit-list tools; docs/hitlist.md "Keys").

Files. A private key is a 32-byte Ed25519 seed, a public key 32 bytes. Both are read in either
encoding: 32 raw bytes, or 64 hex characters with optional surrounding whitespace. Writers pick one:
``raw`` for the gate's device key (the image's first-boot script reads ``device.key.pub`` raw),
``hex`` text for the centre's hit-list keys (easy to paste into a config or a ticket). Private keys are
written 0600 and refused when group or others can read them (RELIABILITY 38).

Key ids. Two wire formats name a signer by a short id of its public key, and both are deployed, so
there are two, named for where they are used:

- ``list_key_id(pub)`` (str, 16 hex digits of BLAKE2b-64 personalised ``sharaka-keyid``): hit-list
  frames, keyrings and their ``revoked`` lists, operators' ``--revoke KEY_ID``;
- ``message_key_id(pub)`` (8 bytes of SHA-256): the signature slots of MQTT message envelopes.

The pinned root (``pin_root`` / ``pinned_root``) lives in the hit-list state directory as
``root.pub`` and is written with ``agent.durable.atomic_write`` (fsync file and directory). A person
compares a root key by its ``root_fingerprint`` (20 hex digits in groups of four, read out over the phone
by the centre at provisioning: docs/provisioning.md "Pinning the root").
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from nacl.signing import SigningKey, VerifyKey

from agent.durable import atomic_write, make_dirs
from agent.errors import BadDataError

KEY_BYTES = 32
ROOT_PUB = "root.pub"


class KeyFileError(BadDataError):
    """A key file that is missing, unreadable, of the wrong size or encoding, or too open."""


class RootPinConflict(KeyFileError):
    """A root key file that differs from the root already pinned in a state directory."""


def decode_key(data: bytes, what: str) -> bytes:
    """32 key bytes from ``data`` given raw or as 64 hex characters; KeyFileError names ``what`` otherwise."""
    if len(data) == KEY_BYTES:
        return bytes(data)
    try:
        key = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyFileError(
            f"{what} has {len(data)} bytes: expected 32 raw bytes or 64 hex characters of an Ed25519 key"
        )
    return key


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{what} {str(path)!r}: cannot read: {exc.strerror or exc}") from exc


def read_public_key(path: str | os.PathLike[str]) -> bytes:
    """The 32 bytes of a public key file (raw or hex). Raises KeyFileError, also for the private key of a
    pair whose public file lies beside it (``x.key`` for ``x.key.pub`` or ``x.pub``): both are 32 bytes, and
    taken as a public key it would be pinned, enrolled or certified, and every signature refused."""
    key = decode_key(_read(path, "public key file"), f"public key file {str(path)!r}")
    for pub in sorted({Path(str(path) + ".pub"), Path(path).with_suffix(".pub")} - {Path(path)}):
        beside = b""
        with contextlib.suppress(OSError, KeyFileError):
            beside = decode_key(pub.read_bytes(), str(pub))
        if beside == bytes(SigningKey(key).verify_key):
            raise KeyFileError(f"{str(path)!r} is a private key: give its public key file {str(pub)!r}")
    return key


def load_public_key(path: str | os.PathLike[str]) -> VerifyKey:
    """A public key file as a VerifyKey. Raises KeyFileError."""
    return VerifyKey(read_public_key(path))


def load_signing_key(path: str | os.PathLike[str]) -> SigningKey:
    """A private key file (32-byte seed, raw or hex, mode 0600). Raises KeyFileError."""
    data = _read(path, "private key file")
    mode = Path(path).stat().st_mode
    if mode & 0o077:
        raise KeyFileError(
            f"private key file {str(path)!r} has mode {mode & 0o777:04o}: expected 0600 (chmod 600 it)"
        )
    return SigningKey(decode_key(data, f"private key file {str(path)!r}"))


def encode_key(key: bytes, encoding: Literal["raw", "hex"]) -> bytes:
    """The bytes a key file of ``encoding`` holds."""
    return bytes(key) if encoding == "raw" else bytes(key).hex().encode() + b"\n"


def generate(
    path: str | os.PathLike[str],
    *,
    pub_path: str | os.PathLike[str] | None = None,
    encoding: Literal["raw", "hex"] = "raw",
    exclusive: bool = False,
) -> SigningKey:
    """Create a signing key at ``path`` (0600) and its public key at ``pub_path`` (default ``path.pub``),
    durably. ``exclusive``: refuse (KeyFileError) rather than replace an existing file."""
    key = SigningKey.generate()
    pub = Path(pub_path) if pub_path is not None else Path(str(path) + ".pub")
    try:
        atomic_write(Path(path), encode_key(bytes(key), encoding), mode=0o600, exclusive=exclusive)
        atomic_write(pub, encode_key(bytes(key.verify_key), encoding), mode=0o644, exclusive=exclusive)
    except FileExistsError as exc:
        raise KeyFileError(f"{exc.filename!r} exists: refusing to overwrite a key file") from exc
    return key


def list_key_id(public_key: bytes | VerifyKey) -> str:
    """Id of a key in hit-list frames and keyrings: 16 hex digits of a personalised BLAKE2b-64."""
    return hashlib.blake2b(bytes(public_key), digest_size=8, person=b"sharaka-keyid").hexdigest()


def message_key_id(public_key: bytes | VerifyKey) -> bytes:
    """Id of a key in MQTT message envelopes: the first 8 bytes of its SHA-256."""
    return hashlib.sha256(bytes(public_key)).digest()[:8]


def trusted(keys: Iterable[VerifyKey | bytes]) -> dict[bytes, VerifyKey]:
    """Map message key id -> VerifyKey, as ``agent.protocol.envelope.open_signed`` takes it."""
    out: dict[bytes, VerifyKey] = {}
    for k in keys:
        vk = k if isinstance(k, VerifyKey) else VerifyKey(bytes(k))
        out[message_key_id(vk)] = vk
    return out


FINGERPRINT_DIGITS = 20  # 80 bits: a second pre-image is out of reach, and it is short enough to read out


def root_fingerprint(public_key: bytes | VerifyKey) -> str:
    """A short fingerprint of a root public key for people to compare: ``1a2b-3c4d-5e6f-7a8b-9c0d``
    (BLAKE2b personalised ``sharaka-rootfp``, 80 bits)."""
    digits = hashlib.blake2b(bytes(public_key), digest_size=FINGERPRINT_DIGITS // 2, person=b"sharaka-rootfp").hexdigest()
    return "-".join(digits[i : i + 4] for i in range(0, FINGERPRINT_DIGITS, 4))


def parse_fingerprint(text: str) -> str:
    """A fingerprint as typed (any case, spaces or dashes anywhere) in the form ``root_fingerprint`` gives.
    Raises KeyFileError naming what was typed when it is not 20 hex digits."""
    digits = re.sub(r"[\s:-]", "", text).lower()
    if not re.fullmatch(f"[0-9a-f]{{{FINGERPRINT_DIGITS}}}", digits):
        raise KeyFileError(f"root fingerprint {text!r}: expected {FINGERPRINT_DIGITS} hex digits like 1a2b-3c4d-5e6f-7a8b-9c0d")
    return "-".join(digits[i : i + 4] for i in range(0, FINGERPRINT_DIGITS, 4))


def pin_root(state_dir: str | os.PathLike[str], root: bytes) -> bool:
    """Pin ``root`` (32 bytes) in ``state_dir/root.pub`` (durably, hex) when nothing is pinned yet; True when
    written, False when already pinned to it. Raises RootPinConflict when another root is pinned."""
    pinned = Path(state_dir) / ROOT_PUB
    if pinned.exists():
        if read_public_key(pinned) != bytes(root):
            raise RootPinConflict(f"{str(state_dir)!r} is pinned to another root key (fingerprint "
                                  f"{root_fingerprint(read_public_key(pinned))}) than {root_fingerprint(root)}")
        return False
    make_dirs(Path(state_dir))
    atomic_write(pinned, encode_key(decode_key(bytes(root), "root key"), "hex"), mode=0o644)
    return True


def pinned_root(state_dir: str | os.PathLike[str], given: str | os.PathLike[str] | None = None,
                *, pin: bool = False) -> bytes:
    """The root public key a hit-list state directory trusts.

    ``given`` (a key file) must match what is pinned in ``state_dir/root.pub``; with ``pin`` it is
    pinned there when nothing is yet (durably, hex). Without ``given`` the pinned key is used.
    Raises KeyFileError (no key at all, a bad key file) or RootPinConflict (``given`` is not the pinned one)."""
    pinned = Path(state_dir) / ROOT_PUB
    if given is None:
        if not pinned.exists():
            raise KeyFileError(f"no root key pinned in {str(state_dir)!r}: give the root public key file")
        return read_public_key(pinned)
    root = read_public_key(given)
    if pinned.exists():
        if read_public_key(pinned) != root:
            raise RootPinConflict(f"{str(state_dir)!r} is pinned to another root key than {str(given)!r}")
    elif pin:
        pin_root(state_dir, root)
    return root
