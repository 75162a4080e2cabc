"""Online query (MQTT 5 request/response with correlation data) against a real Mosquitto and central node."""

from __future__ import annotations

import json
import time

from tests.support.link import make_central, make_gate
from tools.central.online import OnlineLists


def _records(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps({"kind": "document", "issuing_state": "UTO", "document_number": "L898902C3",
                                "reason": "stolen", "ref": "SLTD-1"}) + "\n")
    return OnlineLists(extra={"records": path})


def test_online_query_answers_listed_and_unlisted_documents_from_the_centre(mq, tmp_path, keys):
    central = make_central(mq, tmp_path / "central.db", keys)
    central.online = _records(tmp_path)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store)
    try:
        assert gate.link.wait_for_connected(10)
        t0 = time.monotonic()
        answer = gate.link.query_document("UTO", "L898902C3", timeout=2.0)
        assert answer == {"hit": True, "reason": "stolen", "ref": "SLTD-1", "source": "central"}
        assert time.monotonic() - t0 < 1.0
        assert gate.link.query_document("UTO", "X00000000", timeout=2.0) == {
            "hit": False, "reason": "", "ref": "", "source": "central"}
    finally:
        gate.stop()
        central.stop()


def test_online_query_without_an_answer_returns_none_within_timeout_for_local_fallback(mq, tmp_path, keys):
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a")  # no central node running
    try:
        assert gate.link.wait_for_connected(10)
        t0 = time.monotonic()
        assert gate.link.query_document("UTO", "L898902C3", timeout=0.3) is None
        assert time.monotonic() - t0 < 1.0
    finally:
        gate.stop()
    assert gate.link.query_document("UTO", "L898902C3", timeout=0.3) is None  # offline: no wait at all


def test_centre_reads_a_person_in_the_orthography_of_the_documents_issuing_state(tmp_path):
    """The centre answers from the same normaliser as the gate, given the issuing state of the document sent
    with the person (no field of its own on the wire): a TUR passport's SAFIK is the listed SHAFIK."""
    path = tmp_path / "persons.jsonl"
    path.write_text(json.dumps({"kind": "person", "surname": "AL UTAYBI", "given_names": "ZOHUR SHAFIK",
                                "birth_date": "790303", "reason": "wanted", "ref": "P-UTA"}) + "\n")
    lists = OnlineLists(extra={"persons": path})
    person = ["UTAYBI", "ZUHUR SAFIK", "790303", False]
    found = lists.lookup({"document": ["TUR", "U12345678"], "person": person})
    assert found.hit is not None and (found.hit.ref, found.hit.strength) == ("P-UTA", "exact")
    assert lists.lookup({"document": ["FRA", "U12345678"], "person": person}).hit is None
    assert lists.lookup({"person": person}).hit is None  # entered by hand: no document, no orthography
