"""A paho MQTT client that reads its socket in large gulps (the central node's inbound side).

paho reads every packet by three or four ``recv`` calls (the command byte, each byte of the remaining length,
then the rest), a system call each, plus a ``select`` before each packet. At a central worker's rate that was
about 40 % of its network thread's CPU (``bench/central_drain.py`` under py-spy). ``BufferedClient`` gives
paho a socket whose ``recv`` is served from one read of up to ``READ_SIZE`` bytes and whose ``pending()`` tells
paho's loop that bytes are waiting, as an SSL socket's does, so it reads on without waiting in ``select``.

    client = BufferedClient(CallbackAPIVersion.VERSION2, client_id="central", protocol=mqtt.MQTTv5)

TCP_NODELAY is set on the connection (``agent.link.connection.no_delay`` looks for a plain socket).
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import paho.mqtt.client as mqtt

READ_SIZE = 256 * 1024


class ReadBuffer:
    """``sock`` with reads served from memory: ``recv(n)`` returns up to ``n`` bytes of what one
    ``sock.recv(READ_SIZE)`` brought in (``b""`` once the peer closed); everything else is ``sock``'s own.
    ``BlockingIOError`` and ``ssl.SSLWantReadError`` from the socket reach the caller as they are."""

    def __init__(self, sock: Any) -> None:
        self.raw = sock
        self._buf = b""
        self._pos = 0

    def recv(self, n: int) -> bytes:
        if self._pos >= len(self._buf):
            self._buf, self._pos = self.raw.recv(READ_SIZE), 0
        out = self._buf[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def pending(self) -> int:
        """Bytes read from the socket and not yet taken (plus what an SSL socket holds decrypted)."""
        inner = self.raw.pending() if isinstance(self.raw, ssl.SSLSocket) else 0
        return len(self._buf) - self._pos + inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class BufferedClient(mqtt.Client):
    """``paho.mqtt.client.Client`` reading through a ``ReadBuffer`` (TCP connections, with or without TLS)."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if not isinstance(sock, socket.socket):  # websockets, a unix socket's wrapper: left as paho made it
            return sock
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return ReadBuffer(sock)
