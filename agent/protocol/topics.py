"""Every MQTT topic string of Sharaka Gate (docs/protocol.md). Nothing else builds topics by hand."""

from __future__ import annotations

from agent.errors import BadDataError
from agent.protocol import ids

ROOT = "sharaka/v1"
GATES = f"{ROOT}/gates"
HITLISTS = f"{ROOT}/hitlists"
ALERTS = f"{ROOT}/alerts"  # retained early warnings, one topic per alert: sharaka/v1/alerts/{alert_id}
# Federation (docs/central.md "Federation"): a centre publishes what it shares on FED_OUT/{item_id}; its broker's
# bridge maps that to REGION/{centre}/{item_id} at the regional hub, and the hub's REGION/{centre}/{item_id}
# back to FED_IN/{centre}/{item_id} at every national broker (tools/site_bridge.py generates both).
FED_OUT = f"{ROOT}/federation/out"
FED_IN = f"{ROOT}/federation/in"
REGION = f"{ROOT}/region"  # at the hub only
ENROL = f"{ROOT}/enrol"  # enrolment of a new gate (docs/provisioning.md): only the enrolment account writes here
ENROL_CLIENT_PREFIX = "enrol-"  # an enrolling gate's client id: enrol-{token id}
ENROL_REQ = "req"  # out: the signed, token-authenticated enrolment request
ENROL_REPLY = "reply"  # in: the centre's answer

# Leaves under sharaka/v1/gates/{gate_id}/ (direction as seen from the gate).
EVENT = "event"  # out: routine decision events, QoS 1
HIT = "hit"  # out: hit alerts, QoS 1, drained ahead of events
STATUS = "status"  # out: retained birth / heartbeat / last will
CMD_RESULT = "cmd/result"  # out: outcome of every command, accepted or not
HITLIST_REQ = "hitlist/req"  # out: chunk requests for hit-list deltas or snapshots
QUERY = "query"  # out: online document query (MQTT 5 request/response)
KEY_ROTATE = "key/rotate"  # out: device-key rotation request, signed by the old and the new key
ACK = "ack"  # in: the central node's acknowledgement after its own commit
CMD = "cmd"  # in: signed commands
HITLIST_CHUNK = "hitlist/chunk"  # in: chunk responses
QUERY_REPLY = "query/reply"  # in: online query responses (the response topic)
KEY_CONFIRM = "key/confirm"  # in: the centre's signed confirmation that it holds the new device key

GATE_OUT = (EVENT, HIT, STATUS, CMD_RESULT, HITLIST_REQ, QUERY, KEY_ROTATE)
GATE_IN = (ACK, CMD, HITLIST_CHUNK, QUERY_REPLY, KEY_CONFIRM)

def check_id(value: str, what: str = "gate id") -> str:
    """Return ``value`` if it is a valid gate id (or, with ``what="list id"``, list id); BadDataError
    otherwise. The rule is agent.protocol.ids's, the one the config and the broker set-up use."""
    return ids.check_gate_id(value) if what == "gate id" else ids.check_id(value, what)


def gate(gate_id: str, leaf: str) -> str:
    """Topic ``sharaka/v1/gates/{gate_id}/{leaf}``."""
    return f"{GATES}/{check_id(gate_id)}/{leaf}"


def all_gates(leaf: str) -> str:
    """Subscription filter for ``leaf`` of every gate (central side)."""
    return f"{GATES}/+/{leaf}"


def hitlist_head(list_id: str) -> str:
    """Retained, short-lived signed head of a hit-list."""
    return f"{HITLISTS}/{check_id(list_id, 'list id')}/head"


def all_hitlist_heads() -> str:
    """Subscription filter for the heads of every hit-list (gate side)."""
    return f"{HITLISTS}/+/head"


def alert(alert_id: str) -> str:
    """Retained topic of one early warning (docs/protocol.md "Early warnings")."""
    return f"{ALERTS}/{check_id(alert_id, 'alert id')}"


def all_alerts() -> str:
    """Subscription filter for every early warning (gate side)."""
    return f"{ALERTS}/+"


def federation_out(item_id: str) -> str:
    """Where this centre publishes one item it shares with the region."""
    return f"{FED_OUT}/{check_id(item_id, 'federation item id')}"


def all_federation_in() -> str:
    """Subscription filter for the items other centres shared (``FED_IN/{origin}/{item_id}``)."""
    return f"{FED_IN}/+/+"


def parse_federation_in(topic: str) -> str:
    """The origin centre named by ``sharaka/v1/federation/in/{origin}/{item_id}``; BadDataError otherwise."""
    prefix = FED_IN + "/"
    origin, _, item = topic.removeprefix(prefix).partition("/")
    if not topic.startswith(prefix) or "/" in item:
        raise BadDataError(f"topic {topic!r} is not under {prefix!r}")
    ids.check_id(item, "federation item id")
    return ids.check_id(origin, "centre id")


def enrol(client_id: str, leaf: str) -> str:
    """Topic ``sharaka/v1/enrol/{client_id}/{leaf}`` of one enrolling gate (client id ``enrol-{token id}``)."""
    return f"{ENROL}/{ids.check_id(client_id, 'enrolment client id')}/{leaf}"


def all_enrol_requests() -> str:
    """Subscription filter for every enrolment request (central side)."""
    return f"{ENROL}/+/{ENROL_REQ}"


def parse_enrol_topic(topic: str) -> str:
    """The client id of ``sharaka/v1/enrol/{client_id}/req``; BadDataError otherwise."""
    prefix, suffix = ENROL + "/", "/" + ENROL_REQ
    if not (topic.startswith(prefix) and topic.endswith(suffix)):
        raise BadDataError(f"topic {topic!r} is not an enrolment request")
    return ids.check_id(topic[len(prefix) : -len(suffix)], "enrolment client id")


def parse_gate_topic(topic: str) -> tuple[str, str]:
    """Split ``sharaka/v1/gates/{gate_id}/{leaf}`` into (gate_id, leaf); BadDataError otherwise."""
    prefix = GATES + "/"
    if not topic.startswith(prefix):
        raise BadDataError(f"topic {topic!r} is not under {prefix!r}")
    gate_id, _, leaf = topic[len(prefix) :].partition("/")
    check_id(gate_id)
    if leaf not in GATE_OUT and leaf not in GATE_IN:
        raise BadDataError(f"unknown gate topic leaf {leaf!r} in {topic!r}")
    return gate_id, leaf
