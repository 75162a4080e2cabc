"""Hypothesis fuzzers of every parser that takes bytes from outside the gate: each refuses bad input with
its documented error and nothing else, and leaves the last good state as it was.

The default run tries ``FUZZ_EXAMPLES`` inputs per fuzzer (env ``SHARAKA_FUZZ_EXAMPLES`` raises it; the
figures in docs/reliability.md "Fuzzing" come from ``SHARAKA_FUZZ_EXAMPLES=5000``). Coverage-guided runs
of the same parsers: ``python -m tests.fuzz.atheris_main TARGET`` (docs/reliability.md)."""

from __future__ import annotations

import datetime
import os
import tempfile
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from agent.config import load_config
from agent.errors import AgentError, BadDataError, ConfigError
from agent.hitlist.errors import HitListRejected
from agent.hitlist.store import HitListStore
from agent.link import GateLink, LinkConfig
from agent.mrz import MrzResult, parse_mrz
from agent.outbox import Outbox
from agent.protocol import topics
from agent.protocol.envelope import MAGIC, ProtocolError, open_signed, seal
from agent.protocol.schema import MESSAGES
from agent.screening.events import EventOpener
from hal.reader.framing import FRAMERS
from hal.reader.types import Misread, ReaderDocument
from tests.support.gatesim import CLEAR_DOC, LISTED_DOC
from tests.support.hitlist_central import T0, Central, doc, observe

FUZZ_EXAMPLES = int(os.environ.get("SHARAKA_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TODAY = datetime.date(2026, 12, 3)
MRZ_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"


def mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """``seed`` with bytes flipped, cut, inserted or repeated: inputs near a valid one reach deep code."""
    flip = st.tuples(st.integers(0, max(0, len(seed) - 1)), st.integers(1, 255)).map(
        lambda t: seed[: t[0]] + bytes([seed[t[0]] ^ t[1]]) + seed[t[0] + 1:])
    cut = st.integers(0, len(seed)).map(lambda n: seed[:n])
    insert = st.tuples(st.integers(0, len(seed)), st.binary(min_size=1, max_size=16)).map(
        lambda t: seed[: t[0]] + t[1] + seed[t[0]:])
    return flip | cut | insert | st.binary(max_size=64).map(lambda b: seed + b)


# ------------------------------------------------------------------------------------------- MRZ engine
mrz_lines = st.lists(
    st.text(alphabet=MRZ_ALPHABET, min_size=25, max_size=48) | st.text(max_size=50), min_size=0, max_size=4)


@FUZZ
@given(mrz_lines)
def test_fuzz_mrz_engine_parses_or_refuses_with_bad_data_error(lines):
    try:
        result = parse_mrz(lines, today=TODAY)
    except BadDataError:
        return
    assert isinstance(result, MrzResult)


@FUZZ
@given(st.sampled_from([CLEAR_DOC, LISTED_DOC]).flatmap(lambda d: mutations("\n".join(d).encode())))
def test_fuzz_mrz_engine_on_mutated_documents(data):
    try:
        parse_mrz(data.decode("latin-1"), today=TODAY)
    except BadDataError:
        pass


# -------------------------------------------------------------------------------------------- framers
@pytest.mark.parametrize("mode", sorted(FRAMERS))
@FUZZ
@given(data=st.data())
def test_fuzz_every_framer_emits_only_documents_and_misreads_within_its_buffer(mode, data):
    framer = FRAMERS[mode]()
    valid = framer.encode(list(CLEAR_DOC))
    chunks = data.draw(st.lists(st.binary(max_size=300) | mutations(valid), max_size=8))
    out = []
    for i, chunk in enumerate(chunks):
        out += framer.feed(chunk, float(i))
        assert framer.buffered <= framer.max_buffered
    out += framer.idle(100.0)
    assert all(isinstance(o, ReaderDocument | Misread) for o in out)
    assert not framer.pending
    for o in out:
        if isinstance(o, ReaderDocument):  # a document out of a framer is a well-formed MRZ shape
            parse_mrz(list(o.lines), today=TODAY)


def test_rte_message_whose_etx_lies_past_the_frame_limit_is_oversize_not_buffered():
    """Found by the framer fuzzer: an ETX beyond MAX_FRAME with its BCC not yet arrived kept one byte
    more than ``max_buffered``."""
    framer = FRAMERS["rte"]()
    out = framer.feed(b"\x01\x00\x00OU\x02" + b"\x00" * (framer.max_buffered - 6) + b"\x03", 0.0)
    assert framer.buffered <= framer.max_buffered
    assert any(isinstance(o, Misread) and "oversize" in o.reason for o in out)


# ------------------------------------------------------------------------------- inbound MQTT messages
NODE = SigningKey.generate()
GATE_ID = "gate-f"
_tree_leaf = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=30)
              | st.binary(max_size=30))
tree = st.recursive(_tree_leaf, lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=10)


def signed_raw(msg_type: str, body: dict) -> bytes:
    """``body`` packed as it is (no schema check) and signed by the node key: what a buggy or compromised
    centre could send, past the signature check."""
    packed = msgpack.packb(body, use_bin_type=True)
    from agent.keys import message_key_id
    from agent.protocol.envelope import FORMAT, domain

    return MAGIC + bytes([FORMAT, 1]) + message_key_id(NODE.verify_key) + NODE.sign(domain(msg_type) + packed).signature \
        + packed


def fields_of(msg_type: str) -> st.SearchStrategy[dict]:
    """Bodies with the type's field names (valid ones mixed with wild values) plus extra keys."""
    names = list(MESSAGES[msg_type].fields)
    return st.fixed_dictionaries({}, optional={n: tree for n in names}).flatmap(
        lambda d: st.dictionaries(st.text(max_size=8), tree, max_size=3).map(
            lambda extra: {**extra, **d, "t": msg_type}))


@pytest.fixture(scope="module")
def gate_link():
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "outbox.sqlite3")
        outbox.append("decision", "kept", b"x", priority=0)
        link = GateLink(LinkConfig(gate_id=GATE_ID, port=1), outbox, SigningKey.generate(),
                        node_keys=[NODE.verify_key], command_keys=[NODE.verify_key], state_dir=Path(tmp) / "link")
        yield link
        outbox.close()


INBOUND = {topics.ACK: "ack", topics.CMD: "cmd", topics.HITLIST_CHUNK: "hitlist_chunk",
           topics.KEY_CONFIRM: "key_confirm"}


@pytest.mark.parametrize("leaf", sorted(INBOUND))
@FUZZ
@given(data=st.data())
def test_fuzz_every_inbound_message_type_at_the_gate_is_handled_without_error(gate_link, leaf, data):
    msg_type = INBOUND[leaf]
    body = data.draw(fields_of(msg_type))
    wire = data.draw(st.sampled_from([signed_raw(msg_type, body)]) | mutations(signed_raw(msg_type, body))
                     | st.binary(max_size=200))
    gate_link._handle_inbound(topics.gate(GATE_ID, leaf), wire)  # raises nothing, whatever arrives
    gate_link._apply_acks()
    assert gate_link.outbox.pending()[0].msg_id == "kept"  # no forged ack removes a row


@pytest.mark.parametrize("msg_type", sorted(MESSAGES))
@FUZZ
@given(data=st.data())
def test_fuzz_every_message_type_refused_only_with_protocol_error(msg_type, data):
    body = data.draw(fields_of(msg_type))
    try:
        opened, _ = open_signed(msg_type, signed_raw(msg_type, body), {b"": NODE.verify_key} | _trusted())
    except ProtocolError:
        return
    assert opened["t"] == msg_type


def _trusted():
    from agent.keys import trusted

    return trusted([NODE.verify_key])


@FUZZ
@given(st.binary(max_size=400) | mutations(seal("ack", {"id": "a", "ts": 1.0, "gate": GATE_ID, "ids": ["x"]}, [NODE])))
def test_fuzz_hitlist_head_topic_and_centre_event_opener(wire):
    try:
        EventOpener(NODE).open_body(wire)
    except ValueError:
        pass


# ---------------------------------------------------------------------------------------- list files
CENTRAL = Central()
V1 = CENTRAL.snapshot([doc(i) for i in range(20)], 1)
V2 = CENTRAL.snapshot([doc(i) for i in range(5, 30)], 2)
DELTA = CENTRAL.delta(1, 2)
HEAD = CENTRAL.head(2)


@FUZZ
@given(st.sampled_from([V2, DELTA, HEAD, CENTRAL.keyring]).flatmap(mutations) | st.binary(max_size=300))
def test_fuzz_list_files_refused_with_reason_and_installed_list_unchanged(blob):
    assume(blob not in (V2, DELTA, HEAD, CENTRAL.keyring))
    with tempfile.TemporaryDirectory() as tmp:
        store = HitListStore(Path(tmp) / "gate", CENTRAL.root_pub)
        store.install(V1, now=T0)
        before = observe(store)
        try:
            store.install(blob, now=T0)
        except HitListRejected:
            assert observe(store) == before
            return
        # accepted only if the change was outside what is signed and the result is exactly version 2
        assert store.version == 2 and observe(store)[1] == _v2_answers()


def _v2_answers():
    with tempfile.TemporaryDirectory() as tmp:
        store = HitListStore(Path(tmp) / "gate", CENTRAL.root_pub)
        store.install(V2, now=T0)
        return observe(store)[1]


# -------------------------------------------------------------------------------------------- config
KNOWN = {
    "gate": ["id", "site", "state_dir"], "devices": ["reader", "indicators", "reader_id", "camera"],
    "screening": ["duplicate_window_s", "lab_gate", "stale_policy", "clear_event_detail", "relay_pulse_s"],
    "hitlist": ["records", "version", "store_dir", "list_id", "root_pub"], "outbox": ["max_rows"],
    "link": ["enabled", "port", "host", "node_pub", "keepalive_s"], "logging": ["level"],
}
toml_value = (st.integers(-(2**70), 2**70) | st.booleans() | st.text(max_size=20).map(lambda s: s.replace("\\", ""))
              | st.floats(allow_nan=False, allow_infinity=False) | st.lists(st.integers(0, 9), max_size=3))


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace('"', "").replace("\n", " ") + '"'
    if isinstance(v, list):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return repr(v)


config_docs = st.dictionaries(
    st.sampled_from(sorted(KNOWN)) | st.text(alphabet="abcxyz_", min_size=1, max_size=6),
    st.dictionaries(st.sampled_from(sum(KNOWN.values(), [])) | st.text(alphabet="abq_", min_size=1, max_size=5),
                    toml_value, max_size=5), max_size=6)


@FUZZ
@given(config_docs | st.text(max_size=200))
def test_fuzz_config_loads_or_refuses_with_config_error(doc_or_text):
    text = doc_or_text if isinstance(doc_or_text, str) else "\n".join(
        f"[{table}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())
        for table, values in doc_or_text.items())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gate.toml"
        path.write_text(text)
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(path) in str(exc) or "gate.toml" in str(exc)
        except AgentError as exc:  # any other refusal must still be one of ours, never a traceback
            pytest.fail(f"config refused with {type(exc).__name__}, not ConfigError: {exc}")


def test_device_url_with_an_unbalanced_bracket_is_a_config_error_not_a_traceback(tmp_path):
    """Found by the atheris config target: ``indicators = "sim://pc[9685"`` made urlsplit raise its own
    ValueError ("Invalid IPv6 URL") out of load_config."""
    from tests.support.gatesim import write_app_config

    path = write_app_config(tmp_path)
    path.write_text(path.read_text().replace('indicators = "sim://pca9685', 'indicators = "sim://pc[9685'))
    with pytest.raises(ConfigError, match=r"devices.*indicators.*not a URL"):
        load_config(path)


def test_path_of_an_unknown_users_home_is_a_config_error_not_a_traceback(tmp_path):
    """Found by the atheris config target: ``state_dir = "~nosuchuser/x"`` raised pathlib's RuntimeError."""
    from tests.support.gatesim import write_app_config

    path = write_app_config(tmp_path)
    text = path.read_text()
    path.write_text(text.replace('state_dir = "', 'state_dir = "~sharaka-no-such-user/', 1))
    assert path.read_text() != text
    with pytest.raises(ConfigError, match=r"state_dir.*cannot expand"):
        load_config(path)


def test_coverage_guided_command_without_atheris_says_how_to_install_it():
    """README's atheris command, run before ``pip install -e '.[fuzz]'``, ended in a ModuleNotFoundError traceback."""
    import subprocess
    import sys

    from tests.support.paths import REPO

    code = "import runpy, sys; sys.modules['atheris'] = None; runpy.run_module('tests.fuzz.atheris_main', run_name='__main__')"
    result = subprocess.run([sys.executable, "-c", code, "mrz"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "pip install -e '.[fuzz]'" in result.stderr
