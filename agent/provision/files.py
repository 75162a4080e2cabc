"""Where a provisioned gate keeps its identity and what it pinned (docs/provisioning.md "Files"), and the
record that makes ``provision`` idempotent.

Everything lives in the state directory (``/var/lib/sharaka`` on the appliance, the data partition):

    device.key, device.key.pub     Ed25519 identity (0600 / 0644), made on the gate, never sent
    tls/client.key, client.csr     TLS key (0600) and its certificate request, made on the gate
    tls/client.crt, tls/ca.crt     the certificate the centre signed, the broker CA it named
    keys/node.pub, command-N.pub   the centre's keys the gate pins
    hitlist/root.pub               the pinned root (agent.keys.pin_root), in the hit-list store
    provision.json                 what was done: written last, so its presence means "enrolled"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.durable import read_json, write_json

RECORD = "provision.json"


@dataclass(frozen=True)
class GateFiles:
    """The paths of one gate's provisioned files under ``state``."""

    state: Path

    @property
    def device_key(self) -> Path:
        """The Ed25519 device key (32-byte seed, 0600)."""
        return self.state / "device.key"

    @property
    def tls(self) -> Path:
        """The TLS directory."""
        return self.state / "tls"

    @property
    def tls_key(self) -> Path:
        """The TLS client key (P-256, 0600)."""
        return self.tls / "client.key"

    @property
    def csr(self) -> Path:
        """The certificate request sent to the centre."""
        return self.tls / "client.csr"

    @property
    def cert(self) -> Path:
        """The client certificate the centre signed."""
        return self.tls / "client.crt"

    @property
    def ca(self) -> Path:
        """The broker CA the centre named at enrolment (the only CA the gate accepts)."""
        return self.tls / "ca.crt"

    @property
    def keys(self) -> Path:
        """The centre's public keys."""
        return self.state / "keys"

    @property
    def node_pub(self) -> Path:
        """The central node's public key."""
        return self.keys / "node.pub"

    def command_pub(self, n: int) -> Path:
        """The ``n``-th pinned command public key (from 1)."""
        return self.keys / f"command-{n}.pub"

    @property
    def hitlist(self) -> Path:
        """The signed hit-list store (its root.pub is the pinned root)."""
        return self.state / "hitlist"

    @property
    def record(self) -> Path:
        """The provisioning record."""
        return self.state / RECORD

    def read_record(self) -> dict[str, Any] | None:
        """The provisioning record, or None when the gate is not (fully) provisioned. Raises ValueError."""
        data = read_json(self.record, {})
        return data or None

    def write_record(self, data: dict[str, Any]) -> None:
        """Write the provisioning record durably (the last step of enrolment)."""
        write_json(self.record, data)
