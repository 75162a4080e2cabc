"""A TCP proxy on loopback that tests can break like a real network link (toxiproxy is not packaged).

    with NetProxy(broker.port) as proxy:   # clients connect to proxy.port instead of broker.port
        proxy.blackhole()                  # half-open link: both sides stay connected, nothing gets through
        proxy.blackhole(to_client=False)   # one way only: client -> upstream held, replies still flow
        proxy.passthrough()                # link back: held bytes flow again (TCP retransmission, in effect)
        proxy.cut()                        # reset every current connection (RST both ways)
        proxy.refuse()                     # link down: new connections are reset at once
        proxy.record = bytearray()         # from now on keep a copy of every byte read, both directions

``blackhole`` models silently dropped packets faithfully: the proxy stops reading, so the kernel buffers
fill and the sender's writes succeed until its window is full, exactly as on a link whose packets vanish;
no byte is lost or reordered, so when the link returns whatever both ends still hold flows again, and ends
that gave up in between (keepalive timeout) see their close arrive then. New connections made during a
blackhole complete at TCP level (as a kernel would queue them) but get no MQTT answer until the link returns.
"""

from __future__ import annotations

import logging
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

BUFFER_LIMIT = 256 * 1024
"""Bytes buffered per direction before the proxy stops reading that side (backpressure, like a TCP window)."""


def _reset(sock: socket.socket | None) -> None:
    """Close with RST instead of FIN: what a peer sees when a link or a middlebox drops the connection."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


@dataclass
class _Pair:
    client: socket.socket
    upstream: socket.socket | None = None
    to_upstream: bytearray = field(default_factory=bytearray)
    to_client: bytearray = field(default_factory=bytearray)

    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.client, self.upstream) if s is not None]


class NetProxy:
    """Forwards ``listen (127.0.0.1:port)`` to ``upstream_host:upstream_port`` on one thread.

    ``mode`` is ``pass``, ``blackhole`` (either or both directions held) or ``refuse``; ``cut()`` resets
    current connections in any mode.
    Raises OSError if it cannot listen.
    """

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1", *, listen_port: int = 0,
                 listen_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server((listen_host, listen_port))
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self.hold_to_upstream = False
        self.hold_to_client = False
        self.refusing = False
        self.accepted = 0
        self.bytes_forwarded = 0
        self.record: bytearray | None = None  # every byte read from either side, when set
        self._pairs: list[_Pair] = []
        self._calls: list[tuple[Callable[[], None], threading.Event]] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"netproxy:{self.port}", daemon=True)

    # --- controls (thread-safe: each runs on the proxy thread and returns once done) --------------------

    def start(self) -> NetProxy:
        self._thread.start()
        return self

    @property
    def mode(self) -> str:
        if self.refusing:
            return "refuse"
        return "blackhole" if self.hold_to_upstream or self.hold_to_client else "pass"

    def passthrough(self) -> None:
        """Forward traffic and accept new connections; held connections and bytes flow again."""
        self._call(lambda: self._set(False, False, False))

    def blackhole(self, *, to_upstream: bool = True, to_client: bool = True) -> None:
        """Half-open link: stop forwarding (both directions by default) without closing anything."""
        self._call(lambda: self._set(to_upstream, to_client, False))

    def refuse(self) -> None:
        """Reset new connections as they arrive (current ones are left alone: combine with ``cut``)."""
        self._call(lambda: self._set(False, False, True))

    def cut(self) -> None:
        """Reset every current connection on both sides."""
        self._call(self._cut_all)

    @property
    def connections(self) -> int:
        """Client connections currently open through the proxy (held ones included)."""
        with self._lock:
            return len(self._pairs)

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> None:
        """Wait until at least ``count`` connections are open; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while self.connections < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.connections} connection(s) through the proxy after {timeout} s, wanted {count}"
                )
            time.sleep(0.01)

    def close(self) -> None:
        """Reset every connection, stop listening and end the thread (idempotent)."""
        if self._closing:
            return
        if self._thread.is_alive():
            self._call(self._cut_all)
        self._closing = True
        self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(5)
        self._sel.close()
        for s in (self._listener, self._wake_r, self._wake_w):
            s.close()

    def __enter__(self) -> NetProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- proxy thread -----------------------------------------------------------------------------------

    def _call(self, fn: Callable[[], None]) -> None:
        if not self._thread.is_alive():
            fn()
            return
        done = threading.Event()
        with self._lock:
            self._calls.append((fn, done))
        self._wake_w.send(b"x")
        if not done.wait(5):
            raise TimeoutError("netproxy thread did not answer within 5 s")

    def _set(self, hold_to_upstream: bool, hold_to_client: bool, refusing: bool) -> None:
        self.hold_to_upstream, self.hold_to_client, self.refusing = hold_to_upstream, hold_to_client, refusing
        logger.debug("netproxy %s: %s", self.port, self.mode)
        if not self._link_down:
            for pair in list(self._pairs):
                if pair.upstream is None:
                    self._connect_upstream(pair)

    @property
    def _link_down(self) -> bool:
        """Both directions held: a new connection waits, like a SYN on a dead link, until the link returns."""
        return self.hold_to_upstream and self.hold_to_client

    def _cut_all(self) -> None:
        for pair in list(self._pairs):
            self._drop(pair, reset=True)

    def _drop(self, pair: _Pair, *, reset: bool = False) -> None:
        with self._lock:
            if pair not in self._pairs:
                return
            self._pairs.remove(pair)
        for s in pair.sockets():
            if reset:
                _reset(s)
            else:
                try:
                    # Best effort: deliver what this side still owes the other before closing.
                    pending = pair.to_client if s is pair.client else pair.to_upstream
                    if pending:
                        s.setblocking(True)
                        s.settimeout(0.5)
                        s.sendall(pending)
                except OSError:
                    pass
                s.close()

    def _connect_upstream(self, pair: _Pair) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=2)
        except OSError:
            self._drop(pair, reset=True)  # like a refused port behind the link
            return
        upstream.setblocking(False)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair.upstream = upstream

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except BlockingIOError:
                return
            if self.refusing:
                _reset(client)
                continue
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client)
            with self._lock:
                self._pairs.append(pair)
                self.accepted += 1
            if not self._link_down:
                self._connect_upstream(pair)

    def _desired(self) -> dict[socket.socket, tuple[int, _Pair | None]]:
        want: dict[socket.socket, tuple[int, _Pair | None]] = {
            self._listener: (selectors.EVENT_READ, None),
            self._wake_r: (selectors.EVENT_READ, None),
        }
        for pair in self._pairs:
            if pair.upstream is None:
                continue
            for src, dst, buf, held in ((pair.client, pair.upstream, pair.to_upstream, self.hold_to_upstream),
                                        (pair.upstream, pair.client, pair.to_client, self.hold_to_client)):  # fmt: skip
                if held:
                    continue  # held sockets are not watched, so nothing moves and nothing closes
                events = selectors.EVENT_READ if len(buf) < BUFFER_LIMIT else 0
                mask = want.get(src, (0, pair))[0] | events
                want[src] = (mask, pair)
                if buf:
                    want[dst] = (want.get(dst, (0, pair))[0] | selectors.EVENT_WRITE, pair)
        return {s: v for s, v in want.items() if v[0]}

    def _sync_selector(self) -> None:
        want = self._desired()
        for key in list(self._sel.get_map().values()):
            if key.fileobj not in want:
                self._sel.unregister(key.fileobj)
        for sock, (mask, pair) in want.items():
            try:
                key = self._sel.get_key(sock)
                if key.events != mask:
                    self._sel.modify(sock, mask, pair)
            except KeyError:
                self._sel.register(sock, mask, pair)

    def _run(self) -> None:
        while not self._closing:
            with self._lock:
                calls, self._calls = self._calls, []
            for fn, done in calls:
                fn()
                done.set()
            self._sync_selector()
            for key, events in self._sel.select(timeout=0.5):
                sock, pair = key.fileobj, key.data
                if sock is self._wake_r:
                    try:
                        self._wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                elif sock is self._listener:
                    self._accept()
                elif pair is not None and pair in self._pairs:
                    self._pump(pair, sock, events)  # type: ignore[arg-type]

    def _pump(self, pair: _Pair, sock: socket.socket, events: int) -> None:
        to_peer = pair.to_upstream if sock is pair.client else pair.to_client
        from_peer = pair.to_client if sock is pair.client else pair.to_upstream
        try:
            if events & selectors.EVENT_WRITE and from_peer:
                sent = sock.send(from_peer)
                del from_peer[:sent]
                self.bytes_forwarded += sent
            if events & selectors.EVENT_READ:
                data = sock.recv(65536)
                if not data:
                    self._drop(pair)
                    return
                to_peer += data
                if self.record is not None:
                    self.record += data
        except BlockingIOError:
            pass
        except OSError:
            self._drop(pair, reset=True)
