"""A simulator of the central node's hit-list side (keys, keyrings, lists, heads), with injected
time, and helpers to observe a gate's store. Tests attack the gate with what it produces."""

from __future__ import annotations

import os

import msgpack
from nacl.signing import SigningKey

from agent.hitlist.fingerprint import FingerprintKeys
from agent.hitlist.format import HEADER, KIND_CODES, pack, unpack_frame
from agent.hitlist.limits import DEFAULT_LIMITS
from tools.hitlist.build import (
    Signer,
    build_delta,
    build_head,
    build_keyring,
    build_snapshot,
    entries_from_records,
    read_list,
    sign_list,
)

T0 = 1_800_000_000.0
DAY = 86400.0


def doc(i: int, reason: str = "stolen", state: str = "UTO") -> dict:
    return {
        "kind": "document",
        "issuing_state": state,
        "document_number": f"X{i:08d}",
        "reason": reason,
        "ref": f"R{i}",
    }


def person(surname: str, given: str, birth: str, ref: str = "P1") -> dict:
    return {
        "kind": "person",
        "surname": surname,
        "given_names": given,
        "birth_date": birth,
        "reason": "wanted",
        "ref": ref,
    }


# The ICAO specimen traveller as a listed document and a listed person (made-up; state UTO).
LISTED_DOCUMENT = {"kind": "document", "issuing_state": "UTO", "document_number": "L898902C3", "reason": "stolen",
                   "ref": "SLTD-1"}
LISTED_PERSON = {"kind": "person", "surname": "ERIKSSON", "given_names": "ANNA MARIA", "birth_date": "740812",
                 "reason": "wanted", "ref": "N-7"}


def grant(key: SigningKey, roles: list[str], nb: float, na: float) -> dict:
    return {"pub": bytes(key.verify_key), "roles": roles, "not_before": nb, "not_after": na}


class Central:
    """Root key, list key, keyring history and the list versions it published."""

    def __init__(self, list_id: str = "sltd", *, now: float = T0, person_cost: int = 1) -> None:
        self.list_id, self.now = list_id, now
        self.roots = [SigningKey.generate()]
        self.root_pub = bytes(self.roots[0].verify_key)
        self.list_key = SigningKey.generate()
        self.command_key = SigningKey.generate()
        self.epoch, self.keyring_version = 1, 1
        self.grants = [grant(self.list_key, ["list"], now - DAY, now + 365 * DAY),
                       grant(self.command_key, ["command"], now - DAY, now + 365 * DAY)]  # fmt: skip
        self.revoked: list[str] = []
        self.keyring = self._sign_keyring(self.roots)
        self.fp_keys = FingerprintKeys(os.urandom(32), os.urandom(32), person_cost)
        self.published: dict[int, bytes] = {}

    def _sign_keyring(self, signers: list[SigningKey], roots: list[SigningKey] | None = None) -> bytes:
        return build_keyring(
            version=self.keyring_version, root_keys=[bytes(r.verify_key) for r in (roots or self.roots)], threshold=len(roots or self.roots),
            epoch=self.epoch, grants=self.grants, revoked=self.revoked, signers=signers,
        )  # fmt: skip

    @property
    def signer(self) -> Signer:
        return Signer(self.list_key, self.keyring, self.epoch)

    def snapshot(
        self, records: list[dict], version: int, *, expires: float | None = None, chain: bool = True
    ) -> bytes:
        entries = entries_from_records(records, self.fp_keys)
        previous = (
            read_list(self.published[version - 1])[0] if chain and version - 1 in self.published else None
        )
        blob = build_snapshot(
            entries, signer=self.signer, list_id=self.list_id, version=version, fp_keys=self.fp_keys,
            created=self.now, expires=expires or self.now + 7 * DAY, previous=previous,
        )  # fmt: skip
        self.published[version] = blob
        return blob

    def delta(self, old: int, new: int) -> bytes:
        return build_delta(self.published[old], self.published[new], signer=self.signer, created=self.now)

    def head(self, version: int, *, issued: float | None = None, valid: float = 3600.0) -> bytes:
        issued = self.now if issued is None else issued
        return build_head(
            read_list(self.published[version])[0], signer=self.signer, issued=issued, expires=issued + valid
        )

    def rotate_list_key(self) -> bytes:
        """Root-certified list key rotation: epoch + 1, old list key revoked (RELIABILITY 9)."""
        from agent.keys import list_key_id

        self.revoked.append(list_key_id(bytes(self.list_key.verify_key)))
        self.grants = [g for g in self.grants if "list" not in g["roles"]]
        self.list_key = SigningKey.generate()
        self.grants.append(grant(self.list_key, ["list"], self.now - DAY, self.now + 365 * DAY))
        self.epoch += 1
        self.keyring_version += 1
        self.keyring = self._sign_keyring(self.roots)
        return self.keyring

    def keyring_blob(
        self, *, signers: list[SigningKey], roots: list[SigningKey], version: int | None = None
    ) -> bytes:
        """A keyring with the given root set, signed by ``signers`` (for root-rotation attacks)."""
        v = self.keyring_version + 1 if version is None else version
        return build_keyring(
            version=v, root_keys=[bytes(r.verify_key) for r in roots], threshold=len(roots), epoch=self.epoch,
            grants=self.grants, revoked=self.revoked, signers=signers,
        )  # fmt: skip


def resign(
    blob: bytes, key: SigningKey, *, kind: str | None = None, body: bytes | None = None, **changes
) -> bytes:
    """Re-sign ``blob``'s metadata with ``changes`` applied (a genuine signature over altered content)."""
    frame = unpack_frame(blob, DEFAULT_LIMITS)
    meta = msgpack.unpackb(frame.signed, raw=False)
    meta.update(changes)
    kind = kind or frame.kind
    meta["type"] = kind
    return pack(
        kind,
        msgpack.packb(meta, use_bin_type=True),
        [key],
        bytes(frame.body) if body is None else body,
        frame.keyring,
    )


def corrupt_signature(blob: bytes) -> bytes:
    """The same file with one bit of its signature flipped."""
    frame = unpack_frame(blob, DEFAULT_LIMITS)
    kid, sig = frame.sigs[0]
    sigs = [[kid, bytes([sig[0] ^ 1]) + sig[1:]]]
    env = msgpack.packb({"signed": frame.signed, "sigs": sigs, "keyring": frame.keyring}, use_bin_type=True)
    return HEADER.pack(b"SHKL", 1, blob[5], len(env)) + env + bytes(frame.body)


def relabel(blob: bytes, kind: str) -> bytes:
    """The same bytes with another kind in the frame header (signature untouched)."""
    return blob[:5] + bytes([KIND_CODES[kind]]) + blob[6:]


def signed_meta(blob: bytes) -> dict:
    return msgpack.unpackb(unpack_frame(blob, DEFAULT_LIMITS).signed, raw=False)


def body_offset(blob: bytes) -> int:
    return HEADER.size + HEADER.unpack_from(blob)[3]


PROBES = [doc(i) for i in range(40)]


def observe(store) -> tuple:
    """What 'unchanged' means (RELIABILITY): identity plus the lookup result of every probe."""
    hits = tuple(store.lookup_document(p["issuing_state"], p["document_number"]) for p in PROBES)
    return store.identity, hits


__all__ = [
    "LISTED_DOCUMENT",
    "LISTED_PERSON",
    "corrupt_signature",
    "observe",
    "PROBES",
    "Central",
    "T0",
    "DAY",
    "doc",
    "person",
    "resign",
    "relabel",
    "signed_meta",
    "body_offset",
    "sign_list",
    "Signer",
]
