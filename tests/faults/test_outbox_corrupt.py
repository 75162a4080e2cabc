"""A truncated or overwritten outbox is detected, moved aside and reported; the gate screens on with a
new one whose sequence continues above the old one (agent/outbox.py: open_outbox)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.app import GateApp, SystemdNotifier
from agent.config import load_config
from agent.outbox import PRIORITY_HIT, PRIORITY_ROUTINE, Outbox, OutboxCorrupt, open_outbox
from agent.screening.events import decode_event
from tests.support.gatesim import CLEAR_DOC, write_app_config


def _filled(path: Path, rows: int = 400) -> None:
    box = Outbox(path)
    for i in range(rows):
        box.append("decision", f"old-{i}", os.urandom(200), priority=PRIORITY_ROUTINE)
    box.close()  # checkpointed: every row is in the main file


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
def test_corrupt_outbox_moved_aside_new_one_continues_the_sequence(tmp_path, damage):
    path = tmp_path / "outbox.sqlite3"
    _filled(path)
    damage(path)
    box, what = open_outbox(path)
    try:
        assert what is not None and "moved aside to outbox.sqlite3.corrupt-1" in what
        assert (tmp_path / "outbox.sqlite3.corrupt-1").exists()
        seq = box.append("decision", "new-1", b"x", priority=PRIORITY_ROUTINE)
        box.check()
        assert box.pending()[0].msg_id == "new-1"
        if damage is _scribble_pages:  # the old rows' seq is still readable: the new one continues above it
            assert seq > 400
    finally:
        box.close()


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
        rows = app.outbox.pending()
        notice, event = rows[0], rows[1]
        assert notice.kind == "outbox_recovered" and notice.priority == PRIORITY_HIT  # reaches the centre first
        assert "moved aside" in decode_event(notice.body)["detail"]
        assert notice.seq == 901 and event.seq == 902  # above anything the old file may have sent
        assert decode_event(event.body)["faults"]["outbox_recovered"]
    finally:
        app.shutdown()
    assert (state / "outbox.sqlite3.corrupt-1").exists()
