"""The gate's one trusted time (RELIABILITY 15, 42; docs/protocol.md "Trusted time").

Pure tests drive ``TrustedClock`` with injected clocks (and the real hit-list store and sync over a
simulated centre, tests/support/hitlist_central.py); the process tests step the wall clock of a real
gate process with libfaketime (``faketime``, installed by tools/dev) and leave the monotonic clock alone,
as a real clock step does.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from agent.app import learn_list_time
from agent.hitlist.store import HitListStore
from agent.keys import trusted
from agent.link.sync import HitListSync
from agent.protocol import topics
from agent.protocol.commands import CommandGuard
from agent.protocol.envelope import seal
from agent.protocol.trusted_time import LEAP_CONFIRM_S, MAX_FUTURE_SKEW, RELEASE_FLOOR, TrustedClock
from agent.screening.events import decode_event
from hal.reader.sim import SimReaderDevice
from tests.faketime import faketime_env, needs_faketime
from tests.support.gatesim import outbox_bodies
from tests.support.hitlist_central import Central, doc
from tools.hitlist_cli import main as hitlist_cli
from tools.specimens import td3

REPO = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0
DAY = 86400.0
YEAR = 365 * DAY


class Clocks:
    def __init__(self, wall: float = NOW, mono: float = 100.0) -> None:
        self.wall, self.mono = wall, mono

    def make(self, path: Path) -> TrustedClock:
        return TrustedClock(path, wall=lambda: self.wall, monotonic=lambda: self.mono)

    def run(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def test_wall_clock_does_not_move_trusted_time(tmp_path):
    c = Clocks()
    clock = c.make(tmp_path / "time.json")
    clock.observe(NOW, "head")
    c.wall += YEAR  # someone sets the clock a year ahead
    c.run(10)
    assert clock.now() == NOW + 10
    assert clock.screening_now() == NOW + YEAR + 10  # screening may only get stricter from it
    assert clock.status()["wall"] == "ahead"
    c.wall -= 2 * YEAR
    assert clock.now() == NOW + 10 and clock.screening_now() == NOW + 10
    assert clock.status()["wall"] == "behind"


def test_trusted_time_rises_only_from_observed_signed_time_and_never_goes_back(tmp_path):
    c = Clocks()
    clock = c.make(tmp_path / "time.json")
    assert clock.now() == RELEASE_FLOOR  # nothing signed seen yet: not before this release
    assert clock.observe(NOW, "ack")
    assert not clock.observe(NOW - DAY, "head")  # an older (replayed) timestamp changes nothing
    assert not clock.observe(float("nan"), "head") and not clock.observe(float("inf"), "head")
    assert clock.now() == NOW
    c.run(5)
    assert clock.now() == NOW + 5


COMMAND_KEY = SigningKey.generate()


def command(seq: int, issued: float) -> bytes:
    """A request_status command for gate-a signed by the centre's command key, issued at ``issued``."""
    body = {"id": f"c{seq}", "ts": issued, "gate": "gate-a", "seq": seq, "op": "request_status", "args": {},
            "issued": issued, "not_after": issued + 300, "nonce": os.urandom(16)}
    return seal("cmd", body, [COMMAND_KEY])


def test_centre_clock_a_year_ahead_for_one_message_moves_nothing_and_its_commands_still_run(tmp_path):
    """An NTP mis-step at the centre: one ack a year ahead, corrected two minutes later. Trusted time does not
    move, the leap is reported and then dropped, and the centre's correctly timed commands are executed."""
    c = Clocks()
    clock = c.make(tmp_path / "time.json")
    clock.observe(NOW, "ack")
    c.run(5)
    assert not clock.observe(NOW + YEAR, "ack")
    assert clock.now() == NOW + 5 and clock.status()["last_signed"] == NOW
    assert clock.status()["leap_pending"] == {"ts": NOW + YEAR, "source": "ack", "since": NOW + 5}
    c.run(120)
    assert clock.status()["leap_pending"]["since"] == NOW + 5
    clock.observe(NOW + 124, "ack")  # the centre corrected: a signed time within the horizon drops the leap
    assert "leap_pending" not in clock.status()
    c.run(LEAP_CONFIRM_S)  # however long it runs, the year-ahead time is never taken
    assert not clock.observe(NOW + 125 + LEAP_CONFIRM_S + YEAR, "head") and clock.now() == NOW + 125 + LEAP_CONFIRM_S
    guard = CommandGuard(tmp_path / "commands.json", "gate-a", trusted([COMMAND_KEY.verify_key]))
    assert guard.accept(command(1, clock.now()), clock.now(), c.wall).seq == 1
    saved = json.loads((tmp_path / "time.json").read_text())
    assert set(saved) == {"v", "floor", "signed", "source"} and saved["floor"] < NOW + DAY
    c.mono = 0.0  # a restart: held leaps are not persisted, so nothing is left to confirm
    rebooted = c.make(tmp_path / "time.json")
    assert "leap_pending" not in rebooted.status() and rebooted.now() < NOW + DAY


def test_centre_ack_a_year_ahead_for_one_message_leaves_a_real_gate_and_its_commands_alone(mq, tmp_path, keys):
    """The same through the link over a real broker: one ack signed by the node key a year ahead; the gate's
    status shows the held leap, the centre's next command runs, and its next real ack clears the leap."""
    from tests.support.link import make_central, make_gate
    from tests.support.wait import wait_until

    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store)
    try:
        assert gate.link.wait_for_connected(10)
        ahead = time.time() + YEAR
        ack = seal("ack", {"id": "ahead-1", "ts": ahead, "gate": "gate-a", "ids": []}, [keys.node])
        central._client.publish(topics.gate("gate-a", topics.ACK), ack, qos=1)
        assert wait_until(lambda: "leap_pending" in gate.link.status()["time"], 10), gate.link.status()["time"]
        assert gate.link.status()["time"]["leap_pending"]["ts"] == ahead
        assert gate.link.trusted_time.now() < time.time() + DAY
        cid = central.send_command("gate-a", "request_status")
        assert wait_until(lambda: any(r["cmd_id"] == cid and r["ok"] == 1
                                      for r in central.store.commands("gate-a")), 15), central.store.commands("gate-a")
        gate.emit(1)  # acked by the centre at its (correct) time
        assert wait_until(lambda: "leap_pending" not in gate.link.status()["time"], 15), gate.link.status()["time"]
    finally:
        gate.stop()
        central.stop()
    assert json.loads((tmp_path / "g" / "time.json").read_text())["floor"] < time.time() + DAY


def test_lagging_gate_catches_up_on_signed_times_that_agree_and_installs_the_head_refused_as_future(tmp_path):
    """A gate switched off for a week, no RTC and no NTP (its wall clock where it stopped), hears the centre
    again: the head is a leap, held and refused as issued in the future; the centre's acks agree with it for
    ``LEAP_CONFIRM_S``, so trusted time catches up and the refused head is judged again at once."""
    stopped = NOW - 7 * DAY
    central = Central("sltd", now=stopped)
    store = HitListStore(tmp_path / "hitlist", central.root_pub)
    store.install(central.snapshot([doc(1)], 1, expires=NOW + 30 * DAY), now=stopped)
    c = Clocks(wall=stopped)
    clock = c.make(tmp_path / "time.json")
    clock.observe(stopped, "head")
    sync = HitListSync(store, "gate-t", [].append, clock.screening_now, list_id="sltd", observe=clock.observe)
    central.now = NOW
    sync.on_head("sltd", central.head(1))
    assert sync.rejected == {"head_not_yet_valid": 1} and "head" not in store.status(clock.now())
    assert clock.now() == stopped and clock.status()["leap_pending"]["source"] == "head"
    c.run(LEAP_CONFIRM_S / 2)
    assert not clock.observe(NOW + LEAP_CONFIRM_S / 2 + 1, "ack")  # agrees, but not held long enough yet
    sync.tick()
    assert "head" not in store.status(clock.now())
    c.run(LEAP_CONFIRM_S / 2)
    assert clock.observe(NOW + LEAP_CONFIRM_S + 2, "ack")  # held LEAP_CONFIRM_S and agrees: taken
    assert clock.now() == NOW + LEAP_CONFIRM_S + 2 and "leap_pending" not in clock.status()
    sync.tick()  # the link's next round: the head refused as future is judged again, not at the next head
    assert store.status(clock.now())["head"]["issued"] == NOW
    assert not store.is_stale(clock.screening_now()) and sync.rejected == {"head_not_yet_valid": 1}


def test_leap_that_does_not_agree_with_the_held_one_confirms_nothing(tmp_path):
    """A centre clock that jumps about (a year ahead, then two, then a replay of the first) never confirms,
    however long it goes on; NaN and infinities neither confirm nor drop a held leap."""
    c = Clocks()
    clock = c.make(tmp_path / "time.json")
    clock.observe(NOW, "ack")
    assert not clock.observe(NOW + YEAR, "ack")
    c.run(LEAP_CONFIRM_S)
    assert not clock.observe(NOW + 2 * YEAR, "ack")
    c.run(LEAP_CONFIRM_S)
    assert not clock.observe(NOW + YEAR, "head")  # the first leap's time again: its clock would show more now
    assert not clock.observe(NOW + YEAR + 2 * (LEAP_CONFIRM_S + MAX_FUTURE_SKEW), "ack")  # outside the tolerance
    for bad in (float("nan"), float("inf"), float("-inf")):
        assert not clock.observe(bad, "ack")
    assert clock.now() == NOW + 2 * LEAP_CONFIRM_S and clock.status()["last_signed"] == NOW
    assert clock.status()["leap_pending"]["ts"] == NOW + YEAR + 2 * (LEAP_CONFIRM_S + MAX_FUTURE_SKEW)


def test_list_created_a_year_ahead_is_held_at_start_the_installed_heads_time_taken(tmp_path):
    """At start the installed head's ``issued`` (judged against the horizon when it was accepted) is taken;
    a list whose signed ``created`` is a year ahead (built on a machine whose clock was) is only held."""
    central = Central("sltd", now=NOW)
    store = HitListStore(tmp_path / "hitlist", central.root_pub)
    central.now = NOW + YEAR
    store.install(central.snapshot([doc(1)], 1), now=NOW)
    central.now = NOW
    store.accept_head(central.head(1), now=NOW)
    c = Clocks(wall=NOW - 30 * DAY)  # first boot offline, the clock at image-build time
    clock = c.make(tmp_path / "time.json")
    learn_list_time(store, clock)
    assert clock.now() == NOW and clock.source == "head"
    assert clock.status()["leap_pending"] == {"ts": NOW + YEAR, "source": "list", "since": NOW}


def test_trusted_time_survives_restart_and_never_goes_back_pure(tmp_path):
    c = Clocks()
    clock = c.make(tmp_path / "time.json")
    clock.observe(NOW, "head")
    c.run(120)
    clock.checkpoint(force=True)  # what the supervisor loop and shutdown do
    t1 = clock.now()
    c.wall, c.mono = NOW - DAY, 0.0  # reboot: monotonic restarts, the wall clock a day behind
    rebooted = c.make(tmp_path / "time.json")
    assert rebooted.now() >= t1
    assert json.loads((tmp_path / "time.json").read_text())["v"] == 2


def test_format_1_time_file_still_read(tmp_path):
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "time.json").write_text(json.dumps({"floor": NOW}))
    clock = TrustedClock(tmp_path / "time.json", also_read=[tmp_path / "link" / "time.json"],
                         wall=lambda: NOW - YEAR, monotonic=lambda: 0.0)
    assert clock.now() == NOW


def test_corrupt_time_file_is_reported_and_the_gate_still_starts(tmp_path):
    (tmp_path / "time.json").write_text("{not json")
    clock = TrustedClock(tmp_path / "time.json", wall=lambda: NOW, monotonic=lambda: 0.0)
    assert clock.now() == RELEASE_FLOOR
    assert "time.json" in clock.status()["error"]


# --------------------------------------------------------------------------- real gate processes
def expiring(days_from_now: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days_from_now)).strftime("%y%m%d")


VALID_DOC = td3("UTO", "MUSTERMANN", "ERIKA", "C01X00T47", "640812", "F", "301231")
EXPIRED_YESTERDAY = td3("UTO", "DOE", "JOHN", "D23456789", "700101", "M", expiring(-1))


class ProcessGate:
    """``python -m agent run`` on a pty reader and the signed store, offline, its wall clock set by faketime."""

    def __init__(self, root: Path, *, max_staleness: float = 3600.0) -> None:
        self.root = root
        self.state = root / "state"
        self.config = root / "gate.toml"
        self.config.write_text(f"""
[gate]
id = "gate-t"
site = "site-t"
state_dir = "state"
[devices]
reader = "serial://{root / 'reader'}?framing=lines"
indicators = "sim://pca9685"
[screening]
duplicate_window_s = 0.0
[hitlist]
store_dir = "state/hitlist"
list_id = "uto"
max_staleness_s = {max_staleness}
""")
        self.proc: subprocess.Popen[str] | None = None
        self.device: SimReaderDevice | None = None

    def install_list(self, *, head_offset: str | None = None, valid_minutes: int = 60 * 24 * 400) -> None:
        """Build and install a signed list now, and a head made and installed with the clock at ``head_offset``."""
        keys, records = self.root / "keys", self.root / "records.jsonl"
        records.write_text(json.dumps({"kind": "document", "issuing_state": "UTO", "document_number": "L898902C3",
                                       "reason": "stolen", "ref": "SLTD-1"}) + "\n")
        self._cli("tools.hitlist_cli", "keygen", "--out", str(keys), offset="-3d")  # keys valid before any head
        assert hitlist_cli(["build", "--keys", str(keys), "--from", str(records), "--list-id", "uto",
                            "--version", "3", "--out", str(self.root / "v3.list")]) == 0
        self._cli("agent", "hitlist", "install", str(self.root / "v3.list"), "--root-pub", str(keys / "root.pub"),
                  "--state", str(self.state / "hitlist"))
        self._cli("tools.hitlist_cli", "head", "--keys", str(keys), "--list", str(self.root / "v3.list"),
                  "--out", str(self.root / "head"), "--valid-minutes", str(valid_minutes), offset=head_offset)
        self._cli("agent", "hitlist", "install", str(self.root / "head"), "--state", str(self.state / "hitlist"),
                  offset=head_offset)

    def _cli(self, module: str, *args: str, offset: str | None = None) -> None:
        out = subprocess.run([sys.executable, "-m", module, *args], env=faketime_env(offset), cwd=REPO,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr

    def start(self, offset: str | None = None) -> None:
        self.device = SimReaderDevice("lines", link=self.root / "reader")
        self.proc = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(self.config)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=faketime_env(offset), cwd=REPO)
        deadline = time.monotonic() + 30
        while not (self.state / "status.json").exists() or self.status().get("pid") != self.proc.pid:
            assert self.proc.poll() is None, self.proc.communicate()[1]
            assert time.monotonic() < deadline, "gate did not start"
            time.sleep(0.05)

    def status(self) -> dict:
        try:
            return json.loads((self.state / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def swipe(self, lines: list[str]) -> dict:
        """Swipe a document; the decision's event as committed to the outbox."""
        before = len(self.events())
        assert self.device is not None
        self.device.swipe(lines)
        deadline = time.monotonic() + 15
        while len(events := self.events()) <= before:
            assert time.monotonic() < deadline, "no decision"
            time.sleep(0.02)
        return events[-1]

    def events(self) -> list[dict]:
        return [decode_event(b) for b in outbox_bodies(self.state / "outbox.sqlite3")]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
        if self.device is not None:
            self.device.close()
        self.proc = self.device = None


@pytest.fixture
def process_gate(tmp_path):
    gates: list[ProcessGate] = []

    def make(**kw) -> ProcessGate:
        gates.append(ProcessGate(tmp_path, **kw))
        return gates[-1]

    yield make
    for g in gates:
        g.stop()


def verdict(event: dict) -> tuple[str, list[str]]:
    return event["decision"], list(event["reasons"])


@needs_faketime
def test_clock_set_back_cannot_make_stale_list_fresh(process_gate):
    gate = process_gate(max_staleness=3600)
    gate.install_list(head_offset="-2d")  # the last head the gate got is two days old: the list is stale
    gate.start()
    assert verdict(gate.swipe(VALID_DOC)) == ("REFER", ["list_stale"])
    gate.stop()
    gate.start(offset="-2d")  # rebooted offline with the clock back at the head's time
    assert verdict(gate.swipe(VALID_DOC)) == ("REFER", ["list_stale"]), "a clock set back made the list fresh"
    assert gate.status()["time"]["wall"] == "behind"


@needs_faketime
def test_clock_set_back_cannot_make_expired_passport_valid(process_gate):
    gate = process_gate()
    gate.install_list()
    gate.start(offset="-30d")  # first boot offline, the clock a month behind (image-build time)
    assert verdict(gate.swipe(VALID_DOC)) == ("CLEAR", [])
    decision, reasons = verdict(gate.swipe(EXPIRED_YESTERDAY))
    assert (decision, reasons) == ("REFER", ["expired"]), "the set-back clock made an expired passport valid"


@needs_faketime
def test_trusted_time_survives_restart_and_never_goes_back(process_gate):
    gate = process_gate()
    gate.install_list()
    gate.start()
    before = gate.status()["time"]["trusted"]
    gate.swipe(VALID_DOC)
    gate.stop()
    saved = json.loads((gate.state / "time.json").read_text())["floor"]
    assert saved >= before
    gate.start(offset="-1y")
    after = gate.status()["time"]
    assert after["trusted"] >= saved and after["wall"] == "behind"
    gate.stop()
    assert json.loads((gate.state / "time.json").read_text())["floor"] >= saved


@needs_faketime
def test_clock_a_year_ahead_does_not_lock_out_commands_after_correction(mq, tmp_path, keys):
    """A gate process runs with its wall clock a year ahead, then corrected, then restarted: every command
    the centre sends is executed (before the fix the year-ahead time was persisted: `expired` for ever)."""
    from nacl.signing import SigningKey

    from tests.faketime import ClockedGateProcess
    from tests.support.link import make_central
    from tests.support.wait import wait_until

    central = make_central(mq, tmp_path / "central.db", keys)
    key = SigningKey.generate()
    state = tmp_path / "g"
    state.mkdir()
    (state / "device.key").write_bytes(bytes(key))
    central.store.enrol("gate-a", bytes(key.verify_key), time.time())
    mq.add_gate("gate-a")
    command_pubs = [bytes(k.verify_key) for k in keys.commands]

    def command_ok() -> bool:
        cid = central.send_command("gate-a", "request_status")
        return wait_until(lambda: any(c["cmd_id"] == cid and c["ok"] is not None
                                      for c in central.store.commands("gate-a")), 15) and \
            next(c for c in central.store.commands("gate-a") if c["cmd_id"] == cid)["ok"] == 1

    gate = ClockedGateProcess(mq, state, "gate-a", bytes(keys.node.verify_key), tmp_path / "clock",
                              command_pubs=command_pubs, offset="+1y")
    try:
        gate.emit(1)
        assert wait_until(lambda: len(central.store.events("gate-a")) == 1, 15)
        assert command_ok(), "a wall clock a year ahead locked commands out"
        gate.step("+0")  # corrected
        assert command_ok(), "commands locked out after the clock was corrected"
    finally:
        gate.stop()
    floor = json.loads((state / "time.json").read_text())["floor"]
    assert floor < time.time() + 3600, "the year-ahead wall clock was persisted as trusted time"
    gate = ClockedGateProcess(mq, state, "gate-a", bytes(keys.node.verify_key), tmp_path / "clock",
                              command_pubs=command_pubs, offset="+0")
    try:
        assert command_ok(), "commands locked out after a restart with the corrected clock"
    finally:
        gate.stop()
        central.stop()
    rejected = [c for c in central.store.commands("gate-a") if c["ok"] != 1]
    assert rejected == []


def test_hitlist_lookup_tool_judges_freshness_on_the_gates_trusted_time(tmp_path, capsys):
    """`sharaka-gate hitlist lookup` beside a gate: a wall clock behind the gate's persisted trusted time
    does not make the list fresh for the technician either."""
    from agent.cli import main as gate_cli

    gate = ProcessGate(tmp_path)
    gate.install_list()
    capsys.readouterr()

    def stale() -> bool:
        assert gate_cli(["hitlist", "lookup", "--state", str(gate.state / "hitlist"), "--document", "UTO",
                         "L898902C3", "--json"]) == 0
        return json.loads(capsys.readouterr().out)["stale"]

    assert stale() is False
    (gate.state / "time.json").write_text(json.dumps({"v": 2, "floor": time.time() + 2 * DAY}))
    assert stale() is True
