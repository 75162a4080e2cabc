"""Values the command lines take (``sharaka-gate``, ``sharaka-central``, ``tools/site_bridge.py``), each read
and checked in one place and described in one wording, so that one tool does not take what another refuses.

    >>> seconds("nan")                  # argparse ``type=``: a usage error (exit 2) saying what was expected
    argparse.ArgumentTypeError: 'nan': expected a finite number of seconds, 0 or more
    >>> host_port("[::1]:8883")         # ("[::1]", 8883)

The checks are pure and raise ``argparse.ArgumentTypeError`` (argparse prints its message and exits 2: a user's
mistake never ends in a traceback); a command that checks a value after parsing uses the predicate and the
wording (``is_seconds``, ``SECONDS``) in its own ``UsageError``.
"""

from __future__ import annotations

import argparse
import math
import re

SECONDS = "a finite number of seconds, 0 or more"
HOST_PORT = "HOST:PORT"
_HOST = re.compile(r"[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]")  # a name or address, an IPv6 one in brackets


def is_seconds(value: float) -> bool:
    """True for a finite number of seconds, 0 or more: ``nan`` passes every comparison's ``not`` (``--gap-grace
    nan`` never reported a gap) and ``-1`` or ``nan`` as a ``--duration`` stopped a command at once, exit 0."""
    return 0 <= value < math.inf


def seconds(text: str, note: str = "") -> float:
    """``text`` as seconds (``is_seconds``); ``note`` says what 0 means. Raises ArgumentTypeError."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not is_seconds(value):
        raise argparse.ArgumentTypeError(f"{text!r:.60}: expected {SECONDS}{note}")
    return value


def positive_int(text: str) -> int:
    """A whole number of 1 or more (a size in bytes, a count). Raises ArgumentTypeError."""
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r:.60}: expected a whole number of 1 or more")
    return int(text)


def port(text: str) -> int:
    """A TCP port, 1 to 65535 (99999 or 0 read as a broker that never answers). Raises ArgumentTypeError."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r:.60}: expected a port number of 1 to 65535")
    return int(text)


def host_port(text: str, *, free: bool = False, example: str = "") -> tuple[str, int]:
    """``HOST:PORT`` as (host, port): a host name or address without spaces or control characters (an IPv6 one in
    brackets, kept), a port of 1 to 65535 (with ``free``, 0 too: a port the system picks for a listener). What
    Mosquitto's ``address`` line and a listening socket both take: 99999 made a bridge that never connects, a
    line break wrote a config line of its own. Raises ArgumentTypeError naming ``example`` when given."""
    host, _, digits = text.rpartition(":")
    low = 0 if free else 1
    if not _HOST.fullmatch(host) or not digits.isdigit() or not low <= int(digits) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r:.60}: expected {HOST_PORT}, the port {low} to 65535"
                                         + (f", e.g. {example}" if example else ""))
    return host, int(digits)
