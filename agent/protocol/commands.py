"""Verification of signed commands from the centre (RELIABILITY 13-16, docs/protocol.md "cmd").

``verify_command`` is pure: wire bytes, the command keys trusted now (``CommandKeys``: key and holder of
each), the gate's id, the last accepted sequence and a reference time in; a ``Command`` out or a
``CommandRejected`` naming the rule. ``CommandGuard`` persists the last sequence so a replay stays a
replay after a restart, and asks for the trusted keys at each command, so a key the root-signed keyring
revoked is refused from the moment the keyring arrived (RELIABILITY 46).

Two-key rule (docs/protocol.md "Two-key rule", RELIABILITY 16/46): a high-impact command (``is_high_impact``:
wipe, device-key rotation, opening the gate, a policy change that weakens screening) needs valid
signatures from ``high_impact_threshold`` (at least 2) different *holders*; two keys of one holder count once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nacl.signing import VerifyKey

from agent.durable import read_json, write_json
from agent.keys import message_key_id
from agent.protocol.envelope import ProtocolError, SignatureError, open_signed, peek
from agent.protocol.trusted_time import horizon

# Operations a gate executes. Trust-root and key changes are not commands: they are root-signed keyrings
# (docs/hitlist.md "Keyring delivery"), which already need the root keys' threshold.
OPS = ("set_policy", "pulse_relay", "request_status", "hitlist_resync", "rebirth", "rotate_device_key", "wipe",
       "update")
# ``update`` (a signed A/B bundle, docs/update.md) needs one command key: the bundle itself must be signed by
# the update key, which operators do not hold, and the gate refuses a bundle older than the one running.
# High impact whatever the arguments; set_policy is high impact when it weakens screening (the gate's
# composition root judges that against the policy in force: agent.screening.policy.weakened_rules).
HIGH_IMPACT = frozenset({"rotate_device_key", "wipe", "pulse_relay", "set_policy"})
MIN_HIGH_IMPACT_THRESHOLD = 2


def is_high_impact(op: str, args: Mapping[str, Any]) -> bool:
    """The rule without knowing the gate's policy: every op of ``HIGH_IMPACT`` (any set_policy included)."""
    return op in HIGH_IMPACT


@dataclass(frozen=True)
class CommandKeys:
    """The command keys a gate trusts at one moment: message key id -> key, and -> holder."""

    keys: Mapping[bytes, VerifyKey]
    holders: Mapping[bytes, str] = field(default_factory=dict)

    @classmethod
    def of(cls, keys: Iterable[tuple[VerifyKey | bytes, str]]) -> CommandKeys:
        """From (public key, holder) pairs; an empty holder makes the key its own holder."""
        out: dict[bytes, VerifyKey] = {}
        holders: dict[bytes, str] = {}
        for key, holder in keys:
            vk = key if isinstance(key, VerifyKey) else VerifyKey(bytes(key))
            kid = message_key_id(vk)
            out[kid], holders[kid] = vk, holder or kid.hex()
        return cls(out, holders)

    def holders_of(self, signers: Iterable[bytes]) -> set[str]:
        """The distinct holders of ``signers`` (message key ids)."""
        return {self.holders.get(kid, kid.hex()) for kid in signers}
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
    keys: CommandKeys | Mapping[bytes, VerifyKey],
    last_seq: int,
    now: float,
    wall: float | None = None,
    threshold: int = 1,
    high_impact_threshold: int = MIN_HIGH_IMPACT_THRESHOLD,
    high_impact: Callable[[str, Mapping[str, Any]], bool] = is_high_impact,
) -> Command:
    """Return the verified command or raise CommandRejected (reasons: unsigned, malformed, wrong_gate,
    expired, future, replay, unknown_op, threshold).

    ``now`` is the gate's trusted time (docs/protocol.md "Trusted time"): a command past its ``not_after``
    by it is ``expired``, whatever the wall clock says, so a wall clock far ahead locks nothing out. A
    command is ``future`` when issued beyond ``trusted_time.horizon`` (``MAX_FUTURE_SKEW`` after both trusted
    time and the ``wall`` clock): a gate whose trusted time lags (new, or switched off for a while) still takes
    a command its synchronised clock finds current, and its signed ``issued`` then raises trusted time."""
    trusted = keys if isinstance(keys, CommandKeys) else CommandKeys(keys)
    try:
        body, signers = open_signed("cmd", wire, trusted.keys, threshold=threshold)
    except SignatureError as exc:
        raise CommandRejected("unsigned", str(exc), _claimed_id(wire))
    except ProtocolError as exc:
        raise CommandRejected("malformed", str(exc))
    cid = body["id"]
    if body["gate"] != gate_id:
        raise CommandRejected("wrong_gate", f"addressed to {body['gate']!r}, this gate is {gate_id!r}", cid)
    if now > body["not_after"]:
        raise CommandRejected("expired", f"not_after {body['not_after']!r} is before now {now:.0f}", cid)
    late = horizon(now, now if wall is None else wall)  # docs/protocol.md "Trusted time": the one horizon
    if body["issued"] > late or body["not_after"] - body["issued"] > MAX_LIFETIME:
        raise CommandRejected(
            "future", f"issued {body['issued']!r} / not_after {body['not_after']!r} implausible at {now:.0f}", cid
        )
    if body["seq"] <= last_seq:
        raise CommandRejected("replay", f"sequence {body['seq']} <= last accepted {last_seq}", cid)
    if body["op"] not in OPS:
        raise CommandRejected("unknown_op", f"op {body['op']!r}, expected one of {OPS}", cid)
    needed = max(high_impact_threshold, MIN_HIGH_IMPACT_THRESHOLD)
    holders = trusted.holders_of(signers)
    if len(holders) < needed and high_impact(body["op"], body["args"]):
        raise CommandRejected(
            "threshold",
            f"{body['op']} {sorted(body['args'])} is high impact: needs {needed} different key holders, "
            f"signed by {len(holders)} ({len(signers)} key(s))",
            cid,
        )
    return Command(cid, body["seq"], body["op"], body["args"], body["issued"], body["not_after"], signers)


def _claimed_id(wire: bytes) -> str:
    """The id an unverified command claims, so its result names it for the operator ("" if unreadable).
    Nothing else of it is used."""
    try:
        return str(peek("cmd", wire)[0]["id"])
    except ProtocolError:
        return ""


class CommandGuard:
    """Verifies commands and persists the last accepted sequence before a command runs (RELIABILITY 14)."""

    def __init__(
        self,
        path: Path,
        gate_id: str,
        keys: Callable[[float], CommandKeys] | Mapping[bytes, VerifyKey],
        *,
        high_impact_threshold: int = MIN_HIGH_IMPACT_THRESHOLD,
        high_impact: Callable[[str, Mapping[str, Any]], bool] = is_high_impact,
    ) -> None:
        """``keys``: the command keys trusted at a given trusted time (asked at every command), or a fixed map."""
        self._path = Path(path)
        self._gate_id = gate_id
        if isinstance(keys, Mapping):
            fixed = CommandKeys(dict(keys))
            self._keys: Callable[[float], CommandKeys] = lambda _now: fixed
        else:
            self._keys = keys
        self._high = high_impact_threshold
        self._high_impact = high_impact
        self._lock = threading.Lock()
        self.last_seq = int(read_json(self._path, {"last_seq": 0})["last_seq"])
        self.rejected: Counter[str] = Counter()

    def accept(self, wire: bytes, now: float, wall: float | None = None) -> Command:
        """Verify (``now`` trusted time, ``wall`` the wall clock: see ``verify_command``), record the sequence
        durably, and return the command; CommandRejected otherwise."""
        with self._lock:
            try:
                cmd = verify_command(
                    wire,
                    gate_id=self._gate_id,
                    keys=self._keys(now),
                    last_seq=self.last_seq,
                    now=now,
                    wall=wall,
                    high_impact_threshold=self._high,
                    high_impact=self._high_impact,
                )
            except CommandRejected as exc:
                self.rejected[exc.reason] += 1
                raise
            write_json(self._path, {"last_seq": cmd.seq})
            self.last_seq = cmd.seq
            return cmd
