"""Which host names a web site answers to: the ``Host`` check against DNS rebinding.

    >>> hosts = accepted_hosts("127.0.0.1", ["gate-7"])   # {"127.0.0.1", "localhost", "::1", "gate-7"}
    >>> host_name("Gate-7.:8443") in hosts                 # True: port, case and a final dot aside

A page of another site whose name an attacker made resolve to the gate's address (DNS rebinding) is the
browser's "same origin" as itself, so CORS and ``SameSite`` cookies do not stop it from reaching the sign-in
form; its requests still carry its own name in ``Host``. A site therefore answers only to the names it is
reached by: the address it listens on, ``localhost``'s forms when that address is loopback, and the names it
is configured with (its certificate's DNS name, a TLS front's name). Listening on every address (0.0.0.0,
::), it also answers to any IP address: a browser puts an address in ``Host`` only when the page's own URL
holds it, which no rebinding page's does. No aiohttp here: the config checks names with ``is_host_name``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
ANY_ADDRESS = "*"  # in an accepted set: any IP address (the site listens on every address)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
HOST_NAME_FORM = "a DNS name like gate-7 or gate-7.border.example, or an IP address"


def host_name(value: str) -> str:
    """A ``Host`` header or a configured name as compared: without the port or IPv6 brackets, lower case,
    without a final dot, an IP address in its canonical form."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    value = value.rstrip(".")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def is_host_name(value: str) -> bool:
    """True when ``value`` is a DNS name or an IP address (``HOST_NAME_FORM``)."""
    name = host_name(value)
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return len(name) <= 253 and _HOST_NAME.fullmatch(name) is not None


def accepted_hosts(listen: str, names: Iterable[str] = ()) -> frozenset[str]:
    """The host names (``host_name`` forms) a site listening on ``listen`` and reached by ``names`` answers to;
    see the module docstring."""
    listening = host_name(listen)
    accepted = {listening, *map(host_name, names)}
    try:
        address = ipaddress.ip_address(listening)
    except ValueError:
        address = None
    if listening == "localhost" or (address is not None and address.is_loopback):
        accepted |= LOOPBACK_NAMES
    if address is not None and address.is_unspecified:
        accepted.add(ANY_ADDRESS)
    return frozenset(accepted)


FRONT_FORM = "https://NAME or https://NAME:PORT (the address operators type, without a path)"


def front_origin(value: str) -> str:
    """The origin (``https://name[:port]``, as a browser sends it in ``Origin``) of ``value``, the address a TLS front
    serves a site at; raises ``ValueError`` naming ``FRONT_FORM`` for anything else (http, a path, a user)."""
    from urllib.parse import urlsplit

    try:
        url = urlsplit(value.strip())
        port = url.port
    except ValueError:
        url, port = None, None
    if (url is None or url.scheme.lower() != "https" or url.username is not None or url.path not in ("", "/")
            or url.query or url.fragment or not url.hostname or not is_host_name(url.hostname)):
        raise ValueError(f"front {value!r:.80}: expected {FRONT_FORM}")
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname.rstrip(".")
    return f"https://{host}" + (f":{port}" if port not in (None, 443) else "")


def is_accepted(host: str, accepted: frozenset[str]) -> bool:
    """True when the ``Host`` header ``host`` names a host of ``accepted`` (``accepted_hosts``)."""
    name = host_name(host)
    if name in accepted:
        return True
    if ANY_ADDRESS not in accepted:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False
