"""Test harness for the link: a real Mosquitto, a real central node, real gates over real outboxes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from nacl.signing import SigningKey

from agent import keys as keyfiles
from agent.alerts import EarlyWarnings, outbox_report
from agent.hitlist.limits import DEFAULT_LIMITS, Limits
from agent.hitlist.store import HitListStore
from agent.link import GateLink, LinkConfig
from agent.link.config import FetchPacing
from agent.outbox import PRIORITY_HIT, PRIORITY_ROUTINE, Outbox
from tools.central.node import CentralConfig, CentralNode
from tools.central.store import CentralStore


@dataclass
class Keys:
    node: SigningKey = field(default_factory=SigningKey.generate)
    commands: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate() for _ in range(3)])


@dataclass
class Gate:
    gate_id: str
    outbox: Any
    link: GateLink
    key: SigningKey
    state: Path
    emitted: list[str] = field(default_factory=list)
    pulses: list[dict[str, Any]] = field(default_factory=list)  # the args of each ``pulse_relay`` it ran

    def emit(self, n: int = 1, *, hit: bool = False) -> list[str]:
        """Append ``n`` decision events (durable on return) and wake the link."""
        ids = []
        for _ in range(n):
            msg_id = uuid.uuid4().hex
            body = msgpack.packb({"decision": "HIT" if hit else "CLEAR", "n": len(self.emitted)})
            self.outbox.append("hit" if hit else "decision", msg_id, body,
                               priority=PRIORITY_HIT if hit else PRIORITY_ROUTINE)
            self.emitted.append(msg_id)
            ids.append(msg_id)
            self.link.notify()
        return ids

    def stop(self) -> None:
        self.link.stop()
        self.outbox.close()


def make_central(broker: Any, db: Path, keys: Keys, *, clock: Callable[[], float] = time.time,
                 **kw: Any) -> CentralNode:
    user, password = broker.central
    node = CentralNode(
        CentralConfig(host=broker.host, port=broker.port, username=user, password=password, **kw),
        CentralStore(db),
        keys.node,
        keys.commands,
        clock=clock,
    )
    node.start()
    if not node.wait_for_connected(10):
        raise RuntimeError("central node did not connect")
    return node


def make_gate(
    broker: Any,
    state: Path,
    keys: Keys,
    gate_id: str,
    *,
    store: CentralStore | None = None,
    start: bool = True,
    username: str | None = None,
    port: int | None = None,
    key: SigningKey | None = None,
    command_handlers: dict[str, Callable[[dict[str, Any]], str]] | None = None,
    clock: Callable[[], float] = time.time,
    hitlist: HitListStore | None = None,
    lists: dict[str, HitListStore] | None = None,
    hitlist_limits: Limits = DEFAULT_LIMITS,
    key_path: Path | None = None,
    status_source: Callable[[], dict[str, Any]] | None = None,
    **cfg: Any,
) -> Gate:
    """A gate: enrolled at ``store`` (if given) and in the broker, started unless ``start=False``.
    With ``key_path`` the device key lives in that file (created if missing), as on a real gate.
    Its ``pulse_relay`` command records its args in ``Gate.pulses`` and answers ``pulsed SECONDS``
    (unless ``command_handlers`` has its own); ``status_source`` adds to its status what the app adds
    (``faults``, as agent/app.py does)."""
    state.mkdir(parents=True, exist_ok=True)
    if key_path is not None:
        if not key_path.exists():
            keyfiles.generate(key_path)
        key = keyfiles.load_signing_key(key_path)
    key = key or SigningKey.generate()
    if store is not None:
        store.enrol(gate_id, bytes(key.verify_key), time.time())
    user, password = broker.add_gate(username or gate_id) if username is None or username not in getattr(
        broker, "credentials", {}) else (username, broker.credentials[username])
    cfg.setdefault("backoff_min", 0.1)
    cfg.setdefault("backoff_max", 1.0)
    cfg.setdefault("list_fetch", FetchPacing(spread_s=0.0))  # at once: tests/link/test_hitlist_sync.py proves the spread
    config = LinkConfig(gate_id=gate_id, host=broker.host, port=port or broker.port, username=user,
                        password=password, **cfg)
    outbox = Outbox(state / "outbox.sqlite3")
    pulses: list[dict[str, Any]] = []

    def pulse_relay(args: dict[str, Any]) -> str:
        pulses.append(args)
        return f"pulsed {args['seconds']}"

    link = GateLink(
        config,
        outbox,
        key,
        node_keys=[keys.node.verify_key],
        command_keys=[k.verify_key for k in keys.commands],
        state_dir=state,
        command_handlers={"pulse_relay": pulse_relay, **(command_handlers or {})},
        clock=clock,
        hitlist=hitlist,
        lists=lists,
        hitlist_limits=hitlist_limits,
        device_key_path=key_path,
        status_source=status_source,
    )
    gate = Gate(gate_id, outbox, link, key, state, pulses=pulses)
    if start:
        link.start()
    return gate


def alerting_gate(broker: Any, root: Path, keys: Keys, gate_id: str, *, root_pub: bytes, store: CentralStore,
                  site: str = "border-1") -> tuple[Gate, HitListStore, EarlyWarnings]:
    """A started gate whose hit-list store trusts ``root_pub`` and whose early warnings report receipt and
    acknowledgement through its outbox: the gate side of every alert test."""
    hitlist = HitListStore(root / f"{gate_id}-hl", root_pub)
    gate = make_gate(broker, root / gate_id, keys, gate_id, store=store, start=False, hitlist=hitlist)
    warnings = EarlyWarnings(root / gate_id / "alerts.msgpack", gate_id=gate_id, site=site,
                             keyring=lambda: hitlist.keyring, now=time.time,
                             report=outbox_report(gate.outbox, gate_id=gate_id, site=site, clock=time.time,
                                                  on_committed=gate.link.notify))
    gate.link.alerts = warnings
    gate.link.start()
    return gate, hitlist, warnings
