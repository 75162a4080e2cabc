"""Connection policy: jittered exponential backoff, MQTT 3.1.1 operation, ending paho's network thread."""

from __future__ import annotations

import linecache
import random
import sys
import threading
from collections.abc import Callable
from types import FrameType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.link.connection import backoff as _jitter
from agent.link.connection import end_network_loop
from tests.support.link import make_central, make_gate
from tests.support.wait import wait_until


def test_backoff_is_jittered_exponential_and_capped():
    rng = random.Random(1)
    for attempt, cap in [(0, 0.5), (1, 1.0), (3, 4.0), (10, 60.0), (40, 60.0)]:
        waits = [_jitter(attempt, 0.5, 60.0, rng) for _ in range(200)]
        assert all(0.5 <= w <= cap for w in waits)
        if cap > 0.5:
            assert len({round(w, 3) for w in waits}) > 150, "no jitter: gates would reconnect in lockstep"
            assert max(waits) > 0.8 * cap


def test_gate_works_over_mqtt_311(mq, tmp_path, keys):
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, protocol=4)
    try:
        ids = gate.emit(20)
        assert wait_until(lambda: gate.outbox.depth() == 0, 10), gate.link.stats
        assert [e["msg_id"] for e in central.store.events("gate-a")] == ids
        assert wait_until(lambda: central.store.gates()[0]["online"] == 1, 5)
    finally:
        gate.stop()
        central.stop()


def test_network_thread_ending_between_loop_stops_check_and_join_is_no_crash(mq):
    """paho 2.2's ``loop_stop`` checks the client's thread, then joins it; a thread that ends by itself in
    between (a lost connection) clears it first and the join raised AttributeError on None, killing the
    supervisor (seen at the end of a fleet run). Made deterministic without touching paho: a line tracer
    holds the stopping thread at the join until paho's network thread has ended."""
    user, password = mq.add_gate("race-a")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="race-a", reconnect_on_failure=False)
    client.username_pw_set(user, password)
    client.connect(mq.host, mq.port, 30)
    client.loop_start()
    network = next(t for t in threading.enumerate() if t.name == "paho-mqtt-client-race-a")
    held = []

    def at_the_join(frame: FrameType, event: str, _arg: object) -> Callable[..., object] | None:
        if frame.f_code.co_name != "loop_stop":
            return None
        if event == "line" and "join()" in linecache.getline(frame.f_code.co_filename, frame.f_lineno):
            network.join(10)  # loop_stop asked it to end: it leaves its loop within a second, clearing _thread
            held.append(network.is_alive())
        return at_the_join

    sys.settrace(at_the_join)
    try:
        end_network_loop(client)  # raised AttributeError: 'NoneType' object has no attribute 'join'
    finally:
        sys.settrace(None)
        client.disconnect()
    assert held == [False], "the race was not reproduced: paho's loop_stop changed (see end_network_loop)"


class _Quiet:
    """A link that wants nothing from its connection (the ConnectionListener protocol)."""

    connected = 0

    def subscriptions(self) -> list[tuple[str, int]]:
        return [("sharaka/v1/gates/race-b/cmd", 1)]

    def will(self) -> bytes:
        return b"offline"

    def on_connected(self) -> None:
        self.connected += 1

    def on_lost(self) -> None:
        pass

    def on_message(self, msg: mqtt.MQTTMessage) -> None:
        pass

    def on_puback(self, mid: int, failure: str | None) -> None:
        pass


def test_stop_while_a_connection_is_being_set_up_ends_the_supervisor_and_leaves_no_gate_connected(
        mq, tmp_path, monkeypatch):
    """``stop`` sets the current connection's "lost" event; called while the supervisor was still writing the new
    session number (an fsync: long on a busy disk), it set the previous connection's, and the supervisor then
    connected and waited on its new event for ever: a stopped gate still connected, its thread never joined.
    The interleaving is pinned by holding the supervisor in its session write until ``stop`` has been asked."""
    import time

    from agent.link import connection
    from agent.link.config import LinkConfig

    user, password = mq.add_gate("race-b")
    conn = connection.Connection(LinkConfig(gate_id="race-b", host=mq.host, port=mq.port, username=user,
                                            password=password), _Quiet(), tmp_path, monotonic=time.monotonic)
    write_json = connection.write_json
    previous = conn._lost

    def slow_write(path, value):  # type: ignore[no-untyped-def]
        assert wait_until(lambda: conn._stop.is_set() and previous.is_set(), 10), "stop() was not called"
        write_json(path, value)

    monkeypatch.setattr(connection, "write_json", slow_write)
    listener = conn._listener
    conn.start()
    conn.stop(None, timeout=10)
    assert conn._thread is not None and not conn._thread.is_alive(), "the supervisor outlived stop()"
    assert listener.connected == 0 and not conn.is_connected, "a stopped gate connected"
