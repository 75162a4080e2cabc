"""The central node's MQTT client reads its socket in large gulps (tools/central/mqttsocket.py): a burst of
packets costs one system call, not three or four per packet, and nothing is lost or reordered on the way."""

from __future__ import annotations

import socket
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.wait import wait_until
from tools.central.mqttsocket import BufferedClient, ReadBuffer


class CountingSocket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.recvs = sock, 0

    def recv(self, n: int) -> bytes:
        self.recvs += 1
        return self.sock.recv(n)


def test_a_burst_of_packets_read_as_paho_reads_them_costs_one_system_call():
    a, b = socket.socketpair()
    packets = [bytes([0x32, 3]) + bytes([i]) * 3 for i in range(50)]  # command, length, body
    a.sendall(b"".join(packets) + b"\x32\x05ab")  # and the first part of one more
    raw = CountingSocket(b)
    buf = ReadBuffer(raw)
    got = []
    for _ in packets:
        cmd, length = buf.recv(1), buf.recv(1)
        got.append(cmd + length + buf.recv(length[0]))
    assert got == packets and raw.recvs == 1
    assert buf.pending() == 4 and buf.recv(1) + buf.recv(1) + buf.recv(5) == b"\x32\x05ab"  # a partial read
    a.sendall(b"cd")  # the rest of it, later
    assert buf.recv(3) == b"cd" and raw.recvs == 2
    b.setblocking(False)
    with pytest.raises(BlockingIOError):  # nothing waiting: paho's "try again", passed on as it is
        buf.recv(1)
    a.close()
    assert buf.recv(1) == b""  # the peer closed


def test_the_buffered_client_talks_to_a_real_broker_with_nodelay(broker):
    user, password = broker.central
    got: list[bytes] = []
    client = BufferedClient(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    client.on_message = lambda _c, _u, msg: got.append(msg.payload)
    client.on_connect = lambda c, *_a: c.subscribe("sharaka/v1/test/#", qos=1)
    subscribed = threading.Event()  # set on the SUBACK: what is published from then on comes back
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(10), "no SUBACK"
        sock = client.socket()
        assert isinstance(sock, ReadBuffer)
        assert sock.raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        payloads = [bytes([i % 256]) * (i * 37 % 3000) + b"#" for i in range(300)]
        for p in payloads:
            client.publish("sharaka/v1/test/x", p, qos=1)
        assert wait_until(lambda: len(got) == len(payloads), 10)
        assert got == payloads
    finally:
        client.disconnect()
        client.loop_stop()
