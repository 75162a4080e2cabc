"""The gate's short MQTT conversations while provisioning: the enrolment exchange on the enrolment listener,
and the connection test on the gate's own listener (docs/provisioning.md "Broker access before enrolment").

    ep = Endpoint.parse("mqtts://broker.example:8884")
    wire = exchange(ep, "enrol-K7QM2XPA", request, accept, timeout=20)      # the reply ``accept`` took
    probe(Endpoint("broker.example", 8883, True), "gate-7", tls=(ca, cert, key))  # raises LinkProblem

Every failure becomes a ``LinkProblem`` whose ``kind`` the checklist turns into words (network, broker
certificate, gate certificate, refused, no answer).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.errors import TransportError, UsageError
from agent.protocol import topics

ENROL_USER = ENROL_PASSWORD = "enrol"  # public by design; the broker's side is tools.broker_setup.ENROL_USER
RESEND_S = 5.0


class LinkProblem(TransportError):
    """A connection that failed; ``kind``: ``network`` (no TCP), ``broker_cert`` (the broker's certificate is
    not from the pinned CA), ``gate_cert`` (the broker refused the gate's certificate), ``refused`` (CONNACK
    refused) or ``no_answer`` (connected, the centre did not answer)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        if kind == "broker_cert":
            self.exit_status = 3
            self.remedy = ("the gate refuses a broker its pinned CA did not certify: check the broker address, that "
                           "the network is not a hotel or captive portal, and the CA file with the centre")


@dataclass(frozen=True)
class Endpoint:
    """A broker address: host, port, TLS or not."""

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """``mqtt://HOST[:PORT]`` (default 1883) or ``mqtts://HOST[:PORT]`` (default 8883). Raises UsageError."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # "Invalid IPv6 URL" (an unbalanced bracket) or a port out of range
            raise UsageError(f"broker URL {url!r}: expected mqtts://HOST[:PORT] (or mqtt:// on a lab network)") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
            raise UsageError(f"broker URL {url!r}: expected mqtts://HOST[:PORT] (or mqtt:// on a lab network)")
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, port or (8883 if tls else 1883), tls)

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def new_client(client_id: str, ep: Endpoint, *, ca: Path | None, cert: Path | None = None,
            key: Path | None = None) -> mqtt.Client:
    """A one-shot MQTT 5 client (no reconnects); with TLS it checks the broker against ``ca`` and shows the
    gate's certificate, or without ``ca`` (the enrolment channel) accepts any broker certificate."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                         reconnect_on_failure=False)
    if ep.tls:
        if ca is None:  # the enrolment channel's trust comes from the token MAC, not from TLS
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            client.tls_set_context(ctx)
        else:
            client.tls_set(ca_certs=str(ca), certfile=str(cert) if cert else None, keyfile=str(key) if key else None,
                           tls_version=ssl.PROTOCOL_TLS_CLIENT)
    return client


def connect(client: mqtt.Client, ep: Endpoint, timeout: float) -> None:
    """Connect and wait for CONNACK; the network loop runs from then on. Raises LinkProblem with the kind of
    failure."""
    done = threading.Event()
    result: dict[str, Any] = {}

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        result["reason"] = reason
        done.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        result.setdefault("lost", reason)
        done.set()

    client.on_connect, client.on_disconnect = on_connect, on_disconnect
    client.connect_timeout = timeout
    try:
        client.connect(ep.host, ep.port, keepalive=30)
    except ssl.SSLCertVerificationError as exc:
        raise LinkProblem("broker_cert", f"the broker at {ep} showed a certificate the pinned CA did not sign "
                                         f"({exc.verify_message})") from None
    except ssl.SSLError as exc:
        raise LinkProblem("gate_cert", f"TLS with the broker at {ep} failed: {exc.reason or exc}") from None
    except OSError as exc:  # refused, unreachable, timed out, name not found
        raise LinkProblem("network", f"cannot reach the broker at {ep}: {exc.strerror or exc}") from None
    client.loop_start()
    if not done.wait(timeout):
        client.loop_stop()
        raise LinkProblem("network", f"the broker at {ep} did not answer within {timeout:g} s")
    reason = result.get("reason")
    if reason is None:  # the TLS session was closed during the MQTT handshake: the gate's certificate
        client.loop_stop()
        raise LinkProblem("gate_cert", f"the broker at {ep} closed the connection ({result.get('lost')}): it does "
                                       "not accept this gate's certificate")
    if reason.is_failure:
        client.loop_stop()
        raise LinkProblem("refused", f"the broker at {ep} refused the connection: {reason}")


def reach(ep: Endpoint, *, ca: Path | None = None, timeout: float = 10.0) -> None:
    """A TCP connection to ``ep`` and, for TLS, the handshake (the broker's certificate checked against ``ca``
    when given): what provision proves before it writes anything. Raises LinkProblem."""
    try:
        sock = socket.create_connection((ep.host, ep.port), timeout=timeout)
    except OSError as exc:
        raise LinkProblem("network", f"cannot reach the broker at {ep}: {exc.strerror or exc}") from None
    try:
        if ep.tls:
            ctx = ssl.create_default_context(cafile=str(ca)) if ca is not None else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if ca is None:
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            else:
                ctx.check_hostname = False  # the CA pins the broker; its address may be an IP the certificate omits
            try:
                ctx.wrap_socket(sock, server_hostname=ep.host).close()
            except ssl.SSLCertVerificationError as exc:
                raise LinkProblem("broker_cert", f"the broker at {ep} showed a certificate the pinned CA did not "
                                                 f"sign ({exc.verify_message})") from None
            except (ssl.SSLError, OSError) as exc:
                raise LinkProblem("network", f"TLS with the broker at {ep} failed: {exc}") from None
    finally:
        sock.close()


def exchange(ep: Endpoint, client_id: str, request: bytes, accept: Callable[[bytes], Any], *,
             ca: Path | None = None, timeout: float = 20.0) -> Any:
    """Send ``request`` on ``sharaka/v1/enrol/{client_id}/req`` (again every few seconds) until a reply on
    ``…/reply`` for which ``accept`` returns something other than None; returns that. Exceptions ``accept``
    raises end the exchange. Raises LinkProblem (``no_answer`` after ``timeout``)."""
    client = new_client(client_id, ep, ca=ca)
    client.username_pw_set(ENROL_USER, ENROL_PASSWORD)
    replies: list[bytes] = []
    arrived = threading.Condition()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with arrived:
            replies.append(bytes(msg.payload))
            arrived.notify_all()

    client.on_message = on_message
    connect(client, ep, timeout)
    try:
        subscribed = threading.Event()
        client.on_subscribe = lambda *_a: subscribed.set()
        client.subscribe(topics.enrol(client_id, topics.ENROL_REPLY), qos=1)
        subscribed.wait(timeout)
        deadline = time.monotonic() + timeout
        next_send = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_send:
                client.publish(topics.enrol(client_id, topics.ENROL_REQ), request, qos=1)
                next_send = time.monotonic() + RESEND_S
            with arrived:
                if not replies:
                    arrived.wait(min(0.2, max(0.0, deadline - time.monotonic())))
                pending, replies[:] = list(replies), []
            for wire in pending:
                got = accept(wire)
                if got is not None:
                    return got
        raise LinkProblem("no_answer", f"connected to {ep}, but the centre did not answer within {timeout:g} s")
    finally:
        client.disconnect()
        client.loop_stop()


def probe(ep: Endpoint, client_id: str, *, ca: Path, cert: Path, key: Path, timeout: float = 10.0) -> None:
    """Connect as the gate with its certificate and disconnect (clean session, nothing published). Raises
    LinkProblem naming what failed."""
    client = new_client(client_id, ep, ca=ca, cert=cert, key=key)
    connect(client, ep, timeout)
    client.disconnect()
    client.loop_stop()
