"""The centre's side of enrolment (docs/provisioning.md): one-time tokens, and the desk that answers a new
gate's request — checks the token, registers the device key, signs the TLS certificate request.

    token = issue_token(store, "gate-7", "port-a", ttl=86400, now=time.time())   # read it out to the technician
    desk = EnrolmentDesk(store, node_key, EnrolmentConfig(ca=..., root_pub=..., ...))
    reply = desk.answer("enrol-K7QM2XPA", request_wire)                        # publish on .../reply

Order of the checks (each refusal names its reason, ``agent.provision.enrolment.REFUSALS``): the request's
signature by the key it registers; the token is known (else an unauthenticated ``unknown_token``); its MAC
(else ``bad_token``); the gate and site it was issued for; the root fingerprint the technician pinned; a
token already used is answered again only for the same device key (same certificate, no second
registration: RELIABILITY 37), else ``token_used``; expiry. Only then is the token consumed, in the same
transaction that registers the key.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from agent.keys import root_fingerprint
from agent.protocol import topics
from agent.protocol.envelope import ProtocolError
from agent.provision.enrolment import Grant, Request, build_reply, open_request
from agent.provision.token import Token, new_token
from tools.broker_setup import CertFiles, OpenSslError, sign_csr
from tools.central.store import CentralStore

logger = logging.getLogger(__name__)

MAX_TTL = 30 * 86400.0


def issue_token(store: CentralStore, gate_id: str, site: str, *, ttl: float, now: float,
                replace_reason: str | None = None) -> Token:
    """A new one-time token for ``gate_id`` at ``site``, valid ``ttl`` seconds; with ``replace_reason`` it
    may replace the gate's enrolled device key (a new unit in place of a broken one). Raises ValueError."""
    if not 60 <= ttl <= MAX_TTL:
        raise ValueError(f"token lifetime {ttl:g} s: expected 60 s to 30 days")
    topics.check_id(site, "site")
    token = new_token()
    store.add_token(token.token_id, gate_id, site, token.key(), now, now + ttl, replace_reason)
    return token


@dataclass(frozen=True)
class EnrolmentConfig:
    """What the desk gives an enrolled gate: ``ca`` signs its certificate request (``cert_days`` valid);
    the root, command keys and list it pins; where it connects (empty host: the one it enrolled through)."""

    ca: CertFiles
    root_pub: bytes
    command_pubs: tuple[bytes, ...] = ()
    broker_host: str = ""
    broker_port: int = 8883
    list_id: str = ""
    cert_days: int = 365


class EnrolmentDesk:
    """Answers enrolment requests; ``answer`` is called for each message on ``sharaka/v1/enrol/+/req``."""

    def __init__(self, store: CentralStore, node_key: SigningKey, config: EnrolmentConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self._node_key, self.config, self._clock = store, node_key, config, clock

    def answer(self, client_id: str, wire: bytes) -> bytes | None:
        """The reply to publish on ``sharaka/v1/enrol/{client_id}/reply``, or None for a message that is not a
        request signed by the key it carries, or that came from another client than its token's."""
        try:
            req = open_request(wire)
        except ProtocolError as exc:
            logger.warning("enrolment: request from %r dropped: %s", client_id, exc)
            return None
        if client_id != Token(req.token_id, "").client_id:
            logger.warning("enrolment: request for token %r came from client %r", req.token_id, client_id)
            return None
        now = self._clock()
        row = self.store.token(req.token_id)
        if row is None:
            return self._refuse(req, None, "unknown_token", f"no token {req.token_id!r} was issued")
        key = bytes(row["mac_key"])
        if not req.proof_ok(key):
            return self._refuse(req, None, "bad_token", f"token {req.token_id!r}: the secret part does not match")
        if (req.gate, req.site) != (row["gate_id"], row["site"]):
            return self._refuse(req, key, "wrong_gate", f"token {req.token_id!r} is for gate {row['gate_id']!r} at "
                                f"site {row['site']!r}, not {req.gate!r} at {req.site!r}")
        if req.root_fp and req.root_fp != root_fingerprint(self.config.root_pub):
            return self._refuse(req, key, "root_mismatch", f"this centre's root fingerprint is "
                                f"{root_fingerprint(self.config.root_pub)}, the gate pinned {req.root_fp}")
        if row["used"] is not None:
            if bytes(row["device_pub"] or b"") == req.device_key:  # the same gate asking again: same answer
                return self._grant(req, key, bytes(row["cert"]))
            return self._refuse(req, key, "token_used", f"token {req.token_id!r} was used at "
                                f"{_utc(row['used'])} by another device key")
        if now >= row["expires"]:
            return self._refuse(req, key, "token_expired", f"token {req.token_id!r} expired at {_utc(row['expires'])}")
        try:
            cert = self._sign(req, now)
        except OpenSslError as exc:
            return self._refuse(req, key, "bad_csr", str(exc)[:300])
        try:
            if not self.store.use_token(req.token_id, req.device_key, cert, now):
                return self._refuse(req, key, "token_used", f"token {req.token_id!r} was just used")
        except ValueError as exc:  # the gate id holds another key and the token may not replace it
            return self._refuse(req, key, "gate_enrolled", str(exc))
        logger.info("enrolment: gate %r at %r enrolled with token %r", req.gate, req.site, req.token_id)
        return self._grant(req, key, cert)

    def _grant(self, req: Request, key: bytes, cert: bytes) -> bytes:
        c = self.config
        ca_cert = c.ca.cert.read_bytes()
        grant = Grant(c.root_pub, bytes(self._node_key.verify_key), c.command_pubs, ca_cert, cert, c.broker_host,
                      c.broker_port, c.list_id)
        return build_reply(self._node_key, req, self._clock(), key=key, grant=grant)

    def _refuse(self, req: Request, key: bytes | None, reason: str, detail: str) -> bytes:
        logger.warning("enrolment: gate %r refused (%s): %s", req.gate, reason, detail)
        return build_reply(self._node_key, req, self._clock(), key=key, reason=reason, detail=detail)

    def _sign(self, req: Request, now: float) -> bytes:
        """The gate's device certificate (CN and DNS name = gate id, set by the CA; client and server
        authentication: the broker, and the officer's screen over HTTPS) from its request. Raises OpenSslError,
        also for a gate id that is the broker's own host name (its certificate could then pose as the broker
        to other gates)."""
        if req.gate.lower() == self.config.broker_host.lower():
            raise OpenSslError(f"gate id {req.gate!r} is the broker's host name: no device certificate for it")
        at = dt.datetime.fromtimestamp(now, dt.UTC)
        with tempfile.TemporaryDirectory(prefix="sharaka-enrol-") as tmp:
            csr, out = Path(tmp) / "gate.csr", Path(tmp) / "gate.crt"
            csr.write_bytes(req.csr)
            sign_csr(self.config.ca, csr, out, req.gate, not_before=at - dt.timedelta(hours=1),
                     not_after=at + dt.timedelta(days=self.config.cert_days), device=True)
            return out.read_bytes()


def _utc(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
