"""`sharaka-central cmd`'s own broker session (docs/broker.md "Identity", issue 8.9).

The central node (``sharaka-central run``) holds a persistent session as ``central``; a command sender that
logged in with the same identity would take that session over (``use_username_as_clientid``), and the
messages the broker delivered to it would never reach the node. ``CommandSender`` therefore logs in as its
own user (``central-cmd`` by default, which the broker ACL lets publish ``gates/+/cmd`` and read
``gates/+/cmd/result`` only), with a clean, non-persistent session, subscribes to the one gate's results,
and verifies the result under that gate's registered device key. The node, if running, records the same
result from its own subscription.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey, VerifyKey

from agent.errors import TransportError
from agent.keys import trusted
from agent.protocol import topics
from agent.protocol.envelope import ProtocolError, open_signed
from tools.central.node import CentralConfig, sign_command
from tools.central.store import CentralStore

COMMAND_USER = "central-cmd"


class CommandSender:
    """Send one signed command and wait for its result. ``connect()``, ``send()``, ``wait_for_result()``, ``close()``."""

    def __init__(
        self,
        config: CentralConfig,
        store: CentralStore,
        command_keys: list[SigningKey],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self._keys = list(command_keys)
        self._clock = clock
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._gate = ""
        self._cmd_id = ""
        self._trusted: dict[bytes, VerifyKey] = {}
        self.result: dict[str, Any] = {}
        user = config.username or COMMAND_USER
        # a broker with use_username_as_clientid replaces this by the username; others keep it unique
        self._client = config.client(f"{user}-{uuid.uuid4().hex[:8]}")
        self.refused: str | None = None  # the broker's reason when it refused the connection
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._client.on_message = self._on_message

    def connect(self, timeout: float) -> bool:
        """Connect with a clean session; True once the broker accepted it within ``timeout`` seconds (False when it
        refused it, e.g. a wrong password, or did not answer)."""
        self._client.connect_async(self.config.host, self.config.port, 30, clean_start=True)
        self._client.loop_start()
        return self._connected.wait(timeout) and self.refused is None

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
        self._connected.set()

    def send(self, gate_id: str, op: str, args: dict[str, Any] | None, *, ttl: float, timeout: float) -> str:
        """Sign the command with this sender's keys and send it (``send_wire``); returns its id."""
        cmd_id, wire = sign_command(self.store, self._keys, gate_id, op, args, ttl, self._clock())
        self.send_wire(gate_id, cmd_id, wire, timeout=timeout)
        return cmd_id

    def send_wire(self, gate_id: str, cmd_id: str, wire: bytes, *, timeout: float) -> None:
        """Subscribe to the gate's results and publish an already signed command (``cosign``). Raises ValueError
        for a gate not enrolled, TransportError when the broker does not acknowledge the subscription in time."""
        devices = self.store.device_keys(gate_id)  # with a rotation pending: the old key and the new one
        if not devices:
            raise ValueError(f"gate {gate_id!r} is not enrolled in {self.store.where!r}")
        self._trusted = trusted(devices)
        self._client.subscribe(topics.gate(gate_id, topics.CMD_RESULT), qos=1)
        if not self._subscribed.wait(timeout):  # sent anyway, its result could come before we listen for it
            raise TransportError(f"the broker did not acknowledge the subscription to {gate_id}'s command results "
                                 f"within {timeout:g} s")
        with self._lock:
            self._gate, self._cmd_id = gate_id, cmd_id
        self._client.publish(topics.gate(gate_id, topics.CMD), wire, qos=1)

    def wait_for_result(self, timeout: float) -> dict[str, Any] | None:
        """The verified result of the command sent (also recorded in the store), or None after ``timeout``."""
        return self.result if self._done.wait(timeout) else None

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            gate_id, cmd_id = self._gate, self._cmd_id
        try:
            body, _ = open_signed("cmd_result", bytes(msg.payload), self._trusted)
        except ProtocolError:
            return  # not from the gate's registered key: the node counts such rejects, not this tool
        if body["gate"] != gate_id or body["cmd_id"] != cmd_id:
            return
        detail = str(body.get("detail", ""))
        op = self.store.command_result(cmd_id, gate_id, body["ok"], body["reason"], detail)
        self.result = {"gate": gate_id, "cmd_id": cmd_id, "op": op, "ok": body["ok"], "reason": body["reason"],
                       "detail": detail}
        self._done.set()
