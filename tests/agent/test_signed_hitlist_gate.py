"""A gate screening against the signed hit-list store, built, signed and installed with the real tools."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from agent.app import GateApp, StartupError, SystemdNotifier
from agent.cli import main as gate_cli
from agent.config import InvalidConfigError, load_config
from agent.gate_toml import write_gate_config
from agent.screening.events import decode_event
from tests.support.gatesim import CLEAR_DOC, LISTED_DOC, LISTED_PERSON, RECORDS
from tools.hitlist_cli import main as hitlist_cli


def signed_store(tmp_path: Path, *, with_head: bool, records: Iterable[dict] = RECORDS) -> Path:
    """List ``uto`` version 7 of ``records``, built, signed and installed with the real tools."""
    keys, store = tmp_path / "keys", tmp_path / "state" / "hitlist"
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
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


def gate_config(tmp_path: Path, hitlist: dict[str, str], **screening: bool) -> Path:
    return write_gate_config(tmp_path, gate_id="gate-s", site="site-s", screening=screening, hitlist=hitlist)


STORE = {"store_dir": "state/hitlist", "list_id": "uto"}


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
    app = GateApp(load_config(gate_config(tmp_path, STORE)),
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
    app = GateApp(load_config(gate_config(tmp_path, STORE)),
                  notifier=SystemdNotifier(environ={}))
    opened.append(app)
    decision = screen(app, CLEAR_DOC)
    assert (decision.verdict, decision.reasons, decision.list_stale) == ("REFER", ("list_stale",), True)
    assert app.status()["hitlist"] == {"version": 7, "stale": True, "stale_reason": "no head received"}


def test_store_pinned_to_another_root_key_stops_the_start(tmp_path, opened):
    signed_store(tmp_path, with_head=True)
    assert hitlist_cli(["keygen", "--out", str(tmp_path / "other")]) == 0
    config = gate_config(tmp_path, {**STORE, "root_pub": str(tmp_path / "other" / "root.pub")})
    app = GateApp(load_config(config), notifier=SystemdNotifier(environ={}))
    opened.append(app)  # what opened before the refusal is closed after the test
    with pytest.raises(StartupError, match="pinned to another root key"):
        app.open()


def test_records_and_store_together_are_a_config_error(tmp_path):
    with pytest.raises(InvalidConfigError, match=r"\[hitlist\] records = 'x.jsonl': not with store_dir"):
        load_config(gate_config(tmp_path, {"store_dir": "s", "records": "x.jsonl"}))


# --- RELIABILITY 45: no verified list of the configured id, no CLEAR ---------------------------------------


def open_app(config: Path, opened: list) -> GateApp:
    app = GateApp(load_config(config), notifier=SystemdNotifier(environ={}))
    opened.append(app)
    app.open()
    return app


def last_event(app: GateApp) -> dict:
    return decode_event(app.outbox.pending()[-1].body)


NO_LIST = [
    ("no_list_configured", {}, "no hit-list configured"),
    ("no_root_pinned", STORE, "no root key pinned"),
    ("nothing_installed", {**STORE, "root_pub": "keys/root.pub"}, "no hit-list installed (expected list 'uto')"),
]


@pytest.mark.parametrize("hitlist,detail", [c[1:] for c in NO_LIST], ids=[c[0] for c in NO_LIST])
def test_gate_without_list_refers_everyone(tmp_path, opened, hitlist, detail):
    assert hitlist_cli(["keygen", "--out", str(tmp_path / "keys")]) == 0
    app = open_app(gate_config(tmp_path, hitlist), opened)
    assert detail in app.status()["faults"]["hitlist"]  # shown before anyone swipes
    decision = screen(app, CLEAR_DOC)
    assert decision.verdict == "REFER" and "hitlist_missing" in decision.reasons
    event = last_event(app)
    assert event["decision"] == "REFER" and "hitlist_missing" in event["reasons"]
    assert detail in event["faults"]["hitlist"]


def test_gate_with_wrong_list_id_refers(tmp_path, opened):
    signed_store(tmp_path, with_head=True)  # a fresh, verified list - of id 'uto'
    app = open_app(gate_config(tmp_path, {"store_dir": "state/hitlist", "list_id": "sltd"}), opened)
    decision = screen(app, CLEAR_DOC)
    assert (decision.verdict, decision.reasons) == ("REFER", ("hitlist_wrong_id",))
    assert app.status()["faults"]["hitlist"] == "installed list 'uto' is not the configured 'sltd'"
    app.reader.device.swipe(LISTED_DOC)  # what it does hold still counts: a listed passport is a HIT
    hit = app.screener.handle(app.reader.read(timeout=5))
    assert hit.verdict == "HIT" and "hitlist_wrong_id" in hit.reasons
    assert last_event(app)["faults"]["hitlist"] == "installed list 'uto' is not the configured 'sltd'"


def test_unreadable_list_refers_and_reports(tmp_path, opened):
    store = signed_store(tmp_path, with_head=True)
    state_record = store / (store / "CURRENT").read_text().strip()
    state_record.write_bytes(b"\xc1 not msgpack")  # the installed list's state record is corrupt
    app = open_app(gate_config(tmp_path, STORE), opened)  # the gate starts...
    decision = screen(app, CLEAR_DOC)  # ...and refers everyone, saying why
    assert (decision.verdict, decision.reasons) == ("REFER", ("hitlist_unreadable",))
    fault = app.status()["faults"]["hitlist"]
    assert "unreadable" in fault and str(store) in fault
    assert last_event(app)["faults"]["hitlist"] == fault
    app.write_status(force=True)
    cli = status_cli(tmp_path / "gate.toml")
    assert cli["faults"]["hitlist"] == fault


def test_lab_gate_without_list_clears(tmp_path, opened):
    app = open_app(gate_config(tmp_path, {}, lab_gate=True), opened)
    decision = screen(app, CLEAR_DOC)
    assert (decision.verdict, decision.reasons) == ("CLEAR", ())
    status = app.status()
    assert status["lab_gate"] is True and "hitlist" not in status["faults"]


def test_lab_gate_cannot_be_set_by_command(tmp_path, opened):
    app = open_app(gate_config(tmp_path, {}), opened)
    with pytest.raises(ValueError, match="lab_gate"):
        app.command_handlers()["set_policy"]({"lab_gate": True})
    assert screen(app, CLEAR_DOC).verdict == "REFER"


def status_cli(config: Path) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        gate_cli(["status", "--json", "--config", str(config)])
    return json.loads(out.getvalue())
