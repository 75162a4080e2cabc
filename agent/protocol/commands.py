"""Verification of signed commands from the centre (RELIABILITY 13-16, docs/protocol.md "cmd").

``verify_command`` is pure: wire bytes, the pinned command keys, the gate's id, the last accepted
sequence and a reference time in; a ``Command`` out or a ``CommandRejected`` naming the rule.
``CommandGuard`` persists the last sequence so a replay stays a replay after a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.signing import VerifyKey

from agent.durable import read_json, write_json
from agent.protocol.envelope import ProtocolError, SignatureError, open_signed

# Operations a gate executes; the high-impact ones need ``high_impact_threshold`` command keys.
OPS = ("set_policy", "pulse_relay", "request_status", "hitlist_resync", "rebirth", "rotate_device_key", "wipe")
HIGH_IMPACT = frozenset({"rotate_device_key", "wipe", "set_trust_root"})
MAX_FUTURE_SKEW = 300.0  # seconds an ``issued`` time may lie ahead of trusted time
MAX_LIFETIME = 24 * 3600.0  # not_after - issued


class CommandRejected(ProtocolError):
    """A command that must not be executed; ``reason`` is the short code reported on cmd/result."""

    def __init__(self, reason: str, detail: str, cmd_id: str = "") -> None:
        super().__init__(f"command rejected ({reason}): {detail}")
        self.reason = reason
        self.cmd_id = cmd_id


@dataclass(frozen=True)
class Command:
    """A verified command: safe to execute once."""

    id: str
    seq: int
    op: str
    args: dict[str, Any]
    issued: float
    not_after: float
    signers: frozenset[bytes]


def verify_command(
    wire: bytes,
    *,
    gate_id: str,
    keys: Mapping[bytes, VerifyKey],
    last_seq: int,
    now: float,
    wall: float | None = None,
    threshold: int = 1,
    high_impact_threshold: int = 2,
) -> Command:
    """Return the verified command or raise CommandRejected (reasons: unsigned, malformed, wrong_gate,
    expired, future, replay, unknown_op, threshold).

    ``now`` is the gate's trusted time (docs/protocol.md "Trusted time"): a command past its ``not_after``
    by it is ``expired``, whatever the wall clock says, so a wall clock far ahead locks nothing out. A
    command is ``future`` when issued more than ``MAX_FUTURE_SKEW`` after both trusted time and the
    ``wall`` clock: a gate whose trusted time lags (new, or switched off for a while) still takes a command
    its synchronised clock finds current, and its signed ``issued`` then raises trusted time."""
    try:
        body, signers = open_signed("cmd", wire, keys, threshold=threshold)
    except SignatureError as exc:
        raise CommandRejected("unsigned", str(exc))
    except ProtocolError as exc:
        raise CommandRejected("malformed", str(exc))
    cid = body["id"]
    if body["gate"] != gate_id:
        raise CommandRejected("wrong_gate", f"addressed to {body['gate']!r}, this gate is {gate_id!r}", cid)
    if now > body["not_after"]:
        raise CommandRejected("expired", f"not_after {body['not_after']!r} is before now {now:.0f}", cid)
    horizon = max(now, wall if wall is not None else now) + MAX_FUTURE_SKEW
    if body["issued"] > horizon or body["not_after"] - body["issued"] > MAX_LIFETIME:
        raise CommandRejected(
            "future", f"issued {body['issued']!r} / not_after {body['not_after']!r} implausible at {now:.0f}", cid
        )
    if body["seq"] <= last_seq:
        raise CommandRejected("replay", f"sequence {body['seq']} <= last accepted {last_seq}", cid)
    if body["op"] not in OPS:
        raise CommandRejected("unknown_op", f"op {body['op']!r}, expected one of {OPS}", cid)
    if body["op"] in HIGH_IMPACT and len(signers) < high_impact_threshold:
        raise CommandRejected(
            "threshold", f"{body['op']} needs {high_impact_threshold} command keys, got {len(signers)}", cid
        )
    return Command(cid, body["seq"], body["op"], body["args"], body["issued"], body["not_after"], signers)


class CommandGuard:
    """Verifies commands and persists the last accepted sequence before a command runs (RELIABILITY 14)."""

    def __init__(
        self,
        path: Path,
        gate_id: str,
        keys: Mapping[bytes, VerifyKey],
        *,
        high_impact_threshold: int = 2,
    ) -> None:
        self._path = Path(path)
        self._gate_id = gate_id
        self._keys = dict(keys)
        self._high = high_impact_threshold
        self._lock = threading.Lock()
        self.last_seq = int(read_json(self._path, {"last_seq": 0})["last_seq"])
        self.rejected: dict[str, int] = {}

    def accept(self, wire: bytes, now: float, wall: float | None = None) -> Command:
        """Verify (``now`` trusted time, ``wall`` the wall clock: see ``verify_command``), record the sequence
        durably, and return the command; CommandRejected otherwise."""
        with self._lock:
            try:
                cmd = verify_command(
                    wire,
                    gate_id=self._gate_id,
                    keys=self._keys,
                    last_seq=self.last_seq,
                    now=now,
                    wall=wall,
                    high_impact_threshold=self._high,
                )
            except CommandRejected as exc:
                self.rejected[exc.reason] = self.rejected.get(exc.reason, 0) + 1
                raise
            write_json(self._path, {"last_seq": cmd.seq})
            self.last_seq = cmd.seq
            return cmd
