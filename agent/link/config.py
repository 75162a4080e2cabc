"""The link's settings and counters (docs/protocol.md "Gate settings" and "Status")."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FetchPacing:
    """When a gate fetches a list update (agent/link/sync.py, docs/protocol.md "Hit-list sync").

    A head naming a newer version reaches every gate of a fleet at once; fetching at once makes a storm of
    transfers that starves the centre and the broker (1,000 gates: docs/reliability.md "Fleet load"). So a
    gate with a list installed starts its fetch at a random moment within ``spread_s`` of the head (0: at
    once); a gate without a list, a resync command and a keyring fetch start at once. A transfer abandoned
    for want of progress, or answered with an error, is tried again after a full-jitter exponential backoff
    between ``retry_min_s`` and ``retry_max_s``, also without a new head. Until its fetch ends the gate
    reports its list behind the head (stale: RELIABILITY 7) and screens by the stale policy.
    """

    spread_s: float = 30.0
    retry_min_s: float = 5.0
    retry_max_s: float = 300.0


@dataclass
class LinkConfig:
    """Connection and delivery settings of one gate (docs/protocol.md "Gate settings")."""

    gate_id: str
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    protocol: int = 5  # 5, falling back to 4 (3.1.1) when the broker refuses MQTT 5
    keepalive: int = 30
    will_delay: int = 30
    heartbeat: float = 60.0
    window: int = 500  # rows awaiting the central node's ack
    paho_inflight: int = 100  # PERFORMANCE.md: keep paho's window <= 100
    ack_timeout: float = 30.0  # resend a row not acked for this long (same id; the centre dedupes)
    ack_timeout_max: float = 240.0  # late acks (a slow centre) double the timeout up to this (window.py)
    refused_retry: float = 30.0  # retry a row whose PUBACK was refused after this long
    backoff_min: float = 0.5
    backoff_max: float = 60.0
    stable_after: float = 10.0  # a connection that lived this long resets the backoff
    list_id: str | None = None  # hit-list to follow; None: any head under sharaka/v1/hitlists/
    list_fetch: FetchPacing = field(default_factory=FetchPacing)


@dataclass
class LinkStats:
    """Counters reported in status."""

    connects: int = 0
    published: int = 0
    acked: int = 0
    resent: int = 0
    refused: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # inbound messages rejected, by reason

    def reject(self, reason: str) -> None:
        """Count one inbound message rejected for ``reason``."""
        self.rejected[reason] += 1
