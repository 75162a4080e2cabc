"""Why delivery means the central node's ack, not a PUBACK: Mosquitto drops, silently, QoS 1 messages queued
for an offline persistent subscriber beyond ``max_queued_messages`` (default 1000), while the publisher got
a successful PUBACK for every one of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.broker import Broker, MqttTestClient

EVENTS = "sharaka/v1/gates/gate-a/event"


def queued_for_offline_central(broker: Broker, sent: int) -> tuple[list[int], list[int]]:
    """Central subscribes with a persistent session and goes away; gate-a publishes ``sent`` events; central
    comes back. Returns (PUBACK reason codes seen by the gate, sequence numbers central received)."""
    central = MqttTestClient(broker, *broker.central, clean_start=False, session_expiry=3600)
    assert central.connect()
    assert central.subscribe(EVENTS)[0].value == 1
    central.close()
    with MqttTestClient(broker, *broker.add_gate("gate-a")) as gate:
        assert gate.connect()
        reasons = [r.value for r in gate.publish_all(EVENTS, [str(i).encode() for i in range(sent)])]
    central = MqttTestClient(broker, *broker.central, clean_start=False, session_expiry=3600)
    with central:
        assert central.connect()
        received = [int(central.wait_for_message(EVENTS).payload)]
        while True:
            try:
                received.append(int(central.wait_for_message(EVENTS, timeout=0.5).payload))
            except TimeoutError:
                break
    return reasons, received


def test_default_queue_limit_drops_excess_for_offline_subscriber_after_puback(broker: Broker):
    reasons, received = queued_for_offline_central(broker, 1100)
    assert reasons == [0] * 1100  # every event "accepted" by the broker
    assert len(received) == 1000  # ... but only max_queued_messages of them were kept
    assert received == list(range(1000))  # the oldest are kept, the newest silently dropped
    assert "Outgoing messages are being dropped for client central." in broker.log_text()


@pytest.mark.parametrize("limit", [10, 50])
def test_max_queued_messages_is_configurable(tmp_path: Path, limit: int):
    broker = Broker(tmp_path, max_queued_messages=limit)
    with broker:
        _reasons, received = queued_for_offline_central(broker, limit + 20)
    assert received == list(range(limit))
