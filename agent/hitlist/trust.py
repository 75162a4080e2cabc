"""Root of trust: the root-signed keyring that certifies list-signing keys (docs/hitlist.md "Trust").

The gate pins one root public key at provisioning. A keyring (version V) lists the root keys and
their threshold, the certified keys with roles and validity periods, revoked key ids, and the
list-key epoch. Keyring V+1 is accepted only when a threshold of V's root keys *and* a threshold
of its own root keys signed it (RELIABILITY 10); a key's duplicate signatures count once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.hitlist.errors import HitListRejected
from agent.hitlist.format import Frame, unpack_frame, unpack_signed, verify_signature
from agent.hitlist.limits import Limits
from agent.keys import list_key_id

ROLES = ("list", "command", "alert")  # alert: early warnings (docs/protocol.md "Early warnings")


@dataclass(frozen=True)
class KeyGrant:
    """A public key certified by the root for ``roles`` during [not_before, not_after). ``holder`` names
    the person or office holding a ``command`` key: two signatures count as two only from two holders
    (docs/protocol.md "Two-key rule"); a grant without one is its own holder."""

    key_id: str
    public_key: bytes
    roles: tuple[str, ...]
    not_before: float
    not_after: float
    holder: str = ""
    lists: tuple[str, ...] = ()  # a list key scoped to these list ids (docs/hitlist.md "Several lists"); (): any

    def check_scope(self, list_id: str) -> None:
        """Raise HitListRejected ``wrong_list_key`` when this list key is scoped to other lists than ``list_id``."""
        if self.lists and list_id not in self.lists:
            raise HitListRejected("wrong_list_key",
                                  f"key {self.key_id!r} signs lists {list(self.lists)!r}, not {list_id!r}")


@dataclass(frozen=True)
class Keyring:
    """A verified keyring. Version 0 is the implicit one made from the pinned root key alone."""

    version: int
    root_keys: tuple[bytes, ...]
    threshold: int
    epoch: int
    keys: dict[str, KeyGrant] = field(default_factory=dict)
    revoked: frozenset[str] = frozenset()
    blob: bytes = b""

    def granted(self, role: str, now: float) -> list[KeyGrant]:
        """The keys certified for ``role``, valid at ``now`` and not revoked."""
        return [g for g in self.keys.values()
                if role in g.roles and g.key_id not in self.revoked and g.not_before <= now < g.not_after]

    @classmethod
    def pinned(cls, root_pub: bytes) -> Keyring:
        """Raises HitListRejected when the pinned root is not a 32-byte Ed25519 public key."""
        if not isinstance(root_pub, bytes) or len(root_pub) != 32:
            raise HitListRejected("malformed", f"root public key of {len(root_pub)} bytes: expected 32")
        return cls(0, (root_pub,), 1, 0)


def _count_signers(frame: Frame, kind: str, keys: tuple[bytes, ...]) -> int:
    """Distinct keys among ``keys`` with a valid signature (duplicates count once)."""
    return sum(1 for pub in set(keys) if verify_signature(frame, kind, pub))


def _parse_grant(item: object, limits: Limits) -> KeyGrant:
    if not isinstance(item, dict):
        raise HitListRejected("malformed", f"keyring key {item!r:.60}: expected a map")
    pub, roles = item.get("pub"), item.get("roles")
    nb, na = item.get("not_before"), item.get("not_after")
    if not isinstance(pub, bytes) or len(pub) != 32:
        raise HitListRejected("malformed", "keyring key: expected a 32-byte 'pub'")
    if not isinstance(roles, list) or not all(r in ROLES for r in roles):
        raise HitListRejected("malformed", f"keyring key roles {roles!r:.60}: expected a list of {ROLES}")
    if not isinstance(nb, int | float) or not isinstance(na, int | float) or not nb < na:
        raise HitListRejected(
            "malformed", f"keyring key validity {nb!r}..{na!r}: expected not_before < not_after"
        )
    holder = item.get("holder", "")
    if not isinstance(holder, str) or len(holder) > 64:
        raise HitListRejected("malformed", f"keyring key holder {holder!r:.80}: expected up to 64 characters")
    scope = item.get("lists", [])
    if not isinstance(scope, list) or len(scope) > limits.max_keys or not all(
            isinstance(x, str) and 0 < len(x) <= limits.max_list_id_chars for x in scope):
        raise HitListRejected("malformed", f"keyring key lists {scope!r:.80}: expected a list of list ids")
    return KeyGrant(list_key_id(pub), pub, tuple(roles), float(nb), float(na), holder, tuple(scope))


def verify_keyring(blob: bytes, trusted: Keyring, limits: Limits) -> Keyring:
    """Verify keyring ``blob`` as the successor of ``trusted``; return it (or ``trusted`` when it is
    the same keyring again). Raises HitListRejected with the reason and ``trusted`` stays in force."""
    frame = unpack_frame(blob, limits)
    if frame.kind != "keyring":
        raise HitListRejected("wrong_role", f"a {frame.kind} frame where a keyring was expected")
    if bytes(blob) == trusted.blob:
        return trusted
    if _count_signers(frame, "keyring", trusted.root_keys) < trusted.threshold:
        raise HitListRejected(
            "bad_signature",
            f"keyring not signed by {trusted.threshold} of the trusted root keys (keyring v{trusted.version})",
        )
    meta = unpack_signed(frame, limits)
    version, threshold, epoch = (meta.get(k) for k in ("version", "threshold", "epoch"))
    roots, keys, revoked = meta.get("root_keys"), meta.get("keys"), meta.get("revoked", [])
    if not (isinstance(version, int) and isinstance(threshold, int) and isinstance(epoch, int)):
        raise HitListRejected("malformed", "keyring: version, threshold and epoch must be integers")
    if not (0 <= version <= limits.max_number and 0 <= epoch <= limits.max_number):
        raise HitListRejected("malformed", f"keyring version {version} / epoch {epoch}: expected 0..{limits.max_number}")
    if (
        not isinstance(roots, list)
        or not 1 <= len(roots) <= limits.max_keys
        or not all(isinstance(r, bytes) and len(r) == 32 for r in roots)
    ):
        raise HitListRejected("malformed", f"keyring root_keys: expected 1..{limits.max_keys} 32-byte keys")
    if not isinstance(keys, list) or len(keys) > limits.max_keys or not isinstance(revoked, list):
        raise HitListRejected(
            "malformed", f"keyring keys: expected at most {limits.max_keys} keys and a revoked list"
        )
    if version <= trusted.version:
        raise HitListRejected(
            "rollback", f"keyring version {version} is not newer than trusted version {trusted.version}"
        )
    if version != trusted.version + 1:
        raise HitListRejected(
            "keyring_gap",
            f"keyring version {version}: only {trusted.version + 1} can follow {trusted.version}",
            resync=True,
        )
    if not 1 <= threshold <= len(set(roots)):
        raise HitListRejected("malformed", f"keyring threshold {threshold}: expected 1..{len(set(roots))}")
    if _count_signers(frame, "keyring", tuple(roots)) < threshold:
        raise HitListRejected(
            "bad_signature", f"keyring v{version} not signed by {threshold} of its own root keys"
        )
    if epoch < trusted.epoch:
        raise HitListRejected("rollback", f"keyring epoch {epoch} below trusted epoch {trusted.epoch}")
    grants = {g.key_id: g for g in (_parse_grant(k, limits) for k in keys)}
    return Keyring(
        version, tuple(roots), threshold, epoch, grants, frozenset(str(r) for r in revoked), bytes(blob)
    )


def authorise(frame: Frame, keyring: Keyring, role: str, now: float) -> KeyGrant:
    """The grant whose valid signature covers ``frame`` for ``role`` at ``now``.

    Raises HitListRejected: revoked_key, unknown_key, wrong_role, expired_key or bad_signature."""
    kids = [kid for kid, _ in frame.sigs]
    grants = [keyring.keys[k] for k in dict.fromkeys(kids) if k in keyring.keys and k not in keyring.revoked]
    if not grants:
        if any(k in keyring.revoked for k in kids):
            raise HitListRejected(
                "revoked_key", f"signing key {kids[0]!r} is revoked by keyring v{keyring.version}"
            )
        raise HitListRejected(
            "unknown_key", f"signing key(s) {kids!r:.80} not certified by keyring v{keyring.version}"
        )
    in_role = [g for g in grants if role in g.roles]
    if not in_role:
        raise HitListRejected(
            "wrong_role", f"key {grants[0].key_id!r} is certified for {grants[0].roles}, not {role!r}"
        )
    valid = [g for g in in_role if g.not_before <= now < g.not_after]
    if not valid:
        g = in_role[0]
        raise HitListRejected(
            "expired_key", f"key {g.key_id!r} valid {g.not_before:.0f}..{g.not_after:.0f}, now {now:.0f}"
        )
    for grant in valid:
        if verify_signature(frame, frame.kind, grant.public_key):
            return grant
    raise HitListRejected("bad_signature", f"{frame.kind} signature by {valid[0].key_id!r} does not verify")
