"""Who a web client is: what the web foundation's per-client bounds count by.

    >>> client_id("2001:db8::7")                           # "2001:db8::/64": one host holds a whole /64

A client is its IP address: an IPv4 address, or the /64 prefix of an IPv6 one (a single host is routinely given a
whole /64, so a finer key would let it be millions of clients); an IPv4-mapped IPv6 address is its IPv4 address.
Behind a TLS front (``WebSite.front``: the site then listens on loopback only) the front is the one peer, so a
request's client is the last ``X-Forwarded-For`` address, the one the front appended (``$proxy_add_x_forwarded_for``
in nginx), when and only when the request came from loopback; a client's own ``X-Forwarded-For`` is never read
otherwise (``request_client``). The sign-in limits (``agent.web.accounts``, ``agent.web.server``) count by this
identity.
"""

from __future__ import annotations

import ipaddress

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

