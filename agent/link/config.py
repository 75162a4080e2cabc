"""The link's settings and counters (docs/protocol.md "Gate settings" and "Status")."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


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
    refused_retry: float = 30.0  # retry a row whose PUBACK was refused after this long
    backoff_min: float = 0.5
    backoff_max: float = 60.0
    stable_after: float = 10.0  # a connection that lived this long resets the backoff
    list_id: str | None = None  # hit-list to follow; None: any head under sharaka/v1/hitlists/


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
