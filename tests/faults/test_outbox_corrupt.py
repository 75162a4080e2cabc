"""A truncated or overwritten outbox is detected and moved aside; every queued row still readable in it is
salvaged into the new one (agent/outbox.py: open_outbox, agent/sqlite_salvage.py) and delivered once; what
was salvaged and what is missing is reported in status and to the centre; the gate screens on with a
sequence that continues above the old one."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from agent.app import GateApp, SystemdNotifier
from agent.config import load_config
from agent.outbox import (
    PRIORITY_HIT,
    PRIORITY_ROUTINE,
    Outbox,
    OutboxCorrupt,
    OutboxRow,
    open_outbox,
    salvage_rows,
)
from agent.screening.events import decode_event, encode_event, is_event_of
from tests.support.gatesim import CLEAR_DOC, write_app_config
from tests.support.wait import wait_until


def _whole(row: OutboxRow) -> bool:
    return is_event_of(row.body, row.msg_id)


def _fill(box: Outbox, first: int, rows: int) -> dict[str, tuple[int, int, bytes]]:
    """``rows`` events of 150..1,500 bytes (below SQLite's overflow size), every tenth a hit; (seq, priority,
    body) by id."""
    made = {}
    for i in range(first, first + rows):
        msg_id, priority = f"old-{i}", PRIORITY_HIT if i % 10 == 0 else PRIORITY_ROUTINE
        body = encode_event({"id": msg_id, "type": "decision", "pad": os.urandom(150 + (i * 37) % 1350)})
        made[msg_id] = (box.append("decision", msg_id, body, priority=priority), priority, body)
    return made


def _filled(path: Path, rows: int = 400) -> dict[str, tuple[int, int, bytes]]:
    box = Outbox(path)
    made = _fill(box, 0, rows)
    box.close()  # checkpointed: every row is in the main file
    return made


def _truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _overwrite_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(b"\x00garbage from a dying SD card\x00" * 4)


def _scribble_pages(path: Path) -> None:
    with path.open("r+b") as f:
        for offset in range(8192, path.stat().st_size, 16384):
            f.seek(offset + 8)
            f.write(b"\xff" * 64)


DAMAGE = [_truncate_half, _overwrite_header, _scribble_pages]


@pytest.mark.parametrize("damage", DAMAGE, ids=["truncated", "header-overwritten", "pages-scribbled"])
def test_corrupt_outbox_moved_aside_and_every_readable_row_salvaged_into_the_new_one(tmp_path, damage):
    path = tmp_path / "outbox.sqlite3"
    made = _filled(path)
    damage(path)
    box, what = open_outbox(path, whole=_whole)
    try:
        assert what is not None and "moved aside to outbox.sqlite3.corrupt-1" in what
        assert (tmp_path / "outbox.sqlite3.corrupt-1").exists()
        rows = box.pending(10**6)
        assert f"{len(rows)} queued rows salvaged" in what
        for row in rows:  # each exactly as queued: seq, id, priority and the (sealed) body byte for byte
            assert made[row.msg_id] == (row.seq, row.priority, row.body)
        least = {_truncate_half: 150, _overwrite_header: 400, _scribble_pages: 200}[damage]
        assert least <= len(rows) <= 400, len(rows)
        if len(rows) < 400:
            assert re.search(r"; [1-9]\d* unreadable pages", what), what
        first_routine = next(i for i, r in enumerate(rows) if r.priority < PRIORITY_HIT)
        assert all(r.priority == PRIORITY_HIT for r in rows[:first_routine])  # hits still go first
        seq = box.append("decision", "new-1", b"x", priority=PRIORITY_ROUTINE)
        assert seq > max(r.seq for r in rows)
        box.check()
    finally:
        box.close()


def test_rows_committed_only_to_the_wal_are_salvaged_from_it_and_acknowledged_rows_stay_gone(tmp_path):
    """The files as a power cut leaves them: 60 rows committed (synchronous=FULL) to the ``-wal`` only, 100
    rows acknowledged and checkpointed away. Read page by page before SQLite touches them (opening the
    damaged file, SQLite checkpoints the WAL into it on close; a file whose header page it cannot read
    it never opens, and then the WAL is read here)."""
    live, cut = tmp_path / "live", tmp_path / "cut"
    live.mkdir()
    cut.mkdir()
    box = Outbox(live / "outbox.sqlite3")
    made = _fill(box, 0, 200)
    box.ack([f"old-{i}" for i in range(100)])
    box.close()
    box = Outbox(live / "outbox.sqlite3")
    made.update(_fill(box, 200, 60))
    for suffix in ("", "-wal"):
        shutil.copy(f"{live}/outbox.sqlite3{suffix}", f"{cut}/outbox.sqlite3{suffix}")
    box.close()
    _scribble_pages(cut / "outbox.sqlite3")
    rows, last_seq, unreadable = salvage_rows(cut / "outbox.sqlite3", _whole)
    ids = {r.msg_id for r in rows}
    assert {f"old-{i}" for i in range(200, 260)} <= ids, "a row committed to the WAL was not salvaged"
    assert not ids & {f"old-{i}" for i in range(100)}, "an acknowledged row came back"
    assert all(made[r.msg_id] == (r.seq, r.priority, r.body) for r in rows)
    assert unreadable > 0 and len(rows) < 160 and last_seq == 200  # the counter persisted by the last ack


def test_sound_outbox_is_opened_as_it_is(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    _filled(path, 10)
    box, what = open_outbox(path)
    assert what is None and box.depth() == 10 and box.last_seq == 10
    box.close()
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_outbox_that_cannot_be_opened_for_another_reason_is_not_moved_aside(tmp_path):
    (tmp_path / "outbox.sqlite3").mkdir()  # not a file at all: an operator's mistake, not damage
    with pytest.raises(Exception) as err:
        open_outbox(tmp_path / "outbox.sqlite3")
    assert not isinstance(err.value, OutboxCorrupt)
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_gate_with_corrupt_outbox_screens_on_reports_it_and_tells_the_centre(tmp_path):
    config = write_app_config(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    _filled(state / "outbox.sqlite3")
    (state / "status.json").write_text(json.dumps({"last_decision": {"seq": 900}}))  # what status last showed
    _overwrite_header(state / "outbox.sqlite3")
    app = GateApp(load_config(config), notifier=SystemdNotifier(environ={}))
    try:
        screener = app.open()
        assert "moved aside" in app.status()["faults"]["outbox_recovered"]
        app.reader.device.swipe(CLEAR_DOC)
        decision = screener.handle(app.reader.read(timeout=5))
        assert decision is not None and decision.verdict == "CLEAR"  # screening goes on
        rows = app.outbox.pending(10**6)
        assert len(rows) == 402  # the 400 salvaged rows, the notice and the new decision
        notice, event = (next(r for r in rows if r.seq == seq) for seq in (901, 902))
        assert notice.kind == "outbox_recovered" and notice.priority == PRIORITY_HIT  # sent among the hits
        detail = decode_event(notice.body)["detail"]
        assert "moved aside" in detail and "400 queued rows salvaged (seq 1..400)" in detail
        assert "500 seq numbers from 1 to 900 not found" in detail  # status showed seq 900: 401..900 missing
        assert notice.seq == 901 and event.seq == 902  # above anything the old file may have sent
        assert decode_event(event.body)["faults"]["outbox_recovered"]
    finally:
        app.shutdown()
    assert (state / "outbox.sqlite3.corrupt-1").exists()


def _scribble_one_leaf_page(path: Path, which: float = 0.5) -> int:
    """Overwrite the cell pointers of the table-leaf page ``which`` of the way through the file (real damage:
    SQLite's b-tree walk fails there); returns the cells it held."""
    data = path.read_bytes()
    leaves = [n for n in range(1, len(data) // 4096) if data[n * 4096] == 0x0D]
    page = leaves[int(len(leaves) * which)] * 4096
    cells = int.from_bytes(data[page + 3: page + 5], "big")
    with path.open("r+b") as f:
        f.seek(page + 8)
        f.write(b"\xff" * 2 * cells)
    return cells


def _sqlite_finds_damage(path: Path) -> bool:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA quick_check").fetchall() != [("ok",)]
    except sqlite3.DatabaseError as exc:
        return "malformed" in str(exc)
    finally:
        db.close()


def test_gate_with_a_damaged_outbox_delivers_every_salvaged_event_once_and_reports_exactly_what_was_lost(
        mq, centre, gate):
    """The real gate queues 40 decisions with the broker down and stops; one page of its outbox is damaged
    (SQLite refuses the file). Restarted, it screens on, shows the recovery in status, and every decision
    whose row could be read reaches the centre exactly once with the verdict shown; the number it reports
    lost is exactly the number missing at the centre (the centre's own gap report sees the same)."""
    gate.start()
    gate.screen(5)
    assert wait_until(lambda: gate.status()["outbox"]["depth"] == 0, 15)  # delivered and acknowledged
    mq.stop()
    gate.screen(40)
    assert gate.stop() == 0  # checkpointed: every queued row is in the main file
    outbox = gate.state / "outbox.sqlite3"
    damaged = _scribble_one_leaf_page(outbox)
    assert _sqlite_finds_damage(outbox)
    mq.start()
    gate.start()
    assert wait_until(lambda: "outbox_recovered" in gate.status().get("faults", {}), 10), gate.log_tail()
    shown = gate.status()["faults"]["outbox_recovered"]
    salvaged, missing = (int(n) for n in re.search(r"(\d+) queued rows salvaged .*; (\d+) seq numbers", shown).groups())
    assert (salvaged, missing) == (40 - damaged, damaged), shown
    gate.screen(5)  # decisions as before the damage
    logged = {d["event"]: d["decision"] for d in gate.decisions()}
    assert wait_until(lambda: gate.status()["outbox"]["depth"] == 0, 60), gate.log_tail()
    events = [e for kind in ("decision", "hit") for e in centre.store.events(gate.gate_id, kind=kind)]
    stored = {e["msg_id"]: decode_event(e["body"])["decision"] for e in events}
    assert len(events) == len(stored), "an event stored twice"
    assert stored.items() <= logged.items()  # each with the verdict the gate showed
    lost = set(logged) - set(stored)
    assert len(lost) == missing, "the gate reported another number lost than the centre misses"
    notices = centre.store.events(gate.gate_id, kind="outbox_recovered")
    assert len(notices) == 1 and f"{salvaged} queued rows salvaged" in decode_event(notices[0]["body"])["detail"]
