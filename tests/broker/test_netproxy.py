"""The test network proxy behaves like the link failures it stands for (tests/support/netproxy.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.broker import Broker, MqttTestClient
from tests.support.netproxy import Impairment, NetProxy


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP echo server on loopback (one thread per connection)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except ConnectionResetError:
                pass  # the proxy's cut() resets this side too

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[NetProxy]:
    with NetProxy(echo_port) as p:
        yield p


def connect(proxy: NetProxy) -> socket.socket:
    s = socket.create_connection((proxy.host, proxy.port), timeout=2)
    proxy.wait_for_connections(1)
    return s


def recv_exactly(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionResetError("closed")
        data += chunk
    return data


def held_until_passthrough(s: socket.socket, proxy: NetProxy, data: bytes) -> None:
    """``data`` sent on ``s`` is held (nothing comes back) while blackholed, then arrives once the link returns."""
    s.sendall(data)
    s.settimeout(0.3)
    with pytest.raises(TimeoutError):
        s.recv(10)
    proxy.passthrough()
    s.settimeout(2)
    assert recv_exactly(s, len(data)) == data


def test_passthrough_forwards_both_ways(proxy: NetProxy):
    with connect(proxy) as s:
        payload = bytes(range(256)) * 1000
        threading.Thread(target=s.sendall, args=(payload,), daemon=True).start()
        assert recv_exactly(s, len(payload)) == payload


def test_blackhole_holds_traffic_without_closing_then_delivers_it_in_order(proxy: NetProxy):
    with connect(proxy) as s:
        proxy.blackhole()
        s.sendall(b"first ")
        s.sendall(b"second")
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):  # nothing comes back, and the socket is not closed either
            s.recv(100)
        s.settimeout(2)
        proxy.passthrough()
        assert recv_exactly(s, 12) == b"first second"


def test_one_way_blackhole_lets_requests_through_and_holds_replies(proxy: NetProxy, echo_port: int):
    """Replies held, requests pass: the echo server got the bytes (its reply waits in the proxy)."""
    with connect(proxy) as s:
        proxy.blackhole(to_upstream=False)
        assert proxy.mode == "blackhole"
        held_until_passthrough(s, proxy, b"ping")


def test_connection_made_during_blackhole_is_accepted_but_silent_until_link_returns(proxy: NetProxy):
    proxy.blackhole()
    with socket.create_connection((proxy.host, proxy.port), timeout=2) as s:
        held_until_passthrough(s, proxy, b"hello")


def test_cut_resets_current_connections_and_new_ones_still_pass(proxy: NetProxy):
    s = connect(proxy)
    proxy.cut()
    with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
        s.sendall(b"x")
        recv_exactly(s, 1)
    s.close()
    with socket.create_connection((proxy.host, proxy.port), timeout=2) as s2:
        s2.sendall(b"again")
        assert recv_exactly(s2, 5) == b"again"


def test_refuse_resets_new_connections_but_keeps_current_ones(proxy: NetProxy):
    with connect(proxy) as old:
        proxy.refuse()
        with pytest.raises((ConnectionResetError, ConnectionAbortedError)):  # at connect or first I/O
            new = socket.create_connection((proxy.host, proxy.port), timeout=2)
            new.sendall(b"x")
            recv_exactly(new, 1)
        old.sendall(b"still")
        assert recv_exactly(old, 5) == b"still"


def test_impaired_link_delivers_every_byte_late_in_order_and_stalls_mid_stream(proxy: NetProxy):
    """Latency and stalls change when bytes arrive, never which or in what order (TCP hides loss as delay)."""
    with connect(proxy) as s:
        proxy.impair(Impairment(delay_s=0.1, jitter_s=0.05, stall_p=1.0, stall_s=0.3, seed=1))
        assert proxy.mode == "impaired"
        start = time.monotonic()
        s.sendall(b"0123456789")
        s.settimeout(3)
        first = s.recv(10)
        assert time.monotonic() - start >= 0.2 and first and len(first) < 10  # two delays, then half of it
        rest = recv_exactly(s, 10 - len(first))
        assert first + rest == b"0123456789"
        assert time.monotonic() - start >= 0.5 and proxy.stalls >= 1  # the tail held stall_s longer
        proxy.passthrough()
        s.sendall(b"fast")
        assert recv_exactly(s, 4) == b"fast"


def test_impaired_link_resets_connections_losing_what_they_carried(proxy: NetProxy):
    with connect(proxy) as s:
        proxy.impair(Impairment(delay_s=1.0, cut_p=1.0, seed=2))
        s.sendall(b"lost")
        s.settimeout(3)
        with pytest.raises((ConnectionResetError, ConnectionAbortedError)):
            recv_exactly(s, 4)
        assert proxy.cuts == 1 and proxy.connections == 0


@pytest.mark.parametrize(
    "direction",
    [{}, {"to_upstream": False}, {"to_client": False}],
    ids=["both-ways", "replies-lost", "requests-lost"],
)
def test_mqtt_keepalive_notices_blackhole_and_reconnects_after(broker: Broker, direction: dict[str, bool]):
    """The behaviour property 21 relies on: with the link silently dropping traffic (either way), a paho
    client with keepalive K gets no PINGRESP and drops the connection within about 2 x K; once the link
    returns a new connection works."""
    with NetProxy(broker.port) as proxy:
        client = MqttTestClient(broker, *broker.central, keepalive=1, port=proxy.port)
        with client:
            assert client.connect()
            proxy.blackhole(**direction)
            start = time.monotonic()
            assert client.wait_for_disconnect(5)
            noticed = time.monotonic() - start
            assert noticed <= 2 * 1 + 1.5
        proxy.passthrough()
        with MqttTestClient(broker, *broker.central, port=proxy.port) as again:
            assert again.connect()
            assert again.publish("sharaka/v1/x").value in (0x00, 0x10)
