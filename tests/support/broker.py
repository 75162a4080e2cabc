"""The test side of the Mosquitto launcher: the broker itself is ``tools.mosquitto.Broker`` (re-exported here),
plus a test PKI and a raw MQTT 5 client with blocking helpers.

    broker = Broker(tmp_path)            # or the pytest fixtures ``broker`` / ``tls_broker``
    user, password = broker.add_gate("gate-a")
    broker.start()                       # returns once the listener accepts connections
    ...  paho.Client(...).connect(broker.host, broker.port)
    broker.restart()                     # SIGTERM, same port, same persistence (sessions and queues survive)
    broker.stop()

The password listener sets ``use_username_as_clientid``; the optional TLS listener (``tls=Pki``) requires a
client certificate from the test CA and takes the CN as username and client id. Both use the ACL of
``tools.broker_setup.acl_text`` (the one shipped in images/mosquitto/). Logs go to ``broker.log_path``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pwd
import queue
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.paths import IMAGES
from tools.broker_setup import (
    ENROL_PASSWORD,
    ENROL_USER,
    CertFiles,
    create_ca,
    issue_cert,
    password_line,
    revoke_cert,
)
from tools.mosquitto import HOST, MOSQUITTO, Broker, BrokerError, free_port, mqtt_connect_probe

__all__ = ["HOST", "MOSQUITTO", "Broker", "BrokerError", "MqttTestClient", "Pki", "free_port", "mqtt_connect_probe",
           "shipped_broker"]

SHIPPED = IMAGES / "mosquitto"
"""The production broker configuration (images/mosquitto/)."""


@dataclass(frozen=True)
class Pki:
    """The test PKI: a CA, a foreign CA, the broker's server certificate, and a place for client certs."""

    dir: Path
    ca: CertFiles
    foreign_ca: CertFiles
    server: CertFiles
    now: dt.datetime

    @classmethod
    def create(cls, directory: Path, *, now: dt.datetime | None = None) -> Pki:
        """Make a CA, a foreign CA and a server cert for 127.0.0.1/localhost under ``directory``."""
        now = now or dt.datetime.now(dt.UTC)
        directory = Path(directory)
        year_ago = now - dt.timedelta(days=365)  # so certificates that expired yesterday were once valid
        ca = create_ca(directory / "ca", "Sharaka test CA", now=now, not_before=year_ago)
        foreign = create_ca(directory / "foreign-ca", "Foreign CA", now=now, not_before=year_ago)
        server = issue_cert(
            ca, directory / "server", "localhost", now=now, server_names=("127.0.0.1", "localhost")
        )
        return cls(directory, ca, foreign, server, now)

    def revoke(self, cert: CertFiles) -> None:
        """Revoke a client certificate; a running broker refuses it from its next ``reload()`` (SIGHUP) on."""
        revoke_cert(self.ca, cert.cert)

    def client_cert(self, common_name: str, *, foreign: bool = False, expired: bool = False) -> CertFiles:
        """A client certificate for ``common_name`` (a gate id or central user): from the test CA, or from the
        foreign CA, or one whose validity ended a day before ``now``. Cached per variant."""
        variant = "foreign" if foreign else "expired" if expired else "valid"
        out = self.dir / "clients" / variant
        cached = CertFiles(out / f"{common_name}.crt", out / f"{common_name}.key")
        if cached.cert.exists():
            return cached
        ca = self.foreign_ca if foreign else self.ca
        if expired:
            return issue_cert(
                ca,
                out,
                common_name,
                now=self.now,
                not_before=self.now - dt.timedelta(days=30),
                not_after=self.now - dt.timedelta(days=1),
            )
        return issue_cert(ca, out, common_name, now=self.now)




class MqttTestClient:
    """A raw paho-mqtt 2.x client (MQTT 5) with blocking helpers that return the broker's reason codes.

    For tests of the broker itself (ACL, identity, TLS, queues); the gate's real client is ``agent/link``.
    With ``cert`` (or ``ca``) it connects to the TLS listener, trusting the test CA unless ``ca`` says otherwise.
    """

    def __init__(
        self,
        broker: Broker,
        username: str | None = None,
        password: str | None = None,
        *,
        client_id: str = "",
        cert: CertFiles | None = None,
        ca: Path | None = None,
        clean_start: bool = True,
        session_expiry: int = 0,
        keepalive: int = 30,
        port: int | None = None,
    ):
        self.broker = broker
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.skipped: list[mqtt.MQTTMessage] = []
        self.connack: ReasonCode | None = None
        self.connack_properties: Properties | None = None
        self.disconnect_reason: ReasonCode | None = None
        self._results: dict[int, object] = {}
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._keepalive = keepalive
        self._clean_start = clean_start
        self._connect_props = Properties(PacketTypes.CONNECT)
        self._connect_props.SessionExpiryInterval = session_expiry
        self._client = c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            c.username_pw_set(username, password)
        self.port = broker.port
        if cert is not None or ca is not None:
            if broker.tls is None or broker.tls_port is None:
                raise BrokerError("a TLS client needs a broker made with tls=Pki")
            self.port = broker.tls_port
            c.tls_set(
                ca_certs=str(ca or broker.tls.ca.cert),
                certfile=str(cert.cert) if cert else None,
                keyfile=str(cert.key) if cert else None,
            )
        self.port = port or self.port  # e.g. a tests/support/netproxy.py proxy in front of the broker
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_result
        c.on_subscribe = self._on_result
        c.on_message = lambda _c, _u, msg: self.messages.put(msg)

    def _on_connect(self, _c, _u, _flags, reason, props) -> None:  # type: ignore[no-untyped-def]
        self.connack = reason
        self.connack_properties = props
        (self._disconnected if reason.is_failure else self._connected).set()

    def _on_disconnect(self, _c, _u, _flags, reason, _props) -> None:  # type: ignore[no-untyped-def]
        self.disconnect_reason = reason
        self._connected.clear()
        self._disconnected.set()

    def _on_result(self, _c, _u, mid, reason, _props) -> None:  # type: ignore[no-untyped-def]
        with self._cond:
            self._results[mid] = reason
            self._cond.notify_all()

    def _wait_result(self, mid: int, timeout: float) -> object:
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._results, timeout):
                raise TimeoutError(f"no acknowledgement for message id {mid} within {timeout} s")
            return self._results.pop(mid)

    def connect(self, timeout: float = 5.0) -> bool:
        """Connect and wait for CONNACK. True when accepted; False when refused or the connection dropped
        first (TLS alert, reset): ``connack`` / ``disconnect_reason`` say why. Raises OSError (e.g. an
        ``ssl.SSLError`` during the handshake) when the transport fails outright."""
        self._disconnected.clear()
        self._client.connect(
            self.broker.host,
            self.port,
            keepalive=self._keepalive,
            clean_start=self._clean_start,
            properties=self._connect_props,
        )
        self._client.loop_start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._connected.is_set():
                return True
            if self._disconnected.is_set():
                return False
            time.sleep(0.005)
        return False

    def publish(
        self, topic: str, payload: bytes = b"x", *, qos: int = 1, retain: bool = False, timeout: float = 5.0,
        properties: Properties | None = None,
    ) -> ReasonCode | None:
        """Publish (with MQTT 5 ``properties``) and return the PUBACK reason code (QoS 1), or None for QoS 0."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if qos == 0:
            info.wait_for_publish(timeout)
            return None
        return self._wait_result(info.mid, timeout)  # type: ignore[return-value]

    def publish_all(self, topic: str, payloads: list[bytes], *, timeout: float = 30.0) -> list[ReasonCode]:
        """Publish every payload at QoS 1 (paho keeps up to 20 in flight), then return the PUBACK reason codes."""
        mids = [self._client.publish(topic, p, qos=1).mid for p in payloads]
        deadline = time.monotonic() + timeout
        return [self._wait_result(mid, max(0.0, deadline - time.monotonic())) for mid in mids]  # type: ignore[misc]

    def subscribe(self, topic: str, *, qos: int = 1, timeout: float = 5.0) -> list[ReasonCode]:
        """Subscribe and return the SUBACK reason codes (one per topic filter)."""
        rc, mid = self._client.subscribe(topic, qos=qos)
        if mid is None:
            raise ConnectionError(f"subscribe to {topic!r} not sent: {mqtt.error_string(rc)}")
        return list(self._wait_result(mid, timeout))  # type: ignore[call-overload]

    def wait_for_message(self, topic: str, timeout: float = 5.0) -> mqtt.MQTTMessage:
        """The next message on ``topic``; others received before it are kept in ``skipped``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no message on {topic!r} within {timeout} s")
            if msg.topic == topic:
                return msg
            self.skipped.append(msg)

    def drain(self) -> list[mqtt.MQTTMessage]:
        """Every message received so far and not yet taken."""
        out, self.skipped = self.skipped, []
        while not self.messages.empty():
            out.append(self.messages.get_nowait())
        return out

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    def wait_for_disconnect(self, timeout: float) -> bool:
        return self._disconnected.wait(timeout)

    def close(self) -> None:
        """Disconnect cleanly (no will) and stop the network thread. That of a client the broker refused or
        dropped is asleep in paho's reconnect wait (a second, not interruptible) and ends when it wakes, seeing
        the client disconnecting: it is not waited for (each refusal test waited the second)."""
        connected = self._connected.is_set()
        self._client.disconnect()
        if connected:
            self._client.loop_stop()
        else:
            threading.Thread(target=self._client.loop_stop, daemon=True).start()

    def __enter__(self) -> MqttTestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> None:
    """``python -m tests.support.broker [N]``: time N starts (to ready) and restarts of the test broker."""
    import statistics
    import sys
    import tempfile

    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    starts, restarts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            b = Broker(Path(tmp) / str(i))
            b.add_gate("gate-a")
            t = time.perf_counter()
            b.start()
            starts.append(time.perf_counter() - t)
            t = time.perf_counter()
            b.restart()
            restarts.append(time.perf_counter() - t)
            b.stop()
    for name, xs in (("start to ready", starts), ("restart (SIGTERM + start)", restarts)):
        xs.sort()
        print(f"{name:28s} n={runs} median {statistics.median(xs) * 1e3:6.1f} ms  max {xs[-1] * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()


def render_shipped(broker: Broker) -> str:
    """The shipped mosquitto.conf with each site-specific line moved to the test's dir and ports; every
    replaced line must be there exactly once, so an edit of the shipped file cannot slip past the tests."""
    assert broker.tls is not None and broker.enrol_port is not None
    etc = broker.dir / "etc"
    text = (SHIPPED / "mosquitto.conf").read_text()
    for old, new in [
        ("user mosquitto\n", f"user {pwd.getpwuid(os.getuid()).pw_name}\n"),
        ("persistence_location /var/lib/mosquitto/\n", f"persistence_location {broker.dir / 'db'}/\n"),
        ("log_dest syslog\n", f"log_dest file {broker.log_path}\n"),
        ("listener 8883\n", f"listener {broker.tls_port} 127.0.0.1\n"),
        ("listener 1883 127.0.0.1\n", f"listener {broker.port} 127.0.0.1\n"),
        ("listener 8884\n", f"listener {broker.enrol_port} 127.0.0.1\n"),
    ]:
        assert text.count(old) == 1, f"shipped mosquitto.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text.replace("/etc/mosquitto/sharaka/", f"{etc}/")


@contextlib.contextmanager
def shipped_broker(base: Path, pki: Pki) -> Iterator[Broker]:
    """A running Mosquitto on images/mosquitto/mosquitto.conf as shipped (paths and ports moved into ``base``),
    its files installed as images/mosquitto/README.md says: the test CA and server certificate, the shipped
    ACLs, the enrolment account's password line; the loopback listener's password file is the broker's."""
    broker = Broker(base, tls=pki, config=render_shipped, enrol=True)
    etc = base / "etc"
    etc.mkdir()
    for src, name in [(pki.ca.cert, "ca.crt"), (pki.server.cert, "server.crt"), (pki.server.key, "server.key"),
                      (pki.ca.cert.parent / "ca.crl", "ca.crl"), (SHIPPED / "acl", "acl"),
                      (SHIPPED / "acl-enrol", "acl-enrol")]:  # fmt: skip
        shutil.copy(src, etc / name)
    (etc / "passwd-enrol").write_text(password_line(ENROL_USER, ENROL_PASSWORD) + "\n")
    broker.passwd_path = etc / "passwd"
    with broker:
        yield broker
