"""The gate as a process: start, status, faults, watchdog, SIGTERM and kill -9 on simulated hardware."""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from agent.app import SWITCH_INTERVAL_S, GateApp, SystemdNotifier, numpy_small_pages, settle_for_travellers
from agent.commands.status import gather
from agent.config import load_config
from hal.reader.sim import SimReaderDevice
from tests.support.gatesim import CENTRE, CLEAR_DOC, EXPIRED_DOC, LISTED_DOC, outbox_bodies, write_app_config
from tests.support.notify import NotifySocket
from tests.support.paths import REPO
from tools.specimens import stream


def events_in(state_dir: Path) -> list[dict]:
    return [CENTRE.open(b) for b in outbox_bodies(state_dir / "outbox.sqlite3")]


def outbox_depth(state_dir: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{state_dir / 'outbox.sqlite3'}?mode=ro", uri=True)
        try:
            return db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def start_agent(config: Path, notify: NotifySocket) -> subprocess.Popen:
    env = {**os.environ, "NOTIFY_SOCKET": notify.path, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {what}")


class RunningGate:
    """GateApp.run in a thread, in this process, so the test can reach the simulated chips."""

    def __init__(self, config: Path, notifier: SystemdNotifier | None = None) -> None:
        self.app = GateApp(load_config(config), notifier=notifier or SystemdNotifier(environ={}))
        self.app.open()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.app.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def decisions(self) -> int:
        return sum(self.app.screener.counts[v] for v in ("CLEAR", "HIT", "REFER"))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=15)


def test_sigterm_during_burst_loses_no_event_and_ends_in_safe_state(tmp_path, notify_socket):
    device = SimReaderDevice("lines", link=tmp_path / "reader")
    config = write_app_config(tmp_path, f"serial://{tmp_path / 'reader'}?framing=lines")
    proc = start_agent(config, notify_socket)
    docs = list(stream(300, seed=3))
    stop_swiping = threading.Event()

    def swipe_burst():
        for lines in docs:
            if stop_swiping.is_set():
                return
            device.swipe(lines)
            time.sleep(0.001)

    burst = threading.Thread(target=swipe_burst)
    try:
        notify_socket.wait_for("READY=1", 20)
        burst.start()
        wait_until(lambda: outbox_depth(tmp_path / "state") >= 20, 20, "20 decisions")
        proc.send_signal(signal.SIGTERM)  # mid-burst: documents keep arriving
        time.sleep(0.02)
        stop_swiping.set()
        burst.join(timeout=10)
        out, err = proc.communicate(timeout=30)
    finally:
        stop_swiping.set()
        if proc.poll() is None:
            proc.kill()
        device.close()
    assert proc.returncode == 0, err
    logs = [json.loads(line) for line in out.splitlines()]
    shown = [rec for rec in logs if rec["msg"] == "decision"]  # logged after the indicator was told
    events = events_in(tmp_path / "state")
    assert len(shown) >= 20
    assert {rec["event"] for rec in shown} == {e["id"] for e in events}  # each shown decision has its event
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    written = {lines[1][:9] for lines in docs}
    assert {e["mrz"]["document_number"] for e in events} <= written
    assert logs[-1]["msg"] == "stopped"
    assert (logs[-1]["applied"], logs[-1]["relay_open"], logs[-1]["indicator_fault"]) == ("safe", False, None)
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    assert status["state"] == "stopped" and status["indicators"]["applied"] == "safe"
    # No MRZ contents or names in the INFO log.
    surnames = {lines[0][5:].split("<<")[0] for lines in docs}
    assert not any(name in out for name in surnames | written)


@pytest.mark.parametrize("bad,expected", [
    ('reader = "usb://x"', "[devices] reader = 'usb://x': unknown reader URL scheme 'usb'"),
    ('reader_id = ""', "[devices] reader_id = ''"),
], ids=["unknown_scheme", "empty_reader_id"])
def test_config_with_errors_exits_2_naming_every_error_and_starts_nothing(tmp_path, notify_socket, bad, expected):
    config = write_app_config(tmp_path, "sim://reader", logging={"level": "LOUD", "foo": 1})
    text = config.read_text().replace('reader = "sim://reader"', f'reader = "sim://reader"\n{bad}')
    if bad.startswith("reader ="):
        text = text.replace('reader = "sim://reader"\n', "", 1)
    config.write_text(text)
    proc = start_agent(config, notify_socket)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert str(config) in err and expected in err
    assert "[logging] level = 'LOUD': expected one of 'DEBUG', 'INFO', 'WARNING', 'ERROR'" in err
    assert "[logging] foo = 1: unknown key" in err
    assert not (tmp_path / "state").exists() and notify_socket.messages(0.1) == []


def test_device_url_refused_by_its_backend_is_a_config_error_exit_2_before_anything_starts(tmp_path, notify_socket):
    config = write_app_config(tmp_path, "sim://reader?baud=fast")  # the backend's grammar, via hal.check_url
    proc = start_agent(config, notify_socket)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and str(config) in err
    assert "[devices] reader = 'sim://reader?baud=fast': reader option baud='fast'" in err
    assert not (tmp_path / "state").exists() and "READY=1" not in notify_socket.messages(0.1)


def test_i2c_fault_screening_continues_status_shows_it_and_state_returns_after_recovery(tmp_path):
    gate = RunningGate(write_app_config(tmp_path, "sim://reader?framing=lines"))
    app = gate.app
    try:
        device, bus = app.reader.device, app.indicators.bus
        device.swipe(CLEAR_DOC)
        wait_until(lambda: gate.decisions() == 1, 5, "first decision")
        bus.fail()  # every I2C transfer fails from now on
        device.swipe(LISTED_DOC)
        device.swipe(EXPIRED_DOC)
        wait_until(lambda: gate.decisions() == 3, 5, "decisions during the fault")
        report = wait_until(lambda: (r := gather(str(tmp_path / "gate.toml"), time.time())).get("faults", {}).get(
            "indicators") and r, 3, "status shows the indicator fault")
        assert report["state"] == "running" and report["outbox"]["depth"] == 3
        assert report["last_decision"]["decision"] == "REFER" and report["hitlist"] == {"version": 12, "stale": False}
        cli = subprocess.run([sys.executable, "-m", "agent", "status", "--json", "--config", str(tmp_path / "gate.toml")],
                             capture_output=True, text=True, cwd=REPO, timeout=20)
        assert cli.returncode == 1 and "indicators" in json.loads(cli.stdout)["faults"]
        assert [e["decision"] for e in events_in(tmp_path / "state")] == ["CLEAR", "HIT", "REFER"]
        bus.heal()
        healed = time.monotonic()
        assert app.indicators.wait_for_recovery(2.0), "desired state not re-applied within 2 s"
        assert time.monotonic() - healed < 2.0
        pca = bus.device(0x40)
        assert tuple(round(pca.channel_duty(c) * 255) for c in (0, 1, 2)) == (255, 120, 0)  # REFER again
        wait_until(lambda: not gather(str(tmp_path / "gate.toml"), time.time()).get("faults", {}), 3, "fault cleared")
    finally:
        gate.close()


def test_reader_unplug_shows_absent_and_reads_resume_without_partial_events(tmp_path):
    gate = RunningGate(write_app_config(tmp_path, "sim://reader?framing=lines"))
    try:
        device = gate.app.reader.device
        device.write(CLEAR_DOC[0].encode() + b"\r\n" + CLEAR_DOC[1][:20].encode())  # half a document
        time.sleep(0.1)
        device.unplug()
        wait_until(lambda: "reader" in gather(str(tmp_path / "gate.toml"), time.time()).get("faults", {}), 5,
                   "status shows the reader fault")
        device.replug()
        replugged = time.monotonic()
        # pyserial flushes the input when it opens the port: swipe once the reader listens again.
        wait_until(lambda: gate.app.reader.fault is None, 5, "reader open again")
        device.swipe(EXPIRED_DOC)
        wait_until(lambda: gate.decisions() == 1, 5, "reads resume after replug")
        assert time.monotonic() - replugged < 5.0
        assert [e["reasons"] for e in events_in(tmp_path / "state")] == [["expired"]]
        wait_until(lambda: "reader" not in gather(str(tmp_path / "gate.toml"), time.time()).get("faults", {}), 5,
                   "reader fault cleared")
    finally:
        gate.close()


def test_watchdog_pings_stop_when_the_reader_worker_wedges(tmp_path, notify_socket):
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "600000"})
    gate = RunningGate(write_app_config(tmp_path, "sim://reader?framing=lines"), notifier)
    release = threading.Event()
    try:
        assert notify_socket.wait_for("READY=1", 5) >= 0
        assert notify_socket.wait_for("WATCHDOG=1", 1.0) >= 0
        gate.app.indicators.bus.on_write = lambda *_: release.wait(30)  # the I2C driver hangs
        gate.app.reader.device.swipe(CLEAR_DOC)
        time.sleep(0.7)  # one interval for the wedge to show
        notify_socket.messages(0.05)  # pings sent before the wedge was noticed
        assert "WATCHDOG=1" not in notify_socket.messages(1.2)
        release.set()
        assert notify_socket.wait_for("WATCHDOG=1", 2.0) >= 0  # alive again
    finally:
        release.set()
        gate.close()


def test_watchdog_pings_stop_while_an_outbox_commit_hangs_and_resume_with_the_decision_kept(tmp_path, notify_socket):
    """RELIABILITY 35 for the outbox: another connection holds the outbox's write lock, so a traveller's commit
    really waits in SQLite (as behind a disk that stalls), the reader worker with it: the pings stop within one
    interval and nothing is shown meanwhile. Once the lock is let go (within the outbox's 5 s busy timeout) the
    commit completes: the decision is shown, its event queued, and the pings resume."""
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "600000"})
    gate = RunningGate(write_app_config(tmp_path, "sim://reader?framing=lines"), notifier)
    other = sqlite3.connect(tmp_path / "state" / "outbox.sqlite3", isolation_level=None)
    try:
        assert notify_socket.wait_for("READY=1", 5) >= 0
        assert notify_socket.wait_for("WATCHDOG=1", 1.0) >= 0
        other.execute("BEGIN IMMEDIATE")  # SQLite's write lock, held
        gate.app.reader.device.swipe(LISTED_DOC)
        wait_until(gate.app.outbox._lock.locked, 2, "the decision's commit waiting")
        notify_socket.messages(0.7)  # one interval (and a margin): pings sent before the commit waited
        assert "WATCHDOG=1" not in notify_socket.messages(1.2)
        assert gate.decisions() == 0 and outbox_depth(tmp_path / "state") == 0, "shown or queued before its commit"
        other.execute("ROLLBACK")
        assert notify_socket.wait_for("WATCHDOG=1", 2.0) >= 0  # alive again
        wait_until(lambda: gate.decisions() == 1, 2, "the decision after its commit")
        assert gate.app.screener.counts["HIT"] == 1 and "outbox" not in gate.app.screener.faults
        assert [(e["decision"], e["seq"]) for e in events_in(tmp_path / "state")] == [("HIT", 1)]
    finally:
        other.close()
        gate.close()


def test_a_clear_relay_opening_ends_on_time_while_the_next_travellers_commit_hangs(tmp_path, monkeypatch):
    """The supervisor ends a CLEAR's relay opening; with the officer's screen on and events queued, its refresh
    asked the outbox for the oldest event's age and waited behind the next traveller's commit, hung on the
    outbox's write lock, the relay open meanwhile. Now it shuts on time; the commit then completes as before."""
    from tests.support.screen import running_gate

    monkeypatch.setattr("agent.screen.BACKLOG_EVERY_S", 0.0)  # the age asked at every refresh, not every 5 s
    screening = {"duplicate_window_s": 2.0, "lab_gate": True, "relay_pulse_s": 1.5}
    with running_gate(tmp_path, screening=screening) as app:
        app.reader.device.swipe(CLEAR_DOC)
        wait_until(lambda: app.screener.counts["CLEAR"] == 1, 5, "the CLEAR")
        assert app.screener.desired.relay_open and app.outbox.depth() == 1  # no link: its event stays queued
        other = sqlite3.connect(app.state_dir / "outbox.sqlite3", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # SQLite's write lock, held
            app.reader.device.swipe(LISTED_DOC)
            wait_until(lambda: app.outbox._lock.locked() and app.screener.desired.relay_open, 1.0,
                       "the HIT's commit waiting while the relay is open")
            wait_until(lambda: not app.screener.desired.relay_open, 2.5, "the relay shut while the commit hangs")
            assert app.screener.counts["HIT"] == 0, "shown before its commit"
        finally:
            other.execute("ROLLBACK")
            other.close()
        wait_until(lambda: app.screener.counts["HIT"] == 1 and app.outbox.depth() == 2, 5, "the HIT, committed")


def test_kill_9_then_ready_within_10_s_with_100k_rows_queued(tmp_path, notify_socket):
    """RELIABILITY 36 with the signed store (100,000 listed documents, not a lab gate's records): READY=1 means
    the list is loaded and the outbox recovered."""
    from tests.agent.test_signed_hitlist_gate import signed_store

    listed = ({"kind": "document", "issuing_state": "UTO", "document_number": f"X{i:08d}", "reason": "stolen",
               "ref": f"R{i}"} for i in range(100_000))
    signed_store(tmp_path, with_head=True, records=listed)
    config = write_app_config(tmp_path, "sim://reader?framing=lines", screening={"duplicate_window_s": 2.0},
                              hitlist={"store_dir": "state/hitlist", "list_id": "uto", "root_pub": "keys/root.pub"})
    state = tmp_path / "state"
    from agent.outbox import Outbox

    Outbox(state / "outbox.sqlite3").close()  # the schema, then a backlog as the link would leave it
    db = sqlite3.connect(state / "outbox.sqlite3")
    with db:
        db.executemany("INSERT INTO outbox VALUES (?, ?, 'decision', 0, 1.0, ?)",
                       ((i, f"old{i}", b"x" * 330) for i in range(1, 100_001)))
        db.execute("UPDATE counters SET value=100000 WHERE name='last_seq'")
    db.close()
    proc = start_agent(config, notify_socket)
    notify_socket.wait_for("READY=1", 20)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc = start_agent(config, notify_socket)
    try:
        assert notify_socket.wait_for("READY=1", 10.0) <= 10.0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    report = gather(str(config), time.time())
    assert report["outbox"]["depth"] == 100_000 and report["outbox"]["last_seq"] == 100_000
    assert report["hitlist"]["version"] == 7 and not report["hitlist"]["stale"], report["hitlist"]


def test_gate_start_applies_the_safe_state_before_reading(tmp_path):
    app = GateApp(load_config(write_app_config(tmp_path, "sim://reader?framing=lines")),
                  notifier=SystemdNotifier(environ={}))
    app.open()
    try:
        pca, relay = app.indicators.bus.device(0x40), app.indicators.bus.device(0x20)
        assert tuple(round(pca.channel_duty(c) * 255) for c in (0, 1, 2)) == (255, 120, 0)
        assert relay.pin(0) is True  # active-low coil: high = de-energised, gate shut
        assert sum(app.screener.counts.values()) == 0
    finally:
        app.shutdown()
    assert relay.pin(0) is True


def test_pulse_relay_command_beyond_the_boards_cap_is_refused_before_the_relay_moves(tmp_path):
    """docs/protocol.md `pulse_relay`: 0 < s <= 30, the board's own cap, checked by the command handler."""
    app = GateApp(load_config(write_app_config(tmp_path, "sim://reader?framing=lines")),
                  notifier=SystemdNotifier(environ={}))
    app.open()
    try:
        relay, pulse = app.indicators.bus.device(0x20), app.command_handlers()["pulse_relay"]
        for seconds in (45, 30.5, 0, True):
            with pytest.raises(ValueError, match=rf"^seconds {seconds!r}: expected 0 < seconds <= 30$"):
                pulse({"seconds": seconds})
            assert relay.pin(0) is True  # never energised
        assert pulse({"seconds": 30}) == "relay pulsed 30 s"
        assert relay.pin(0) is False  # the officer's override opens the gate
    finally:
        app.shutdown()


@pytest.mark.parametrize(("url", "fault"), [
    ("v4l2:///dev/video-missing", "camera device '/dev/video-missing' not found"),
    ("v4l2:///dev/null", "camera device '/dev/null' is not a V4L2 device"),
], ids=["missing-device", "not-a-v4l2-device"])  # fmt: skip
def test_a_v4l2_camera_that_cannot_be_opened_is_a_fault_and_the_gate_starts_and_screens(tmp_path, url, fault):
    """docs/config.md `camera` (issue 10): the camera fault names the device and why; the reader's swipes are
    screened without it (tests/hal/camera/test_v4l2.py: a non-capture device, no usable format)."""
    config = write_app_config(tmp_path, "sim://reader?framing=lines", devices={"camera": url})
    gate = RunningGate(config)
    try:
        assert gate.app.camera is None and fault in gate.app.screener.faults["camera"]
        gate.app.reader.device.swipe(LISTED_DOC)
        wait_until(lambda: gate.decisions() == 1, 5, "decision without the camera")
    finally:
        gate.close()


def test_an_i2c_adapter_that_is_missing_is_the_indicators_fault_and_the_gate_starts_and_screens(tmp_path):
    """docs/indicators.md: /dev/i2c-N absent (i2c-dev not loaded yet, a USB adapter unplugged) is the
    ``indicators`` fault, retried by the board's worker; it used to stop the start (a restart loop)."""
    config = write_app_config(tmp_path, "sim://reader?framing=lines", devices={"indicators": "i2c://99/0x40"})
    gate = RunningGate(config)
    try:
        assert "/dev/i2c-99 cannot be opened" in gate.app.status()["faults"]["indicators"]
        gate.app.reader.device.swipe(LISTED_DOC)
        wait_until(lambda: gate.decisions() == 1, 5, "decision without the indicator board")
        assert gate.app.screener.counts["HIT"] == 1
    finally:
        gate.close()


def test_a_reader_absent_at_start_is_its_fault_and_the_gate_starts(tmp_path):
    """docs/config.md "Process": no device stops the start; a reader whose by-id link is not there yet (unplugged,
    udev not settled) is the ``reader`` fault, reopened with backoff, like a missing indicator board or camera."""
    gate = RunningGate(write_app_config(tmp_path, "serial:///dev/serial/by-id/absent-reader?framing=lines"))
    try:
        assert "absent-reader" in gate.app.status()["faults"]["reader"]
    finally:
        gate.close()


def test_run_exits_1_when_the_state_directory_cannot_be_made(tmp_path, capsys):
    """docs/config.md "Process": exit 1 when the state directory cannot be opened, in one line naming the part;
    SIGINT and SIGTERM handlers and the root logger's handlers and level are as they were (in-process, a caller
    keeps its Ctrl-C, and no handler is left writing to the output this test captured)."""
    from agent.cli import main

    config = write_app_config(tmp_path, "sim://reader?framing=lines")
    (tmp_path / "state").write_text("a file where the state directory goes")
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    root = logging.getLogger()
    logging_before = list(root.handlers), root.level
    assert main(["run", "--config", str(config)]) == 1
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers, "run left its handlers"
    assert (list(root.handlers), root.level) == logging_before, "run left its logging handler"
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("sharaka-gate run: gate 'gate-a' cannot start: ") and "state" in err[-1]


def test_status_command_prints_an_officer_readable_summary(tmp_path):
    gate = RunningGate(write_app_config(tmp_path, "sim://reader?framing=lines"))
    try:
        gate.app.reader.device.swipe(LISTED_DOC)
        wait_until(lambda: gate.decisions() == 1, 5, "decision")
        wait_until(lambda: gather(str(tmp_path / "gate.toml"), time.time()).get("last_decision"), 3, "status")
        out = subprocess.run([sys.executable, "-m", "agent", "status", "--config", str(tmp_path / "gate.toml")],
                             capture_output=True, text=True, cwd=REPO, timeout=20)
    finally:
        gate.close()
    assert out.returncode == 0, out.stderr
    assert "gate        gate-a  (running)" in out.stdout
    assert " HIT" in out.stdout and "hit-list    version 12" in out.stdout
    assert "outbox      1 queued" in out.stdout and "faults      none" in out.stdout
    after = subprocess.run([sys.executable, "-m", "agent", "status", "--json", "--config", str(tmp_path / "gate.toml")],
                           capture_output=True, text=True, cwd=REPO, timeout=20)
    assert after.returncode == 1 and json.loads(after.stdout)["state"] == "stopped"


def test_status_of_a_gate_that_never_ran(tmp_path):
    out = subprocess.run([sys.executable, "-m", "agent", "status", "--json", "--config",
                          str(write_app_config(tmp_path, "sim://reader"))], capture_output=True, text=True, cwd=REPO,
                         timeout=20)
    assert out.returncode == 1
    assert json.loads(out.stdout)["state"] == "never started" and json.loads(out.stdout)["outbox"] is None


def test_shutdown_with_a_dead_i2c_bus_reports_the_safe_state_as_unknown(tmp_path):
    gate = RunningGate(write_app_config(tmp_path, "sim://reader?framing=lines"))
    gate.app.reader.device.swipe(CLEAR_DOC)  # green, relay open
    wait_until(lambda: gate.decisions() == 1, 5, "decision")
    gate.app.indicators.bus.fail()  # the bus dies before the safe state can be driven
    gate.close()
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    assert status["state"] == "stopped" and status["indicators"]["applied"] == "unknown"
    assert "indicators" in status["faults"]


def test_start_failing_after_the_indicators_opened_closes_them_in_the_safe_state(tmp_path):
    """A part that fails after the indicators and the outbox are open (here the link's state directory is a
    file) ends in StartupError with every opened part closed: no indicator thread left running, relay shut."""
    from nacl.signing import SigningKey

    from agent.app import StartupError
    from agent.durable import atomic_write

    atomic_write(tmp_path / "node.pub", bytes(SigningKey.generate().verify_key))
    config = load_config(write_app_config(tmp_path, link={"enabled": True, "node_pub": "node.pub"}))
    config.gate.state_dir.mkdir(parents=True)
    (config.gate.state_dir / "link").write_text("not a directory")
    before = set(threading.enumerate())
    app = GateApp(config, notifier=SystemdNotifier(environ={}))
    with pytest.raises(StartupError, match=r"gate 'gate-a' cannot start: \w+Error: .*state/link"):
        app.open()
    assert app.indicators is not None and app.outbox is not None  # the failure came after both were open
    assert [t.name for t in set(threading.enumerate()) - before] == []
    assert app.indicators.bus.device(0x20).pin(0) is True  # the relay coil de-energised: gate shut


def test_settled_gate_leaves_its_start_up_objects_out_of_every_collection_and_hands_the_gil_over_sooner():
    """``sharaka-gate run`` settles the process once the gate is open (docs/online-query.md "Pauses"): what
    start-up built is no longer among the objects a collection traverses (a full collection, which stops the
    deciding thread too, costs only what came after), what comes later still is, and another thread keeps
    the GIL for at most ``SWITCH_INTERVAL_S`` (1 ms, not CPython's 5 ms) once the deciding thread wants it, and
    numpy no longer asks for transparent huge pages (``numpy_small_pages``: the setting it returns is the one before)."""
    built_at_start_up = [[n] for n in range(100)]
    switch_interval = sys.getswitchinterval()
    huge_pages = np._core.multiarray._set_madvise_hugepage(True)
    try:
        settle_for_travellers()
        made_later = [0]
        traversed = {id(o) for o in gc.get_objects()}
        assert not any(id(o) in traversed for o in built_at_start_up)
        assert id(made_later) in traversed
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S < switch_interval
        assert numpy_small_pages() is False  # settled: already off
    finally:
        gc.unfreeze()
        sys.setswitchinterval(switch_interval)
        np._core.multiarray._set_madvise_hugepage(huge_pages)


def test_a_trial_boots_outcome_and_the_update_phase_go_to_the_centre_in_the_gates_status(tmp_path):
    """docs/update.md "Reporting": `sharaka-gate update commit` keeps a trial boot's outcome in the state directory
    (``record_trial``) before any reboot; the agent, in whichever slot runs next, reports it with the update job's
    phase in the status it signs for the centre (the console's Gates page shows it)."""
    from agent.update.job import record_trial
    from tests.support.gatesim import CENTRE_KEY

    (tmp_path / "centre.pub").write_bytes(bytes(CENTRE_KEY.verify_key))
    config = load_config(write_app_config(tmp_path, link={"enabled": True, "node_pub": "centre.pub"}))
    config.gate.state_dir.mkdir(parents=True)  # the gate's, there before any update
    record_trial(config.gate.state_dir, "slot B rolled back: selftest failed", 1_800_000_000.0)
    kept = config.gate.state_dir / "update-trial.json"  # written by root, read by the agent's user
    assert kept.stat().st_mode & 0o777 == 0o644 and not (config.gate.state_dir / "update").exists()
    app = GateApp(config)
    app.open()
    try:
        update = app.link.status()["update"]
        assert update == {"phase": "idle", "last_trial": {"at": 1_800_000_000.0,
                                                          "outcome": "slot B rolled back: selftest failed"}}
    finally:
        app.close()
