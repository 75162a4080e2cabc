"""Who a web client is, and how many connections each may hold: the per-client bounds of the web foundation.

    >>> client_id("2001:db8::7")                           # "2001:db8::/64": one host holds a whole /64
    >>> limits = ConnectionLimits(per_client=16, total=256)
    >>> limits.admit("192.0.2.7")                           # False once that client holds 16 or the server 256
    >>> limits.release("192.0.2.7")

A client is its IP address: an IPv4 address, or the /64 prefix of an IPv6 one (a single host is routinely given a
whole /64, so a finer key would let it be millions of clients); an IPv4-mapped IPv6 address is its IPv4 address.
Behind a TLS front (``WebSite.front``: the site then listens on loopback only) the front is the one peer, so a
request's client is the last ``X-Forwarded-For`` address, the one the front appended (``$proxy_add_x_forwarded_for``
in nginx), when and only when the request came from loopback; a client's own ``X-Forwarded-For`` is never read
otherwise (``request_client``). The sign-in limits (``agent.web.accounts``, ``agent.web.server``) and the connection
limits (``ConnectionLimits``, applied by ``agent.web.server.WebServer`` as each connection is accepted, before any
TLS handshake) count by this identity.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

CONNECTIONS_PER_CLIENT = 16  # what the image's firewall allows a booth client (images/firstboot: SCREEN_CONNECTIONS);
# a browser opens about six to one host, a live page holds one of them for its stream
CONNECTIONS = 256  # in all: the rest of the process's file descriptors stay the gate's and the centre's own
FORWARDED_FOR = "X-Forwarded-For"


def client_id(address: str | None) -> str:
    """The client ``address`` counts as (see the module docstring); an address that does not parse is itself
    (a Unix socket's peer, ``None``: "")."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return address or ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def is_loopback(address: str | None) -> bool:
    """True when ``address`` is a loopback address (a TLS front on the same machine)."""
    try:
        return ipaddress.ip_address((address or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def request_client(peer: str | None, forwarded_for: str | None, behind_front: bool) -> str:
    """The client of a request from ``peer`` carrying ``forwarded_for`` (its ``X-Forwarded-For``, or None): the
    front's last entry when ``behind_front`` and the peer is loopback, else the peer (module docstring)."""
    if behind_front and forwarded_for and is_loopback(peer):
        return client_id(forwarded_for.rsplit(",", 1)[-1].strip())
    return client_id(peer)


class ConnectionLimits:
    """How many connections each client holds, and all together (counted on the server's loop). ``exempt``: a peer
    held to the total only (the TLS front, which carries many clients' connections and bounds them itself)."""

    def __init__(self, per_client: int = CONNECTIONS_PER_CLIENT, total: int = CONNECTIONS) -> None:
        self.per_client, self.total = per_client, total
        self.held: Counter[str] = Counter()
        self.count = 0

    def admit(self, client: str, *, exempt: bool = False) -> bool:
        """Count one more connection of ``client``, or return False when it or the server is at its bound."""
        if self.count >= self.total or (not exempt and self.held[client] >= self.per_client):
            return False
        self.held[client] += 1
        self.count += 1
        return True

    def release(self, client: str) -> None:
        """One connection of ``client`` ended."""
        self.held[client] -= 1
        self.count -= 1
        if self.held[client] <= 0:
            del self.held[client]
