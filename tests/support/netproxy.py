"""A TCP proxy on loopback that tests can break like a real network link (toxiproxy is not packaged).

    with NetProxy(broker.port) as proxy:   # clients connect to proxy.port instead of broker.port
        proxy.blackhole()                  # half-open link: both sides stay connected, nothing gets through
        proxy.blackhole(to_client=False)   # one way only: client -> upstream held, replies still flow
        proxy.passthrough()                # link back: held bytes flow again (TCP retransmission, in effect)
        proxy.cut()                        # reset every current connection (RST both ways)
        proxy.refuse()                     # link down: new connections are reset at once
        proxy.impair(Impairment(delay_s=0.05, stall_p=0.05, stall_s=1.0, cut_p=0.01))  # slow, lossy link
        proxy.record = bytearray()         # from now on keep a copy of every byte read, both directions

``blackhole`` models silently dropped packets faithfully: the proxy stops reading, so the kernel buffers
fill and the sender's writes succeed until its window is full, exactly as on a link whose packets vanish;
no byte is lost or reordered, so when the link returns whatever both ends still hold flows again, and ends
that gave up in between (keepalive timeout) see their close arrive then. New connections made during a
blackhole complete at TCP level (as a kernel would queue them) but get no MQTT answer until the link returns.

``impair`` models a slow, lossy link (a congested mobile uplink). Inside one TCP stream a lost packet is
never a missing byte: the sender retransmits, so loss shows as latency, as a stream that stops part-way
through a packet until the retransmission arrives, and, when it lasts, as a reset connection. Each chunk
read is therefore forwarded ``delay_s`` (+ up to ``jitter_s``) later, in order; with ``stall_p`` it is split
at a random byte and its tail (and everything behind it) held ``stall_s`` longer, so the peer sees half an
MQTT packet; with ``cut_p`` the connection is reset both ways and whatever it still carried is lost, as
in-flight data is when a connection dies. Random choices come from ``seed``: a failing run can be replayed.
"""

from __future__ import annotations

import logging
import random
import selectors
import socket
import struct
import threading
import time
from collections import deque
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


@dataclass(frozen=True)
class Impairment:
    """A slow, lossy link (see the module docstring): latency, stalls mid-packet, resets."""

    delay_s: float = 0.0
    """Added to every chunk, each direction."""
    jitter_s: float = 0.0
    """Plus a uniform random 0..jitter_s (order is kept: a chunk never overtakes the one before)."""
    stall_p: float = 0.0
    """Chance that a chunk is split at a random byte and its tail held ``stall_s`` longer."""
    stall_s: float = 0.0
    cut_p: float = 0.0
    """Chance per chunk that the connection is reset both ways, losing what it still carried."""
    seed: int = 0


@dataclass
class _Pair:
    client: socket.socket
    upstream: socket.socket | None = None
    to_upstream: bytearray = field(default_factory=bytearray)
    to_client: bytearray = field(default_factory=bytearray)
    # impaired link: chunks read but not yet due, (due, data) in order, per direction
    late_upstream: deque[tuple[float, bytes]] = field(default_factory=deque)
    late_client: deque[tuple[float, bytes]] = field(default_factory=deque)

    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.client, self.upstream) if s is not None]

    def late_bytes(self, buf: bytearray) -> int:
        late = self.late_upstream if buf is self.to_upstream else self.late_client
        return sum(len(d) for _, d in late)


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
        self.refused = 0  # connections reset on arrival while refusing
        self.bytes_forwarded = 0
        self.impairment: Impairment | None = None
        self.stalls = 0  # chunks split and held mid-way (impaired link)
        self.cuts = 0  # connections reset by the impairment (not by ``cut()``)
        self._rng = random.Random(0)
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
        if self.impairment is not None:
            return "impaired"
        return "blackhole" if self.hold_to_upstream or self.hold_to_client else "pass"

    def passthrough(self) -> None:
        """Forward traffic and accept new connections; held connections and bytes flow again."""
        self._call(lambda: self._set(False, False, False))

    def blackhole(self, *, to_upstream: bool = True, to_client: bool = True) -> None:
        """Half-open link: stop forwarding (both directions by default) without closing anything."""
        self._call(lambda: self._set(to_upstream, to_client, False))

    def impair(self, impairment: Impairment) -> None:
        """Slow, lossy link from now on (``passthrough()`` ends it; what is already late still arrives)."""
        def apply() -> None:
            self.impairment = impairment
            self._rng = random.Random(impairment.seed)
        self._call(apply)

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
        self.impairment = None
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
                    buf, late = ((pair.to_client, pair.late_client) if s is pair.client
                                 else (pair.to_upstream, pair.late_upstream))
                    pending = bytes(buf) + b"".join(d for _, d in late)
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
                self.refused += 1
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
                events = selectors.EVENT_READ if len(buf) + pair.late_bytes(buf) < BUFFER_LIMIT else 0
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
            wait = self._release_late()
            self._sync_selector()
            for key, events in self._sel.select(timeout=wait):
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
                if self.record is not None:
                    self.record += data
                if self.impairment is not None or pair.late_upstream or pair.late_client:
                    self._delay(pair, to_peer, data)
                else:
                    to_peer += data
        except BlockingIOError:
            pass
        except OSError:
            self._drop(pair, reset=True)

    # --- impaired link ------------------------------------------------------------------------------

    def _delay(self, pair: _Pair, to_peer: bytearray, data: bytes) -> None:
        """Queue ``data`` to be forwarded when due (or reset the connection, by the impairment's dice)."""
        imp, rng = self.impairment, self._rng
        late = pair.late_upstream if to_peer is pair.to_upstream else pair.late_client
        now = time.monotonic()
        if imp is None:  # impairment ended: what comes next queues behind what is still late
            late.append((late[-1][0] if late else now, data))
            return
        if rng.random() < imp.cut_p:
            self.cuts += 1
            self._drop(pair, reset=True)
            return
        due = max(late[-1][0] if late else now, now + imp.delay_s + rng.uniform(0.0, imp.jitter_s))
        if len(data) > 1 and rng.random() < imp.stall_p:
            self.stalls += 1
            at = rng.randrange(1, len(data))
            late.append((due, data[:at]))
            late.append((due + imp.stall_s, data[at:]))
        else:
            late.append((due, data))

    def _release_late(self) -> float:
        """Move due chunks to the send buffers; returns how long the selector may sleep."""
        now, wait = time.monotonic(), 0.5
        for pair in self._pairs:
            for late, buf in ((pair.late_upstream, pair.to_upstream), (pair.late_client, pair.to_client)):
                while late and late[0][0] <= now:
                    buf += late.popleft()[1]
                if late:
                    wait = min(wait, late[0][0] - now)
        return max(wait, 0.0)
