"""Two-phase device-key rotation at the gate (docs/protocol.md "Device-key rotation", RELIABILITY 43).

1. ``start()`` (the ``rotate_device_key`` command): a new key is generated and written durably next to
   the device key (``device.key.new``, 0600, then ``rotation.json``) before anything is sent. The gate
   keeps signing everything with the old key.
2. ``request()``: the ``key_rotation`` message carrying the new public key, signed by the old key (the
   centre knows it) and by the new key (proof of possession). Resent every ``retry`` seconds and after
   every reconnect (``due``) until the centre confirms; the centre accepts both keys meanwhile.
3. ``confirm(body)``: the centre's node-signed ``key_confirm`` naming the new key. Only now
   ``device.key.new`` replaces ``device.key`` (durable rename) and the gate signs with the new key; the
   centre retires the old key when it first sees the new one used.

A message lost at any step is retried; a restart at any step resumes from the files, so the gate always
holds a key the centre accepts: the old one until the confirmation, the new one after it.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from agent.durable import atomic_write, durable_replace, read_json, write_json
from agent.keys import message_key_id
from agent.protocol.envelope import seal

logger = logging.getLogger(__name__)

FORMAT = 1  # rotation.json: {"v": 1, "req": request id, "new_key": hex public key, "since": seconds}


class DeviceKey:
    """The gate's device key (``current``) and its pending rotation, if any. The link's worker owns the
    rotation; ``current`` is read by any thread (replaced whole).

    ``key_path`` is the device key file (``None``: the key lives in memory only, as in tests); the
    pending key and ``rotation.json`` live in ``state_dir``."""

    def __init__(self, key: SigningKey, *, gate_id: str, state_dir: Path, key_path: Path | None = None,
                 retry: float = 10.0) -> None:
        self.current = key
        self.gate_id = gate_id
        self.retry = retry
        self._key_path = key_path
        self._new_path = Path(str(key_path) + ".new") if key_path is not None else Path(state_dir) / "device.key.new"
        self._state_path = Path(state_dir) / "rotation.json"
        self.pending: SigningKey | None = None
        self.req = ""
        self.since = 0.0
        self._sent_at: float | None = None
        self.confirmed = 0
        self._resume()

    def _resume(self) -> None:
        """Pick up a rotation a restart interrupted (or finish one whose switch was done)."""
        try:
            state = read_json(self._state_path, {})
        except ValueError as exc:
            logger.error("rotation state unreadable, rotation dropped",
                         extra={"fields": {"gate": self.gate_id, "error": str(exc)}})
            state = {}
        if not state:
            return
        try:
            new = SigningKey(self._new_path.read_bytes()) if self._new_path.exists() else None
        except (OSError, ValueError, TypeError) as exc:
            logger.error("pending device key unreadable, rotation dropped",
                         extra={"fields": {"gate": self.gate_id, "error": str(exc)}})
            new = None
        if new is None or bytes(new.verify_key) == bytes(self.current.verify_key):
            self._clear()  # never started, or switched before the state file was removed
            return
        if bytes(new.verify_key).hex() != state.get("new_key"):
            logger.error("pending device key does not match rotation.json; rotation dropped",
                         extra={"fields": {"gate": self.gate_id}})
            self._clear()
            return
        self.pending, self.req, self.since = new, str(state.get("req", "")), float(state.get("since", 0.0))
        logger.info("resuming device-key rotation", extra={"fields": {
            "gate": self.gate_id, "new_key": message_key_id(bytes(new.verify_key)).hex()}})

    def start(self, now: float) -> str:
        """Begin a rotation (or repeat the pending one): the new key is on disk before this returns."""
        if self.pending is None:
            new = SigningKey.generate()
            atomic_write(self._new_path, bytes(new), mode=0o600)
            self.req, self.since = uuid.uuid4().hex, now
            write_json(self._state_path, {"v": FORMAT, "req": self.req, "new_key": bytes(new.verify_key).hex(),
                                          "since": now})
            self.pending = new
        self._sent_at = None  # send the request now
        return f"rotation requested new_key_id={message_key_id(bytes(self.pending.verify_key)).hex()}"

    def due(self, mono: float) -> bool:
        """True when the request should be (re)sent now."""
        return self.pending is not None and (self._sent_at is None or mono - self._sent_at >= self.retry)

    def reconnected(self) -> None:
        """A new connection: resend a pending request at once."""
        self._sent_at = None

    def request(self, ts: float, mono: float) -> bytes:
        """The signed ``key_rotation`` message for the pending key (signed by the old key and the new one)."""
        if self.pending is None:
            raise ValueError("no device-key rotation is pending")
        self._sent_at = mono
        body = {"id": self.req, "ts": ts, "gate": self.gate_id, "new_key": bytes(self.pending.verify_key)}
        return seal("key_rotation", body, [self.current, self.pending])

    def confirm(self, body: dict[str, Any]) -> bool:
        """Switch to the pending key if ``body`` (a verified ``key_confirm``) names it; True when switched."""
        if self.pending is None or body.get("gate") != self.gate_id:
            return False
        if bytes(body.get("new_key", b"")) != bytes(self.pending.verify_key):
            return False
        if self._key_path is not None:
            durable_replace(self._new_path, self._key_path)  # from here on a restart loads the new key
            atomic_write(Path(str(self._key_path) + ".pub"), bytes(self.pending.verify_key), mode=0o644)
        self.current, self.pending = self.pending, None
        self._clear()
        self.confirmed += 1
        logger.info("device key rotated", extra={"fields": {
            "gate": self.gate_id, "new_key": message_key_id(bytes(self.current.verify_key)).hex()}})
        return True

    def _clear(self) -> None:
        self.pending, self._sent_at = None, None
        for p in (self._state_path, *(() if self._key_path is not None else (self._new_path,))):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass

    def status(self) -> dict[str, Any]:
        """The device key id and the pending rotation (for the gate's status)."""
        out: dict[str, Any] = {"device_key": message_key_id(bytes(self.current.verify_key)).hex(), "rotations": self.confirmed}
        if self.pending is not None:
            out["pending_key"] = message_key_id(bytes(self.pending.verify_key)).hex()
            out["pending_since"] = self.since
        return out
