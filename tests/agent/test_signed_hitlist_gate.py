"""A gate screening against the signed hit-list store, built, signed and installed with the real tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.app import GateApp, StartupError, SystemdNotifier
from agent.cli import main as gate_cli
from agent.config import InvalidConfigError, load_config
from tests.support.gatesim import CLEAR_DOC, LISTED_DOC, LISTED_PERSON, RECORDS
from tools.gate_toml import write_gate_config
from tools.hitlist_cli import main as hitlist_cli


def signed_store(tmp_path: Path, *, with_head: bool) -> Path:
    keys, store = tmp_path / "keys", tmp_path / "state" / "hitlist"
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    assert hitlist_cli(["keygen", "--out", str(keys)]) == 0
    assert hitlist_cli(["build", "--keys", str(keys), "--from", str(tmp_path / "records.jsonl"), "--list-id", "uto",
                        "--version", "7", "--out", str(tmp_path / "v7.list")]) == 0
    assert gate_cli(["hitlist", "install", str(tmp_path / "v7.list"), "--root-pub", str(keys / "root.pub"),
                     "--state", str(store)]) == 0
    if with_head:
        assert hitlist_cli(["head", "--keys", str(keys), "--list", str(tmp_path / "v7.list"),
                            "--out", str(tmp_path / "head")]) == 0
        assert gate_cli(["hitlist", "install", str(tmp_path / "head"), "--state", str(store)]) == 0
    return store


def gate_config(tmp_path: Path, **hitlist: str) -> Path:
    return write_gate_config(tmp_path, gate_id="gate-s", site="site-s", hitlist=hitlist)


def screen(app: GateApp, lines):
    screener = app.open()
    app.reader.device.swipe(lines)
    return screener.handle(app.reader.read(timeout=5))


@pytest.fixture
def opened():
    apps: list[GateApp] = []
    yield apps
    for app in apps:
        app.shutdown()


def test_signed_list_with_fresh_head_gives_hit_and_clear(tmp_path, opened):
    signed_store(tmp_path, with_head=True)
    app = GateApp(load_config(gate_config(tmp_path, store_dir="state/hitlist")),
                  notifier=SystemdNotifier(environ={}))
    opened.append(app)
    screener = app.open()
    device = app.reader.device
    decisions = []
    for lines in (LISTED_DOC, LISTED_PERSON, CLEAR_DOC):
        device.swipe(lines)
        decisions.append(screener.handle(app.reader.read(timeout=5)))
    assert [(d.verdict, d.list_version, d.list_stale) for d in decisions] == [
        ("HIT", 7, False), ("HIT", 7, False), ("CLEAR", 7, False)]
    assert decisions[0].hit.ref == "SLTD-0001" and decisions[1].hit.ref == "NOTICE-7"


def test_signed_list_without_a_head_is_stale_and_refers(tmp_path, opened):
    signed_store(tmp_path, with_head=False)
    app = GateApp(load_config(gate_config(tmp_path, store_dir="state/hitlist")),
                  notifier=SystemdNotifier(environ={}))
    opened.append(app)
    decision = screen(app, CLEAR_DOC)
    assert (decision.verdict, decision.reasons, decision.list_stale) == ("REFER", ("list_stale",), True)
    assert app.status()["hitlist"] == {"version": 7, "stale": True, "stale_reason": "no head received"}


def test_store_pinned_to_another_root_key_stops_the_start(tmp_path):
    signed_store(tmp_path, with_head=True)
    assert hitlist_cli(["keygen", "--out", str(tmp_path / "other")]) == 0
    config = gate_config(tmp_path, store_dir="state/hitlist", root_pub=str(tmp_path / "other" / "root.pub"))
    with pytest.raises(StartupError, match="pinned to another root key"):
        GateApp(load_config(config), notifier=SystemdNotifier(environ={})).open()


def test_records_and_store_together_are_a_config_error(tmp_path):
    with pytest.raises(InvalidConfigError, match=r"\[hitlist\] records = 'x.jsonl': not with store_dir"):
        load_config(gate_config(tmp_path, store_dir="s", records="x.jsonl"))
