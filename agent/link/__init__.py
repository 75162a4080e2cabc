"""Gate-side MQTT link (docs/protocol.md): ``gate`` (outbox drain, acks, status), ``window`` (delivery
bookkeeping), ``connection`` (supervisor), ``commands``, ``query`` (online queries), ``sync`` (hit-list)."""

from agent.link.config import LinkConfig, LinkStats
from agent.link.gate import GateLink

__all__ = ["GateLink", "LinkConfig", "LinkStats"]
