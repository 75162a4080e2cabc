"""The connection supervisor: one fresh paho client per connection, reconnect with jittered backoff.

One thread connects, runs paho's network loop while connected and, once the connection is lost, waits
a full-jitter exponential backoff (reset by a connection that lived ``stable_after`` seconds) before
the next attempt. Each attempt is a new link session (persisted in ``link.json``, reported in status).
MQTT 5 with a persistent session; a broker that refuses MQTT 5 is spoken to in 3.1.1 from then on.
What arrives is handed to a ``ConnectionListener`` (the link) on paho's network thread.
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from agent.durable import read_json, write_json
from agent.link.config import LinkConfig
from agent.protocol import topics

logger = logging.getLogger(__name__)

UNSUPPORTED_PROTOCOL = 0x84  # CONNACK reason: the broker does not speak MQTT 5


def no_delay(client: mqtt.Client) -> None:
    """Send small packets at once (TCP_NODELAY). paho leaves Nagle's algorithm on, and with QoS 1 a reply
    written right after a PUBACK then waits for the peer's delayed ACK (~40 ms): an online query's answer
    would miss its deadline for nothing (docs/online-query.md). The shipped broker sets
    ``set_tcp_nodelay true`` on its side (images/mosquitto/mosquitto.conf)."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:  # a socket that cannot say (not TCP): nothing to gain
            logger.debug("TCP_NODELAY not set", extra={"fields": {"error": str(exc)}})


def end_network_loop(client: mqtt.Client) -> None:
    """Stop ``client``'s network thread (``loop_start``) and wait for it; nothing when none runs.

    paho 2.2's ``loop_stop`` reads the client's thread twice, to check it and then to join it, while that
    thread clears it in its last line when it ends by itself (a lost connection: exactly when the
    supervisor wakes to stop it). Cleared in between, the join raises ``AttributeError`` on None. The
    thread has then left its loop and is ending: there is nothing left to wait for.
    """
    try:
        client.loop_stop()
    except AttributeError:
        logger.debug("paho's network thread ended while loop_stop looked at it")


def loop_timeout(keepalive: int) -> float:
    """How long paho's network thread waits in ``select()`` for traffic: a tenth of the keepalive, 1 to 2.5 s.
    Nothing else needs it awake: a publish from another thread wakes it (paho's socket pair), and only its
    keepalive checks (send a PINGREQ, give up on a silent broker) run on the timeout, which makes each at most
    this late: a dead link is still noticed within 2 x keepalive + 5 s (RELIABILITY 21). paho's own thread waits
    1 s: an idle gate's network thread (keepalive 30 s) then wakes every 2.5 s, not every second."""
    return min(2.5, max(1.0, keepalive / 10))


class _Client(mqtt.Client):
    """paho's client, its network thread (``loop_start``) waiting ``loop_timeout`` in ``select()``."""

    loop_timeout = 1.0

    def _thread_main(self) -> None:  # paho 2.2's ``_thread_main`` with the timeout; if paho renames it, 1 s
        try:
            self.loop_forever(timeout=self.loop_timeout, retry_first_connection=True)
        finally:
            self._thread = None


class ConnectionListener(Protocol):
    """What the connection tells the link (called on paho's network thread; must not block)."""

    def subscriptions(self) -> list[tuple[str, int]]:
        """Topic filters and QoS to subscribe to on every connection."""
        ...

    def will(self) -> bytes:
        """The signed ``offline`` status the broker publishes when the connection dies."""
        ...

    def on_connected(self) -> None:
        """CONNACK accepted and subscriptions sent."""
        ...

    def on_lost(self) -> None:
        """The connection ended (called on the supervisor thread, after the client is gone)."""
        ...

    def on_message(self, msg: mqtt.MQTTMessage) -> None:
        """A message on a subscribed topic."""
        ...

    def on_puback(self, mid: int, failure: str | None) -> None:
        """The broker answered a QoS 1 publish; ``failure`` is its reason when refused (>= 0x80)."""
        ...


def backoff(attempt: int, lo: float, hi: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff (AWS architecture blog): uniform in [lo, min(hi, lo * 2^n)]."""
    return rng.uniform(lo, min(hi, lo * (2**attempt)))


class Connection:
    """Keeps one gate connected to the broker; ``start()``/``stop()``, ``publish()`` while connected."""

    def __init__(
        self,
        config: LinkConfig,
        listener: ConnectionListener,
        state_dir: Path,
        *,
        monotonic: Callable[[], float],
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.protocol = config.protocol
        self._listener = listener
        self._session_file = Path(state_dir) / "link.json"
        self.session = int(read_json(self._session_file, {"session": 0})["session"])
        self._mono = monotonic
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._subscribed = threading.Event()  # the broker acknowledged this connection's subscriptions
        self._subscribe_mid: int | None = None
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the supervisor thread; returns at once."""
        self._thread = threading.Thread(target=self._supervise, name=f"link-{self.config.gate_id}-supervisor",
                                        daemon=True)
        self._thread.start()

    def stop(self, last_words: bytes | None, timeout: float) -> None:
        """Publish ``last_words`` (retained status) when connected, disconnect and join the thread."""
        client = self.client
        if client is not None and last_words is not None:
            try:
                info = client.publish(self.status_topic, last_words, qos=1, retain=True)
                info.wait_for_publish(timeout=min(timeout, 2.0))
            except (RuntimeError, ValueError, OSError):
                pass
        self._stop.set()
        if client is not None:
            client.disconnect()
        self._lost.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def is_connected(self) -> bool:
        """True while a connection is up (CONNACK accepted)."""
        return self._connected.is_set()

    def wait_for_subscribed(self, timeout: float) -> bool:
        """True once connected and the broker acknowledged the subscriptions (SUBACK) within ``timeout``
        seconds: from then on a message published to the gate's topics reaches it."""
        return self._subscribed.wait(timeout)

    @property
    def client(self) -> mqtt.Client | None:
        """The connected client, or None."""
        with self._lock:
            client = self._client
        return client if self._connected.is_set() else None

    @property
    def status_topic(self) -> str:
        """Where this gate's retained status lives."""
        return topics.gate(self.config.gate_id, topics.STATUS)

    def publish(self, topic: str, wire: bytes, *, retain: bool = False, properties: Properties | None = None,
                qos: int = 1) -> mqtt.MQTTMessageInfo | None:
        """Publish (QoS 1 unless told) while connected; None when there is no connection (nothing was sent)."""
        client = self.client
        if client is None:
            return None
        return client.publish(topic, wire, qos=qos, retain=retain, properties=properties)

    # ------------------------------------------------------------------ supervisor thread
    def _new_client(self) -> mqtt.Client:
        cfg = self.config
        proto = mqtt.MQTTv5 if self.protocol == 5 else mqtt.MQTTv311
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.gate_id,
            protocol=proto,
            reconnect_on_failure=False,
            clean_session=None if proto == mqtt.MQTTv5 else False,
        )
        client.loop_timeout = loop_timeout(cfg.keepalive)
        client.max_inflight_messages_set(cfg.paho_inflight)
        client.max_queued_messages_set(0)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.ca_file:
            client.tls_set(
                ca_certs=cfg.ca_file, certfile=cfg.cert_file, keyfile=cfg.key_file, tls_version=ssl.PROTOCOL_TLS_CLIENT
            )
        will_props = None
        if proto == mqtt.MQTTv5:
            will_props = Properties(PacketTypes.WILLMESSAGE)
            will_props.WillDelayInterval = cfg.will_delay
        client.will_set(self.status_topic, self._listener.will(), qos=1, retain=True, properties=will_props)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        return client

    def _supervise(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self.session += 1
            write_json(self._session_file, {"session": self.session})
            client = self._new_client()
            lost = threading.Event()  # per connection: a late callback of an old client cannot end this one
            client.user_data_set(lost)
            self._lost = lost
            if self._stop.is_set():  # stop() ran before this connection's event existed: it set the previous
                break                # one, and nothing would ever set this one (a connected gate after stop)
            started = self._mono()
            try:
                kwargs: dict[str, Any] = {}
                if self.protocol == 5:
                    props = Properties(PacketTypes.CONNECT)
                    props.SessionExpiryInterval = max(self.config.will_delay * 2, 60)
                    kwargs = {"clean_start": False, "properties": props}
                client.connect(self.config.host, self.config.port, self.config.keepalive, **kwargs)
                with self._lock:
                    self._client = client
                client.loop_start()
                lost.wait()
                end_network_loop(client)
            except (OSError, ssl.SSLError) as exc:
                logger.info("connect failed", extra={"fields": {
                    "gate": self.config.gate_id, "host": self.config.host, "port": self.config.port, "error": str(exc)}})
            with self._lock:
                self._client = None
                self._connected.clear()
                self._subscribed.clear()
            self._listener.on_lost()
            end_network_loop(client)
            try:
                client.disconnect()
            except (OSError, RuntimeError):
                pass
            if self._stop.is_set():
                break
            attempt = 0 if self._mono() - started >= self.config.stable_after else attempt + 1
            self._stop.wait(backoff(attempt, self.config.backoff_min, self.config.backoff_max, self._rng))

    # ------------------------------------------------------------------ paho callbacks (network thread)
    def _on_connect(self, client: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        no_delay(client)
        if reason.is_failure:
            logger.warning("connection refused", extra={"fields": {
                "gate": self.config.gate_id, "reason": str(reason)}})
            if self.protocol == 5 and reason.value == UNSUPPORTED_PROTOCOL:
                self.protocol = 4  # broker lacks MQTT 5: fall back to 3.1.1
            return
        self._subscribe_mid = client.subscribe(self._listener.subscriptions())[1]
        self._listener.on_connected()
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, lost: threading.Event, _flags: Any, reason: Any, _props: Any) -> None:
        logger.info("disconnected", extra={"fields": {"gate": self.config.gate_id, "reason": str(reason)}})
        if lost is self._lost:
            self._connected.clear()
            self._subscribed.clear()
        lost.set()

    def _on_subscribe(self, _c: mqtt.Client, lost: threading.Event, mid: int, _codes: Any, _props: Any) -> None:
        if lost is self._lost and mid == self._subscribe_mid:
            self._subscribed.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: ReasonCode, _props: Any) -> None:
        self._listener.on_puback(mid, str(reason) if reason.is_failure else None)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._listener.on_message(msg)
