"""Gate-side MQTT link: outbox drain, acks, status, commands (docs/protocol.md)."""

from agent.link.gate import GateLink, LinkConfig, LinkStats

__all__ = ["GateLink", "LinkConfig", "LinkStats"]
