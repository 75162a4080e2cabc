"""One-time enrolment tokens and the MACs they key (docs/provisioning.md "Enrolment token").

A token is 26 Crockford base32 characters shown in groups of four, ``K7QM-2XPA-9D3F-HH4T-0BVC-RN8W-B5``:
8 characters of token id (40 bits, public: it names the token and the enrolling client), 16 of secret
(80 bits) and 2 check characters, so a mistyped token is caught on the gate before anything is sent.
The secret never travels: both sides derive a MAC key from it (``token_key``) and prove knowledge of it
with ``mac`` over the exact fields of a request or reply. The centre stores only the MAC key.

    >>> token = new_token()
    >>> parse_token(format_token(token)) == token
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from agent.errors import UsageError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_READ_AS = {"O": "0", "I": "1", "L": "1"}  # what people type for the letters left out
ID_CHARS, SECRET_CHARS, CHECK_CHARS = 8, 16, 2
TOKEN_CHARS = ID_CHARS + SECRET_CHARS + CHECK_CHARS


class TokenFormatError(UsageError):
    """A token as typed that is not one: wrong length, a character not in the alphabet, a failed check."""

    remedy = "type the token again exactly as the centre gave it (letters and digits; dashes do not matter)"


@dataclass(frozen=True)
class Token:
    """An enrolment token: ``token_id`` (public) and ``secret`` (16 base32 characters)."""

    token_id: str
    secret: str

    @property
    def client_id(self) -> str:
        """The MQTT client id the enrolling gate uses: ``enrol-{token id}``."""
        return f"enrol-{self.token_id}"

    def key(self) -> bytes:
        """The MAC key both sides derive from the secret (the centre stores this, never the secret)."""
        return token_key(self.secret)


def _check(body: str) -> str:
    digest = hashlib.blake2b(body.encode(), digest_size=2, person=b"sharaka-tokchk").digest()
    n = int.from_bytes(digest, "big") & 0x3FF
    return ALPHABET[n >> 5] + ALPHABET[n & 31]


def new_token() -> Token:
    """A fresh random token."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(ID_CHARS + SECRET_CHARS))
    return Token(chars[:ID_CHARS], chars[ID_CHARS:])


def format_token(token: Token) -> str:
    """The token as a person reads and types it: groups of four separated by dashes, check characters last."""
    body = token.token_id + token.secret
    text = body + _check(body)
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse_token(text: str) -> Token:
    """The token in ``text`` (any case; spaces and dashes ignored; O read as 0, I and L as 1).
    Raises TokenFormatError naming what is wrong."""
    chars = "".join(_READ_AS.get(c, c) for c in text.upper() if c not in " -\t")
    bad = sorted({c for c in chars if c not in ALPHABET})
    if bad:
        raise TokenFormatError(f"enrolment token {text!r} holds {''.join(bad)!r}: expected letters and digits only")
    if len(chars) != TOKEN_CHARS:
        raise TokenFormatError(f"enrolment token {text!r} has {len(chars)} characters: expected {TOKEN_CHARS}")
    body, check = chars[:-CHECK_CHARS], chars[-CHECK_CHARS:]
    if not hmac.compare_digest(_check(body), check):
        raise TokenFormatError(f"enrolment token {text!r} is mistyped (its check characters do not match)")
    return Token(body[:ID_CHARS], body[ID_CHARS:])


def token_key(secret: str) -> bytes:
    """The 32-byte MAC key of a token secret."""
    return hashlib.blake2b(secret.encode(), digest_size=32, person=b"sharaka-enrolkey").digest()


def mac(key: bytes, label: str, fields: Sequence[Any]) -> bytes:
    """Keyed BLAKE2b-256 over ``label`` and ``fields`` packed as one msgpack array (an exact encoding:
    a changed, added or moved field changes the MAC)."""
    data = msgpack.packb([label, *fields], use_bin_type=True)
    return hashlib.blake2b(data, key=key, digest_size=32, person=b"sharaka-enrolmac").digest()


def mac_ok(key: bytes, label: str, fields: Sequence[Any], proof: bytes) -> bool:
    """True when ``proof`` is ``mac(key, label, fields)`` (constant-time comparison)."""
    return hmac.compare_digest(mac(key, label, fields), bytes(proof))
