"""Property 26 and the ACL: a gate owns only its own topics; the central node owns sharaka/v1/#.

Every "nothing is delivered" check publishes a permitted sentinel afterwards from the same client and waits
for it at a central subscriber of sharaka/v1/#: MQTT keeps one client's messages in order, so once the
sentinel is there, a refused message that got through would be there too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from paho.mqtt.client import topic_matches_sub

from tests.support.broker import Broker, MqttTestClient, Pki
from tools.broker_setup import GATE_INBOUND, GATE_OUTBOUND

NOT_AUTHORIZED = 0x87
ACCEPTED = (0x00, 0x10)  # Success, No matching subscribers: both mean the broker took the message
GATES = "sharaka/v1/gates"


@pytest.fixture
def gate_a(broker: Broker) -> Iterator[MqttTestClient]:
    with MqttTestClient(broker, *broker.add_gate("gate-a")) as client:
        assert client.connect()
        yield client


@pytest.fixture
def central(broker: Broker) -> Iterator[MqttTestClient]:
    with MqttTestClient(broker, *broker.central) as client:
        assert client.connect()
        assert client.subscribe("sharaka/v1/#")[0].value == 1
        yield client


def assert_nothing_but_sentinel(gate: MqttTestClient, central: MqttTestClient, refused_topic: str) -> None:
    sentinel = f"{GATES}/gate-a/event"
    assert gate.publish(sentinel, b"sentinel").value == 0
    central.wait_for_message(sentinel)
    leaked = [m.topic for m in central.drain() if m.topic == refused_topic]
    assert leaked == []


REFUSED_PUBLISH = {
    **{f"b-{leaf}": f"{GATES}/gate-b/{leaf}" for leaf in (*GATE_OUTBOUND, *GATE_INBOUND)},
    **{f"own-{leaf}-forged": f"{GATES}/gate-a/{leaf}" for leaf in GATE_INBOUND},
    "own-subtopic": f"{GATES}/gate-a/event/extra",
    "hitlist-head": "sharaka/v1/hitlists/main/head",
    "central-topic": "sharaka/v1/central/anything",
    "outside-root": "other/root",
}


@pytest.mark.parametrize("topic", REFUSED_PUBLISH.values(), ids=REFUSED_PUBLISH.keys())
def test_gate_cannot_publish_outside_its_own_outbound_topics(
    gate_a: MqttTestClient, central: MqttTestClient, topic: str
):
    """26: PUBACK 0x87 Not authorized under MQTT 5, and nothing reaches a subscriber."""
    reason = gate_a.publish(topic, b"forged")
    assert reason is not None and reason.value == NOT_AUTHORIZED
    assert_nothing_but_sentinel(gate_a, central, topic)


def test_gate_cannot_forge_another_gates_retained_status(broker: Broker, gate_a: MqttTestClient):
    """26: a refused retained publish leaves no retained message behind for later subscribers."""
    topic = f"{GATES}/gate-b/status"
    assert gate_a.publish(topic, b"offline", retain=True).value == NOT_AUTHORIZED
    assert gate_a.publish(f"{GATES}/gate-a/status", b"online", retain=True).value in ACCEPTED
    with MqttTestClient(broker, *broker.central) as late:
        assert late.connect()
        late.subscribe(f"{GATES}/+/status")
        late.wait_for_message(f"{GATES}/gate-a/status")
        assert [m.topic for m in late.drain()] == []


@pytest.mark.parametrize(
    "topic_filter",
    [
        "#",
        "sharaka/v1/#",
        f"{GATES}/+/event",
        f"{GATES}/gate-b/cmd",
        f"{GATES}/gate-b/#",
        "+/v1/gates/gate-b/ack",
    ],
    ids=["everything", "root", "all-events", "b-cmd", "b-subtree", "wildcard-root"],
)
def test_gate_subscription_to_other_gates_receives_nothing(
    broker: Broker, gate_a: MqttTestClient, topic_filter: str
):
    """26: whatever a gate subscribes to, it never receives another gate's traffic, live or retained.

    Mosquitto 2.0's acl_file does not check subscriptions (SUBACK grants the QoS; its source carries a FIXME)
    but checks read access for every message it would deliver, so nothing arrives. Why not SUBACK 0x87:
    test_dynamic_security_plugin_refuses_subscriptions_only_with_a_role_naming_each_gate (docs/broker.md)."""
    broker.add_gate("gate-b")
    own_cmd = f"{GATES}/gate-a/cmd"
    with MqttTestClient(broker, *broker.central) as central:
        assert central.connect()
        for topic in (f"{GATES}/gate-b/cmd", own_cmd):
            assert central.publish(topic, b"retained", retain=True).value in ACCEPTED
        [suback] = gate_a.subscribe(topic_filter)
        assert suback.value == 0x01  # granted: 2.0.11's acl_file never refuses a subscription
        for topic in (f"{GATES}/gate-b/cmd", f"{GATES}/gate-b/ack", f"{GATES}/gate-b/event"):
            assert central.publish(topic, b"for b only").value in ACCEPTED
        # Sentinel: a message gate-a may read, published after the others by the same client.
        gate_a.subscribe(f"{GATES}/gate-a/ack")
        central.publish(f"{GATES}/gate-a/ack", b"sentinel")
        gate_a.wait_for_message(f"{GATES}/gate-a/ack")
        received = [m.topic for m in gate_a.drain()]
    assert [t for t in received if "gate-b" in t] == []
    # Control: the same subscription does deliver what gate-a may read (its own retained command).
    assert (own_cmd in received) == topic_matches_sub(topic_filter, own_cmd)


DYNAMIC_SECURITY = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
"""The one plugin Debian's mosquitto package (2.0.11) ships; the only stock part that checks subscriptions."""


def test_dynamic_security_plugin_refuses_subscriptions_only_with_a_role_naming_each_gate(tmp_path: Path, pki: Pki):
    """docs/broker.md "Caveat", why the broker keeps acl_file alone. With the plugin in front of acl_file on the
    certificate listener (its roles answer subscriptions; publishing and delivery are left to acl_file), a gate
    subscribing outside its own subtree gets SUBACK 0x87. But 2.0.11 substitutes no %u in the plugin's ACLs, so
    a role serves only the gate it names: the one role written for every gate (gate-b's, with %u) refuses a gate
    its own commands."""

    def role(name: str, own: str) -> dict[str, object]:
        return {"rolename": name, "acls": [
            {"acltype": "subscribePattern", "topic": f"{GATES}/{own}/#", "allow": True, "priority": 2},
            {"acltype": "subscribePattern", "topic": "sharaka/v1/hitlists/#", "allow": True, "priority": 1},
            {"acltype": "subscribePattern", "topic": "#", "allow": False, "priority": 0},
        ]}

    state = tmp_path / "dynamic-security.json"
    state.write_text(json.dumps({
        "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": False, "subscribe": False},
        "clients": [{"username": "gate-a", "roles": [{"rolename": "gate-a"}]},
                    {"username": "gate-b", "roles": [{"rolename": "every-gate"}]}],
        "roles": [role("gate-a", "gate-a"), role("every-gate", "%u")],
    }))
    plugin = f"plugin {DYNAMIC_SECURITY}\nplugin_opt_config_file {state}"  # after the last listener: the TLS one
    broker = Broker(tmp_path / "broker", tls=pki, extra_conf=plugin)
    with broker, MqttTestClient(broker, cert=pki.client_cert("gate-a")) as a, \
            MqttTestClient(broker, cert=pki.client_cert("gate-b")) as b, \
            MqttTestClient(broker, cert=pki.client_cert("central")) as central:
        assert a.connect() and b.connect() and central.connect()
        refused = ["#", "sharaka/v1/#", f"{GATES}/+/cmd", f"{GATES}/gate-b/cmd"]
        assert [a.subscribe(t)[0].value for t in refused] == [NOT_AUTHORIZED] * len(refused)
        assert [a.subscribe(t)[0].value for t in (f"{GATES}/gate-a/cmd", "sharaka/v1/hitlists/#")] == [1, 1]
        assert central.subscribe(f"$share/workers/{GATES}/+/event")[0].value == 1  # no role: acl_file grants
        assert a.publish(f"{GATES}/gate-a/event").value in ACCEPTED  # the role says nothing: acl_file decides
        assert a.publish(f"{GATES}/gate-b/event").value == NOT_AUTHORIZED
        assert b.subscribe(f"{GATES}/gate-b/cmd")[0].value == NOT_AUTHORIZED, (
            "the plugin substitutes %u now (Mosquitto 2.1 does): one role could serve every gate, see docs/broker.md")


def test_gate_publishes_its_own_outbound_topics(gate_a: MqttTestClient, central: MqttTestClient):
    for suffix in GATE_OUTBOUND:
        topic = f"{GATES}/gate-a/{suffix}"
        assert gate_a.publish(topic, suffix.encode()).value == 0
        assert central.wait_for_message(topic).payload == suffix.encode()


def test_gate_receives_its_inbound_topics_and_hitlists(gate_a: MqttTestClient, central: MqttTestClient):
    own = [f"{GATES}/gate-a/{leaf}" for leaf in GATE_INBOUND]
    topics = [*own, "sharaka/v1/hitlists/main/head"]
    for topic in [*own, "sharaka/v1/hitlists/#"]:
        assert gate_a.subscribe(topic)[0].value == 1
    for topic in topics:
        assert central.publish(topic, b"for a").value == 0
        assert gate_a.wait_for_message(topic).payload == b"for a"


def test_central_user_has_full_access_under_topic_root(central: MqttTestClient, gate_a: MqttTestClient):
    for topic in (
        f"{GATES}/gate-a/cmd",
        f"{GATES}/gate-z/ack",
        "sharaka/v1/hitlists/x/delta/7",
        "sharaka/v1/any",
    ):
        assert central.publish(topic, b"c").value in ACCEPTED
        assert central.wait_for_message(topic).payload == b"c"
    assert central.publish("outside/root", b"c").value == NOT_AUTHORIZED


def test_unknown_user_and_anonymous_are_refused(broker: Broker):
    for username, password in (("gate-x", "guess"), (None, None)):
        client = MqttTestClient(broker, username, password)
        assert not client.connect()
        assert client.connack is not None and client.connack.value in (0x86, 0x87)
        client.close()


def test_second_central_user_added_at_runtime_has_central_rights(broker: Broker, central: MqttTestClient):
    with MqttTestClient(broker, *broker.add_central("central-console")) as console:
        assert console.connect()
        assert console.publish(f"{GATES}/gate-q/cmd", b"from console").value in ACCEPTED
        assert central.wait_for_message(f"{GATES}/gate-q/cmd").payload == b"from console"
        assert central.is_connected  # a different username: no takeover of the central node's session


COMMAND_SENDER_REFUSED = {
    "gate-ack": f"{GATES}/gate-a/ack",
    "gate-event": f"{GATES}/gate-a/event",
    "hitlist-head": "sharaka/v1/hitlists/main/head",
    "anything": "sharaka/v1/any",
}


def test_command_sender_publishes_only_commands_warnings_and_shares_and_reads_only_results(
    broker: Broker, central: MqttTestClient
):
    """docs/broker.md: a ``central-cmd*`` user publishes commands, early warnings and what is shared with the
    region, and reads command results (and warnings) only: its account alone acks nothing and reads no event."""
    with MqttTestClient(broker, *broker.add_central("central-cmd-alice")) as cmd:
        assert cmd.connect()
        for topic in (f"{GATES}/gate-a/cmd", "sharaka/v1/alerts/a1", "sharaka/v1/federation/out/x1"):
            assert cmd.publish(topic, b"ok").value in ACCEPTED
            assert central.wait_for_message(topic).payload == b"ok"
        for topic in COMMAND_SENDER_REFUSED.values():
            assert cmd.publish(topic, b"forged").value == NOT_AUTHORIZED
        assert cmd.publish(f"{GATES}/gate-a/cmd", b"sentinel").value in ACCEPTED
        central.wait_for_message(f"{GATES}/gate-a/cmd")
        assert [m.topic for m in central.drain() if m.topic in COMMAND_SENDER_REFUSED.values()] == []
        cmd.subscribe("sharaka/v1/#")
        for topic in (f"{GATES}/gate-a/event", f"{GATES}/gate-a/status", f"{GATES}/gate-a/cmd/result"):
            assert central.publish(topic, b"c").value in ACCEPTED
        cmd.wait_for_message(f"{GATES}/gate-a/cmd/result")  # the sentinel: published last by the same client
        assert [m.topic for m in cmd.drain()] == []
