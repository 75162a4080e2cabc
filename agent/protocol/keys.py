"""Ed25519 key files: 32-byte raw seeds (0600) and 32-byte raw public keys."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

from agent.durable import atomic_write
from agent.errors import BadDataError
from agent.protocol.envelope import key_id


def generate(path: Path) -> SigningKey:
    """Create a signing key at ``path`` (0600) and its public key at ``path`` + ``.pub``."""
    key = SigningKey.generate()
    atomic_write(Path(path), bytes(key), mode=0o600)
    atomic_write(Path(str(path) + ".pub"), bytes(key.verify_key), mode=0o644)
    return key


def load_signing_key(path: Path) -> SigningKey:
    """Load a 32-byte seed; BadDataError names the file when it is not one."""
    data = Path(path).read_bytes()
    if len(data) != 32:
        raise BadDataError(f"key file {str(path)!r} has {len(data)} bytes, expected a 32-byte Ed25519 seed")
    return SigningKey(data)


def load_public_key(path: Path) -> VerifyKey:
    """Load a 32-byte raw public key."""
    data = Path(path).read_bytes()
    if len(data) != 32:
        raise BadDataError(f"public key file {str(path)!r} has {len(data)} bytes, expected 32")
    return VerifyKey(data)


def trusted(keys: Iterable[VerifyKey | bytes]) -> dict[bytes, VerifyKey]:
    """Map key id -> VerifyKey for ``open_signed``."""
    out: dict[bytes, VerifyKey] = {}
    for k in keys:
        vk = k if isinstance(k, VerifyKey) else VerifyKey(bytes(k))
        out[key_id(bytes(vk))] = vk
    return out
