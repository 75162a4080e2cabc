"""The enrolment messages, both sides (docs/provisioning.md "Enrolment"). Pure: bytes in, verified data out.

A new gate sends one ``enrol_req`` on ``sharaka/v1/enrol/enrol-{token id}/req``: signed by its new device
key (proof of possession of the key being registered) and carrying ``proof``, a MAC keyed by the one-time
token over every field. The centre answers ``enrol_reply`` on ``…/reply``, signed by its node key; when it
knows the token its ``proof`` is a MAC by the same token over every field, which is what makes the reply
authentic to the gate before it trusts any key: the token is the only secret the two sides share
(the root key is checked against the technician's pin on top of it).

A refusal the centre cannot MAC (a token it does not know, or a wrong secret) is reported as the
centre's word, unauthenticated: a forger could only make the gate give up, which cutting the cable does too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from nacl.signing import SigningKey, VerifyKey

from agent.errors import RefusedError
from agent.keys import message_key_id, root_fingerprint
from agent.protocol.envelope import ProtocolError, SignatureError, open_signed, peek, seal
from agent.provision.token import Token, mac, mac_ok

REQ, REPLY = "enrol_req", "enrol_reply"

# (exit status, what the technician does): docs/provisioning.md "Exit codes"
REFUSALS: dict[str, tuple[int, str]] = {
    "unknown_token": (5, "the centre does not know this token: check it with the centre, or ask for a new one"),
    "bad_token": (5, "the token's secret part is wrong: type the token again exactly as the centre gave it"),
    "wrong_gate": (5, "the token was issued for another gate id or site: use those, or ask for a token for this gate"),
    "gate_enrolled": (5, "this gate id is enrolled with another device key: to replace a unit, ask the centre for "
                         "a replacement token (sharaka-central token --replace)"),
    "token_expired": (6, "the token has expired: ask the centre for a new one (sharaka-central token)"),
    "token_used": (7, "the token was already used by another device: ask the centre for a new one"),
    "root_mismatch": (3, "the centre's root key is not the one pinned here: check the fingerprint with the centre "
                         "by phone; do not go on if they differ"),
    "bad_csr": (2, "the certificate request was refused: run provision again (it makes a new one)"),
}


class EnrolmentRefused(RefusedError):
    """The centre refused the enrolment (``reason`` one of ``REFUSALS``), or its reply failed a check.
    ``authenticated``: the refusal carried a valid token MAC. Nothing is pinned or registered at the gate."""

    def __init__(self, reason: str, detail: str, *, authenticated: bool = True) -> None:
        status, remedy = REFUSALS.get(reason, (3, "nothing was pinned; check the centre and the token, then retry"))
        word = "" if authenticated else " (unauthenticated reply)"
        super().__init__(f"enrolment refused by the centre: {reason}: {detail}{word}")
        self.reason, self.authenticated = reason, authenticated
        self.exit_status, self.remedy = status, remedy


@dataclass(frozen=True)
class Grant:
    """What the centre gives an enrolled gate: the keys it pins, the TLS CA and its signed certificate,
    where to connect (empty host: the enrolment host) and the list it screens against."""

    root_pub: bytes
    node_pub: bytes
    command_pubs: tuple[bytes, ...]
    ca_cert: bytes
    cert: bytes
    broker_host: str
    broker_port: int
    list_id: str

    def fields(self) -> list[object]:
        """The reply fields the MAC covers, in a fixed order."""
        return [self.root_pub, self.node_pub, list(self.command_pubs), self.ca_cert, self.cert, self.broker_host,
                self.broker_port, self.list_id]


@dataclass(frozen=True)
class Request:
    """A verified enrolment request (signature by ``device_key``; the token MAC is checked by ``proof_ok``)."""

    id: str
    ts: float
    gate: str
    site: str
    token_id: str
    device_key: bytes
    csr: bytes
    root_fp: str
    proof: bytes

    def fields(self) -> list[object]:
        """The request fields the MAC covers, in a fixed order."""
        return [self.id, self.gate, self.site, self.token_id, self.device_key, self.csr, self.root_fp]

    def proof_ok(self, key: bytes) -> bool:
        """True when the request was made by a holder of the token whose MAC key is ``key``."""
        return mac_ok(key, REQ, self.fields(), self.proof)


def build_request(token: Token, device_key: SigningKey, gate: str, site: str, csr: bytes, root_fp: str,
                  now: float) -> tuple[str, bytes]:
    """(request id, wire) of an enrolment request; ``root_fp`` is the pinned root's fingerprint or ""."""
    req = Request(uuid.uuid4().hex, now, gate, site, token.token_id, bytes(device_key.verify_key), csr, root_fp,
                  b"")
    proof = mac(token.key(), REQ, req.fields())
    body = {"id": req.id, "ts": now, "gate": gate, "site": site, "token": token.token_id,
            "device_key": req.device_key, "csr": csr, "root_fp": root_fp, "proof": proof}
    return req.id, seal(REQ, body, [device_key])


def open_request(wire: bytes) -> Request:
    """The request in ``wire``, its signature verified by the device key it carries. Raises ProtocolError
    (malformed) or SignatureError (not signed by that key)."""
    body, _ = peek(REQ, wire)
    key = VerifyKey(body["device_key"])
    body, _ = open_signed(REQ, wire, {message_key_id(key): key})
    return Request(body["id"], body["ts"], body["gate"], body["site"], body["token"], body["device_key"],
                   body["csr"], body["root_fp"], body["proof"])


def build_reply(node_key: SigningKey, req: Request, now: float, *, key: bytes | None, grant: Grant | None = None,
                reason: str = "ok", detail: str = "") -> bytes:
    """The centre's signed reply to ``req``: a grant, or a refusal ``reason``. With the token's MAC ``key``
    (None when the centre does not know the token) it carries the MAC the gate needs to trust it."""
    ok = grant is not None
    body: dict[str, object] = {"id": uuid.uuid4().hex, "ts": now, "gate": req.gate, "req": req.id, "ok": ok,
                               "reason": reason, "detail": detail[:1000]}
    if grant is not None:
        body.update(root_pub=grant.root_pub, node_pub=grant.node_pub, command_pubs=list(grant.command_pubs),
                    ca_cert=grant.ca_cert, cert=grant.cert, broker_host=grant.broker_host,
                    broker_port=grant.broker_port, list_id=grant.list_id)
    covered = [req.id, req.gate, ok, reason, *(grant.fields() if grant else [])]
    body["proof"] = mac(key, REPLY, covered) if key is not None else b""
    return seal(REPLY, body, [node_key])


@dataclass(frozen=True)
class Reply:
    """A verified grant and the centre's time when it answered (the checklist compares the clocks)."""

    grant: Grant
    ts: float


def open_reply(wire: bytes, token: Token, req_id: str, *, root_pub: bytes | None = None,
               root_fp: str = "") -> Reply | None:
    """Judge the centre's reply to ``req_id``: the Grant (MAC by ``token`` valid, signed by the node key it
    names, root key equal to ``root_pub`` or of fingerprint ``root_fp``), None for a reply to another
    request. Raises EnrolmentRefused (a refusal, or a reply that fails a check) or ProtocolError."""
    body, _ = peek(REPLY, wire)
    if body["req"] != req_id:
        return None
    grant = None
    if body["ok"]:
        try:
            grant = Grant(body["root_pub"], body["node_pub"], tuple(body["command_pubs"]), body["ca_cert"],
                          body["cert"], body["broker_host"], body["broker_port"], body["list_id"])
        except KeyError as exc:
            raise EnrolmentRefused("malformed", f"the reply grants enrolment without {exc}") from None
    covered = [req_id, body["gate"], body["ok"], body["reason"], *(grant.fields() if grant else [])]
    authentic = mac_ok(token.key(), REPLY, covered, body["proof"])
    if grant is None:
        raise EnrolmentRefused(body["reason"], body["detail"], authenticated=authentic)
    if not authentic:
        raise EnrolmentRefused("forged_reply", "the reply is not authenticated by the token: it did not come "
                                               "from the centre that issued it")
    node = VerifyKey(grant.node_pub)
    try:
        open_signed(REPLY, wire, {message_key_id(node): node})
    except SignatureError:
        raise EnrolmentRefused("forged_reply", "the reply is not signed by the node key it names") from None
    if root_pub is not None and grant.root_pub != root_pub:
        raise EnrolmentRefused("root_mismatch", f"the centre's root key has fingerprint "
                               f"{root_fingerprint(grant.root_pub)}, the pinned one {root_fingerprint(root_pub)}")
    if root_fp and root_fingerprint(grant.root_pub) != root_fp:
        raise EnrolmentRefused("root_mismatch", f"the centre's root key has fingerprint "
                               f"{root_fingerprint(grant.root_pub)}, the one typed is {root_fp}")
    return Reply(grant, float(body["ts"]))


__all__ = ["REFUSALS", "EnrolmentRefused", "Grant", "ProtocolError", "Reply", "Request", "build_reply",
           "build_request", "open_reply", "open_request"]
