"""Remote commands at the gate (docs/protocol.md "Commands", RELIABILITY 15): judge, run, report.

A ``cmd`` message is accepted by ``agent.protocol.commands.CommandGuard`` (signatures, gate, expiry on
the trusted time, replay) and run by the handler registered for its operation; the signed
``cmd_result`` says what happened. A rejected command and a failing handler are reported, never fatal.
``rotate_device_key`` only starts a two-phase rotation (``agent.link.rotation``): the gate keeps its
key until the centre has confirmed the new one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from nacl.signing import VerifyKey

from agent.hitlist.trust import Keyring
from agent.keys import list_key_id
from agent.link.config import LinkStats
from agent.link.rotation import DeviceKey
from agent.protocol.commands import CommandGuard, CommandKeys, CommandRejected
from agent.protocol.envelope import ProtocolError, seal
from agent.protocol.trusted_time import TrustedClock

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], str]  # command args -> detail for the result


def trusted_command_keys(
    pinned: list[VerifyKey], keyring: Callable[[], Keyring | None]
) -> Callable[[float], CommandKeys]:
    """The command keys a gate trusts at trusted time ``now``: those the root-signed keyring certifies with
    the ``command`` role (valid, not revoked, with their holders), and the keys pinned in the config
    (``[link] command_pubs``, each its own holder) unless the keyring revokes them. Asked at every
    command, so a revocation delivered over MQTT takes effect at once (RELIABILITY 46)."""

    def at(now: float) -> CommandKeys:
        ring = keyring()
        revoked = ring.revoked if ring is not None else frozenset()
        pairs: list[tuple[VerifyKey | bytes, str]] = [(k, "") for k in pinned if list_key_id(k) not in revoked]
        if ring is not None:
            pairs += [(g.public_key, g.holder) for g in ring.granted("command", now)]
        return CommandKeys.of(pairs)

    return at


class CommandRunner:
    """Accepts commands on the trusted time, runs their handler and publishes the signed result."""

    def __init__(
        self,
        gate_id: str,
        guard: CommandGuard,
        trusted_time: TrustedClock,
        key: DeviceKey,
        handlers: Mapping[str, Handler],
        *,
        publish: Callable[[bytes], None],
        clock: Callable[[], float],
        stats: LinkStats,
    ) -> None:
        self.gate_id = gate_id
        self._guard = guard
        self._trusted_time = trusted_time
        self._key = key
        self.handlers = dict(handlers)
        self._publish = publish
        self._clock = clock
        self._stats = stats

    def handle(self, payload: bytes) -> None:
        """Judge, run and report one ``cmd`` message."""
        try:
            cmd = self._guard.accept(payload, self._trusted_time.now(), self._clock())
        except CommandRejected as exc:
            self._stats.reject(f"cmd_{exc.reason}")
            logger.warning("command rejected", extra={"fields": {"gate": self.gate_id, "error": str(exc)}})
            self._result(exc.cmd_id or "unknown", False, exc.reason, str(exc))
            return
        self._trusted_time.observe(cmd.issued, "command")  # signed by the command keys: time reached at least this
        try:
            handler = self.handlers.get(cmd.op)
            if handler is None:
                raise ProtocolError(f"no handler for {cmd.op!r} on this gate")
            detail = handler(cmd.args)
        except Exception as exc:  # a failing handler is reported, never fatal
            logger.exception("command failed", extra={"fields": {"gate": self.gate_id, "op": cmd.op}})
            self._result(cmd.id, False, "failed", f"{type(exc).__name__}: {exc}")
            return
        self._result(cmd.id, True, "ok", detail)

    def _result(self, cmd_id: str, ok: bool, reason: str, detail: str) -> None:
        body = {"id": uuid.uuid4().hex, "ts": self._clock(), "gate": self.gate_id, "cmd_id": cmd_id[:64] or "unknown",
                "ok": ok, "reason": reason, "detail": detail[:1000]}
        self._publish(seal("cmd_result", body, [self._key.current]))
