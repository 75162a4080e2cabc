"""Build the gate's link from its config (called by the composition root, agent/app.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agent import keys as keyfiles
from agent.config import Config
from agent.errors import ConfigError
from agent.hitlist.api import HitList
from agent.hitlist.store import HitListStore
from agent.link.commands import Handler
from agent.link.config import FetchPacing
from agent.link.gate import AlertReceiver, GateLink, LinkConfig
from agent.outbox import Outbox
from agent.protocol.commands import is_high_impact
from agent.protocol.trusted_time import TrustedClock

logger = logging.getLogger(__name__)


def link_from_config(
    config: Config,
    outbox: Outbox,
    *,
    hitlist: HitList | None = None,
    lists: Mapping[str, HitList] | None = None,
    clock: Callable[[], float],
    trusted: TrustedClock | None = None,
    status_source: Callable[[], dict[str, Any]] | None = None,
    command_handlers: dict[str, Handler] | None = None,
    high_impact: Callable[[str, Mapping[str, Any]], bool] = is_high_impact,
    alerts: AlertReceiver | None = None,
) -> GateLink:
    """A GateLink for ``config`` (agent.config.Config with ``link.enabled``). Raises ConfigError for a
    missing key file; creates the device key (0600) on first start when none exists. ``lists``: the lists
    besides ``hitlist``, by id; each signed store among them is synced over MQTT on its own."""
    lc, gate_id, state = config.link, config.gate.id, Path(config.gate.state_dir)
    if lc.node_pub is None:
        raise ConfigError(f"[link] node_pub is required when the link is enabled ({config.path})")
    key_path = lc.device_key or state / "device.key"
    try:
        if key_path.exists():
            device_key = keyfiles.load_signing_key(key_path)
        else:
            device_key = keyfiles.generate(key_path)
            logger.warning("created a device key: enrol its .pub file at the central node", extra={"fields": {
                "key": str(key_path)}})
        node = keyfiles.load_public_key(lc.node_pub)
        commands = [keyfiles.load_public_key(p) for p in lc.command_pubs]
        password = lc.password_file.read_text().strip() if lc.password_file else None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"[link] cannot load keys ({config.path}): {exc}") from exc
    cfg = LinkConfig(
        gate_id=gate_id, host=lc.host, port=lc.port, username=gate_id if password else None, password=password,
        ca_file=str(lc.ca_file) if lc.ca_file else None, cert_file=str(lc.cert_file) if lc.cert_file else None,
        key_file=str(lc.key_file) if lc.key_file else None, keepalive=lc.keepalive_s, will_delay=lc.will_delay_s,
        heartbeat=lc.heartbeat_s, list_id=lc.list_id or config.screening_lists()[0].list_id,
        list_fetch=FetchPacing(spread_s=lc.list_fetch_spread_s),
    )
    more = {lid: store for lid, store in (lists or {}).items() if isinstance(store, HitListStore)}
    screening = config.screening_lists()  # [hitlist] (or the first list) is synced as cfg.list_id, the rest by id
    policies = {cfg.list_id: screening[0].policy(), **{hl.list_id: hl.policy() for hl in screening[1:]}}
    return GateLink(
        cfg, outbox, device_key, node_keys=[node], command_keys=commands, state_dir=state / "link",
        clock=clock, trusted_time=trusted, status_source=status_source, command_handlers=command_handlers,
        device_key_path=key_path, high_impact_threshold=lc.high_impact_threshold, high_impact=high_impact,
        hitlist=hitlist if isinstance(hitlist, HitListStore) else None, lists=more, policies=policies,
        alerts=alerts,
    )
