"""The appliance's own firewall while ``sharaka-gate provision`` runs on it (docs/provisioning.md "On the gate").

The image's ruleset (images/rootfs/etc/nftables.conf) lets MQTT out only to the addresses in its ``central_broker``
sets, which first boot fills from gate.toml, or before enrolment from the bundle's provision.toml
(``sharaka-firstboot firewall``, run again by ``sharaka-firewall.service``). Provision run by hand on an appliance
(an engineering build with a login) has neither file yet: the enrolment listener was shut, and once gate.toml was
written the broker the centre named stayed shut too until that unit ran. So on the appliance, with the ruleset
loaded, provision lets the enrolment listener's host out (``let_out``: added to the running sets, until the next
reload) and, once gate.toml is written, refreshes the firewall from it (``refresh``) before its checklist. What
fails is reported with the command to run by hand; it never stops provisioning by itself.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
import subprocess
from dataclasses import dataclass

UNIT = "sharaka-firewall.service"  # images/systemd/: the broker sets from gate.toml, then the ruleset reloaded


class FirewallError(Exception):
    """A firewall command failed; the message ends with the command to run by hand."""


@dataclass(frozen=True)
class ApplianceFirewall:
    """The image's nftables table ``inet sharaka``, through ``nft`` and ``systemctl``."""

    nft: str = "/usr/sbin/nft"
    systemctl: str = "/usr/bin/systemctl"

    def active(self) -> bool:
        """True when the image's ruleset is loaded here (reading it takes root, as changing it does)."""
        try:
            _run([self.nft, "list", "table", "inet", "sharaka"])
        except FirewallError:
            return False
        return True

    def let_out(self, host: str) -> list[str]:
        """Let MQTT out to every address of ``host`` (added to the running ``central_broker`` sets); returns
        them. Raises FirewallError."""
        try:
            addrs = sorted({ipaddress.ip_address(ai[4][0]) for ai in socket.getaddrinfo(
                host, None, proto=socket.IPPROTO_TCP)}, key=str)
        except OSError as exc:
            raise FirewallError(f"cannot resolve {host!r}: {exc}") from None
        for a in addrs:
            _run([self.nft, "add", "element", "inet", "sharaka", f"central_broker{a.version}", f"{{ {a} }}"])
        return [str(a) for a in addrs]

    def refresh(self) -> str:
        """The broker sets written again from gate.toml and the ruleset reloaded (``UNIT``); says so. Raises
        FirewallError."""
        _run([self.systemctl, "restart", UNIT])
        return f"MQTT let out to the broker of /etc/sharaka/gate.toml ({UNIT} restarted)"


def _run(cmd: list[str]) -> None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FirewallError(f"{exc}; run: {shlex.join(cmd)}") from None
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[0]
        raise FirewallError(f"{why}; run: {shlex.join(cmd)}")
