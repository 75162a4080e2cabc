"""The message schemas (agent/protocol/schema.py, RELIABILITY 40): everything they accept is in range and
round-trips through the envelope; any one field out of range, of the wrong type or oversized is refused
with ProtocolError (never another exception), on both sides."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from agent.keys import message_key_id, trusted
from agent.protocol.envelope import domain, open_signed, seal, unpack_body
from agent.protocol.schema import INT_MAX, MESSAGES, Bin, Bool, Int, List, Map, Num, ProtocolError, Str, Tree

KEY = SigningKey.generate()
TRUSTED = trusted([KEY.verify_key])
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def tree(depth: int = 3) -> st.SearchStrategy:
    leaves = st.none() | st.booleans() | st.integers(0, INT_MAX) | st.floats(allow_nan=False, allow_infinity=False,
                                                                            min_value=-1e18, max_value=1e18) \
        | st.text(max_size=20) | st.binary(max_size=20)
    return st.recursive(leaves, lambda kids: st.lists(kids, max_size=4)
                        | st.dictionaries(st.text(min_size=1, max_size=8), kids, max_size=4), max_leaves=12)


def valid(spec) -> st.SearchStrategy:
    """Values ``spec`` accepts, extremes included."""
    if isinstance(spec, Int):
        return st.integers(spec.lo, spec.hi) | st.sampled_from([spec.lo, spec.hi])
    if isinstance(spec, Num):
        return st.floats(spec.lo, spec.hi, allow_nan=False, allow_infinity=False) | st.sampled_from([spec.lo, spec.hi])
    if isinstance(spec, Str):
        if spec.choices:
            return st.sampled_from(spec.choices)
        if spec.pattern:
            return st.from_regex(spec.pattern, fullmatch=True).filter(lambda s: spec.lo <= len(s) <= spec.hi)
        longest = ("é\x1b[2J\u202e" * spec.hi)[: spec.hi]  # the longest string allowed, control characters too
        return st.text(min_size=spec.lo, max_size=min(spec.hi, 80)) | st.just(longest)
    if isinstance(spec, Bin):
        return st.binary(min_size=spec.lo, max_size=min(spec.hi, 64))
    if isinstance(spec, Bool):
        return st.booleans()
    if isinstance(spec, List):
        return st.lists(valid(spec.item), max_size=min(spec.hi, 5))
    if isinstance(spec, Tree):
        return tree()
    if isinstance(spec, Map):
        required = {k: valid(v) for k, v in spec.fields.items() if k not in spec.optional}
        optional = {k: valid(v) for k, v in spec.fields.items() if k in spec.optional}
        return st.fixed_dictionaries(required, optional=optional)
    raise AssertionError(spec)


def invalid(spec) -> st.SearchStrategy:
    """Values ``spec`` refuses: out of range, non-finite, oversized, or of another type."""
    wrong_type = st.sampled_from([None, "1", b"1", [1], {"a": 1}, 1.5, True])
    if isinstance(spec, Int):
        out = st.integers(max_value=spec.lo - 1) | st.integers(min_value=spec.hi + 1, max_value=2**64 - 1)
        return out | st.sampled_from([-1 if spec.lo == 0 else spec.lo - 1, 2**63, 2**64 - 1, float(spec.lo), True]) \
            | wrong_type.filter(lambda v: not isinstance(v, int) or isinstance(v, bool))
    if isinstance(spec, Num):
        return st.sampled_from([math.nan, math.inf, -math.inf, spec.lo - 1, spec.hi * 2, 2**64 - 1, False, "1"])
    if isinstance(spec, Str):
        bad = st.text(min_size=spec.hi + 1, max_size=spec.hi + 3) | st.sampled_from([1, b"x", None])
        if spec.choices:
            bad |= st.text(max_size=5).filter(lambda s: s not in spec.choices)
        if spec.pattern:
            bad |= st.sampled_from(["", "a/b", "a\n", "+", "#", "-a", "a b"]).filter(lambda s: s or spec.lo)
        return bad
    if isinstance(spec, Bin):
        return st.binary(min_size=spec.hi + 1, max_size=spec.hi + 2) if spec.hi < 1000 else st.sampled_from(["x", 1])
    if isinstance(spec, Bool):
        return st.sampled_from([0, 1, "true", None])
    if isinstance(spec, List):
        return st.sampled_from(["x", {"a": 1}]) | st.lists(invalid(spec.item), min_size=1, max_size=2)
    if isinstance(spec, Map):
        return st.sampled_from(["x", [1], None])
    raise AssertionError(spec)


def _deep(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("msg_type", sorted(MESSAGES))
@SETTINGS
@given(data=st.data())
def test_every_body_the_schema_accepts_round_trips_through_the_envelope(msg_type, data):
    body = data.draw(valid(MESSAGES[msg_type]))
    body.pop("v"), body.pop("t")
    wire = seal(msg_type, body, [KEY])
    got, _ = open_signed(msg_type, wire, TRUSTED)
    assert got == {"v": 1, "t": msg_type, **body}


@pytest.mark.parametrize("msg_type", sorted(MESSAGES))
@SETTINGS
@given(data=st.data())
def test_one_out_of_range_field_rejects_the_whole_message(msg_type, data):
    schema = MESSAGES[msg_type]
    body = data.draw(valid(schema))
    name = data.draw(st.sampled_from(sorted(k for k in schema.fields if k not in ("v", "t"))))
    spec = schema.fields[name]
    body[name] = data.draw(invalid(spec))
    with pytest.raises(ProtocolError, match=name):
        schema.check(body, "")
    try:  # the same body signed and sent: refused by the receiver, never any other exception
        packed = msgpack.packb(body, use_bin_type=True)
    except (OverflowError, TypeError, ValueError):
        return  # not even encodable
    with pytest.raises(ProtocolError):
        unpack_body(msg_type, packed)


@SETTINGS
@given(raw=st.binary(max_size=300) | tree().map(lambda v: msgpack.packb(v, use_bin_type=True)))
def test_arbitrary_bytes_as_a_body_raise_only_protocol_error(raw):
    for msg_type in MESSAGES:
        with pytest.raises(ProtocolError):
            unpack_body(msg_type, raw)


BAD_NESTED = {
    "status-list-version-2**64-1": ("status", {"hitlist": {"version": 2**64 - 1}}),
    "status-session-negative": ("status", {"session": -1}),
    "status-nan-in-extra": ("status", {"outbox": {"oldest_age": math.nan}}),
    "status-deeply-nested-extra": ("status", {"hardware": _deep(50)}),
    "status-huge-int-in-extra": ("status", {"link": {"acked": 2**63}}),
    "event-created-inf": ("event", {"created": math.inf}),
    "event-ts-negative": ("event", {"ts": -1.0}),
    "cmd-args-deep": ("cmd", {"args": {"a": _deep(20)}}),
    "unknown-extra-field-oversized-list": ("event", {"extra": list(range(300))}),
    "ack-id-not-a-string": ("ack", {"ids": [1]}),
}


@pytest.mark.parametrize(("msg_type", "over"), list(BAD_NESTED.values()), ids=list(BAD_NESTED))
def test_nested_and_extra_fields_are_bounded(msg_type, over):
    body = {"v": 1, "t": msg_type, "id": "x", "ts": 1.0}
    base = {
        "status": {"gate": "g", "session": 1, "state": "online", "kind": "heartbeat"},
        "event": {"gate": "g", "seq": 1, "kind": "decision", "created": 1.0, "body": b""},
        "cmd": {"gate": "g", "seq": 1, "op": "x", "args": {}, "issued": 1.0, "not_after": 2.0, "nonce": b"n" * 16},
        "ack": {"gate": "g", "ids": []},
    }[msg_type]
    good = {**body, **base}
    MESSAGES[msg_type].check(good, "")
    with pytest.raises(ProtocolError):
        MESSAGES[msg_type].check({**good, **over}, "")


STATUS = {"id": "s", "ts": 1.0, "gate": "g", "session": 1, "state": "online", "kind": "heartbeat"}
OVER_THE_RECEIVERS_LIMITS = {
    "status-hardware-map-of-65-entries": {"hardware": {f"sensor{i}": i for i in range(65)}},
    "status-nested-map-of-65-entries": {"link": {"rejected": {f"reason{i}": 1 for i in range(65)}}},
    "status-over-256-KiB-on-the-wire": {"notes": [[["x" * 4000] * 20] * 4]},
}


@pytest.mark.parametrize("over", list(OVER_THE_RECEIVERS_LIMITS.values()), ids=list(OVER_THE_RECEIVERS_LIMITS))
def test_seal_refuses_what_every_receiver_refuses(over):
    """docs/protocol.md "Envelope": a receiver's unpacker refuses a map over 64 entries and a message over 256 KiB
    before any schema, so ``seal`` refuses them too: a gate never commits a message its centre refuses for ever."""
    packed = msgpack.packb({"v": 1, "t": "status", **STATUS, **over}, use_bin_type=True)
    signed_anyway = b"SG\x01\x01" + message_key_id(KEY.verify_key) + KEY.sign(domain("status") + packed).signature
    with pytest.raises(ProtocolError):
        open_signed("status", signed_anyway + packed, TRUSTED)
    with pytest.raises(ProtocolError):
        seal("status", {**STATUS, **over}, [KEY])


def test_map_of_64_entries_is_sealed_and_opened():
    wire = seal("status", {**STATUS, "hardware": {f"sensor{i}": i for i in range(64)}}, [KEY])
    assert len(open_signed("status", wire, TRUSTED)[0]["hardware"]) == 64
