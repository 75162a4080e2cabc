"""One rule per identifier (issue 9.2): a gate id, a document number and a records file mean the same
thing to the config, the topics, the message schema, the broker set-up, the central node, the
in-memory list and the signed store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config import InvalidConfigError, load_config
from agent.errors import BadDataError
from agent.gate_toml import write_gate_config
from agent.hitlist.memory import MemoryHitList
from agent.hitlist.store import HitListStore
from agent.protocol import schema, topics
from tests.support.hitlist_central import Central
from tools.broker_setup import BrokerSetupError, check_gate_id
from tools.central.online import OnlineLists
from tools.central.store import CentralStore
from tools.hitlist_cli import main as hitlist_cli

GATE_IDS = [
    ("plain", "gate-01"),
    ("dot", "gate.1"),  # loaded and passed the topic check, but broker enrolment refused it
    ("upper", "GATE-1"),
    ("underscore", "uto_north_07"),
    ("digit_first", "7gate"),
    ("longest", "g" * 64),
    ("too_long", "g" * 65),
    ("empty", ""),
    ("slash", "a/b"),
    ("plus", "+"),
    ("hash", "#"),
    ("wildcard_inside", "gate+1"),
    ("space", "gate 1"),
    ("newline", "gate\n"),
    ("leading_dash", "-gate"),
    ("leading_dot", ".gate"),
    ("non_ascii", "gäte"),
    ("reserved", "central"),
    ("reserved_prefix", "central-7"),
    ("reserved_any_case", "Central2"),
    ("contains_central", "gate-central"),
]


def accepted_by_config(tmp_path: Path, gate_id: str) -> bool:
    path = write_gate_config(tmp_path, gate_id=gate_id, site="site", screening={"lab_gate": True})
    try:
        load_config(path)
    except InvalidConfigError as exc:
        assert any(e.startswith("[gate] id") for e in exc.errors), exc.errors
        return False
    return True


def accepted(check, *args) -> bool:
    try:
        check(*args)
    except (BadDataError, BrokerSetupError):
        return False
    return True


@pytest.mark.parametrize("gate_id", [g for _, g in GATE_IDS], ids=[i for i, _ in GATE_IDS])
def test_gate_id_rule_is_the_same_for_config_topics_and_broker(tmp_path, gate_id):
    central = CentralStore(tmp_path / "central.db")
    verdicts = {
        "config": accepted_by_config(tmp_path, gate_id),
        "topics": accepted(topics.gate, gate_id, topics.EVENT),
        "topic parser": accepted(topics.parse_gate_topic, f"{topics.GATES}/{gate_id}/{topics.EVENT}"),
        "message schema": accepted(schema.GATE_ID.check, gate_id, "gate"),
        "broker enrolment": accepted(check_gate_id, gate_id),
        "central enrolment": accepted(central.enrol, gate_id, bytes(32), 0.0),
    }
    central.close()
    assert len(set(verdicts.values())) == 1, verdicts


# Spellings a reader, an officer or a list supplier may give for the same document.
LISTED = [("UTO", "L898902C3"), ("D", "C01X00T47"), ("UTO", "AB12")]
QUERIES = [
    ("UTO", "L898902C3"), ("uto", "l898902c3"), ("UTO", "L898902C3<<<"), ("UTO", "L898 902 C3"),
    ("UTO", "L898-902C3"), ("D<<", "C01X00T47"), ("D", "C01X00T47<"), ("UTO", "AB12<<<<<"),
    ("UTO", "L898902C4"), ("UTA", "L898902C3"), ("UTO", "L8/9"), ("UT0", "L898902C3"), ("UTO", ""),
]


def outcome(lookup, state: str, number: str) -> str:
    try:
        return "hit" if lookup(state, number) is not None else "miss"
    except BadDataError:
        return "refused"


def test_document_number_normalised_identically_by_memory_list_and_signed_store(tmp_path):
    records = [{"kind": "document", "issuing_state": s, "document_number": n, "reason": "stolen", "ref": f"R{i}"}
               for i, (s, n) in enumerate(LISTED)]
    # Listed in other spellings than queried: the supplier's and the reader's spelling must not matter.
    records[0]["document_number"] = "l898 902c3"
    records[1]["issuing_state"] = "D<<"
    central = Central(list_id="uto")
    store = HitListStore(tmp_path / "store", central.root_pub)
    store.install(central.snapshot(records, 1), now=central.now)
    memory = MemoryHitList(records, version=1)
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    online = OnlineLists(extra={"records": tmp_path / "records.jsonl"})
    table = {q: (outcome(memory.lookup_document, *q), outcome(store.lookup_document, *q)) for q in QUERIES}
    assert all(len(set(v)) == 1 for v in table.values()), table
    # the centre's online answer: the same hits; a malformed query finds nothing there (the gate refuses it)
    assert {q: "hit" if online.lookup({"document": list(q)}).hit else "miss" for q in QUERIES} == {
        q: "hit" if v[0] == "hit" else "miss" for q, v in table.items()}
    assert [table[q][0] for q in QUERIES] == ["hit"] * 8 + ["miss", "miss", "refused", "refused", "refused"]


BAD_RECORDS = [
    ("not_json", '{"kind": "document", "issuing_state": "UTO", "document_number": "A1", "reason": "stolen"}\n{oops\n'),
    ("not_an_object", '# listed documents\n\n[1, 2]\n'),
    ("bad_number", '{"kind": "document", "issuing_state": "UTO", "document_number": "A1", "reason": "stolen"}\n'
                   '{"kind": "document", "issuing_state": "UTO", "document_number": "L8/9", "reason": "stolen"}\n'),
]


@pytest.mark.parametrize("text", [t for _, t in BAD_RECORDS], ids=[i for i, _ in BAD_RECORDS])
def test_every_records_reader_names_file_and_line(tmp_path, text, capsys):
    path = tmp_path / "listed.jsonl"
    path.write_text(text)
    line = text.count("\n")  # the bad record is the last line
    where = f"{path}:{line}"
    with pytest.raises(BadDataError, match=f"^{where}: "):
        MemoryHitList.from_file(path)
    assert hitlist_cli(["keygen", "--out", str(tmp_path / "keys")]) == 0
    capsys.readouterr()
    assert hitlist_cli(["build", "--keys", str(tmp_path / "keys"), "--from", str(path), "--list-id", "uto",
                        "--version", "1", "--out", str(tmp_path / "v1")]) == 2
    assert f"sharaka-hitlist build: {where}: " in capsys.readouterr().err
