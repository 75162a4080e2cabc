"""`./tools/dev demo`: three border gates on simulated hardware, a real Mosquitto broker and the central node.

What runs, all on this machine:
  - a real Mosquitto (``tools/mosquitto.py``): its own directory, a free loopback port, one password per gate
    and the shipped ACL (a gate may publish only under its own topics);
  - the reference central node (``tools.central``): stores events and hits in SQLite, acknowledges them
    after its commit, and serves the signed hit-list to the gates;
  - three gates, each the real agent (``agent.app.GateApp`` from its own gate.toml and state directory): a
    simulated passport reader on a pseudo-terminal, the real indicator driver on a register-level PCA9685 +
    PCF8574 model, the durable outbox and the real MQTT link.

The story: the hit-list is built and signed with ``sharaka-hitlist`` and reaches every gate over MQTT; the
sample passports at gate 1; a stream of travellers across the gates, hits shown as the centre receives
them; a centrally pushed delta turning a cleared passport into a hit at every gate; a passport reported stolen at
the centre a moment ago, in no delta yet, found by the online query (FIND); the broker down for a
while (gates keep deciding at once, their outboxes fill) and back (every event arrives exactly once); and the
officer's screen at gate 1 in a real headless Chromium: a hit appears without a reload, the officer
acknowledges it, the acknowledgement reaches the centre, and a screenshot is saved in the demo's directory
(``officer-screen.png``); a second list (wanted persons, its own signing key and policy); a vehicle checked
by VIN and by plate; an early warning from the centre reaching every gate; and a camera gate (gate-4, no
reader): a generated passport page with a face photo pasted on it (seeded, tools/vision/synth.py) placed
under its camera is read, screened and decided, and the face crop comes out with the HIT (saved as
``face-crop.jpg``). Each step ends with a CHECK line; the exit code is 1 when any check failed.

    python -m tools.demo [--quick] [--keep DIR] [--pause SECONDS] [--outage SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from agent.gate_toml import write_gate_config
from tools import officer_demo
from tools.central.terminal import escape_controls
from tools.specimens import break_check, td3, years_from_now

GATES = ("gate-1", "gate-2", "gate-3")
CAMERA_GATE = "gate-4"  # a camera over the document tray and no reader (step 5b), started after the others
CAMERA_PAGE_SEED = 4_040
QUERY_DEADLINE_S = 0.3  # [link] query_deadline_ms of the demo gates: the longest a decision waits for the centre
SCREEN_GATE = "gate-1"  # serves the officer's screen (docs/screen.md)
LIST_ID = "sltd"
PERSONS_ID = "nominal"  # the second list: wanted persons, signed by its own key, its own policy
PERSONS_POLICY = {"governs": ["person"], "on_match": "hit", "on_weak": "refer", "on_stale": "refer"}
RECONNECT_MAX_S = 3.0  # gates' reconnect backoff cap in the demo (production: agent.link.LinkConfig, 60 s)
LIST_FETCH_SPREAD_S = 2.0  # [link] list_fetch_spread_s of the demo's three gates (default 30 s, for a fleet)
STOLEN_STREAM = 200  # generated stolen passports on the list; the stream swipes some of them

LISTED = {"kind": "document", "issuing_state": "UTO", "document_number": "L898902C3", "reason": "stolen",
          "ref": "SLTD-UTO-0001"}
WANTED = {"kind": "person", "surname": "MOHAMED", "given_names": "AHMED ALI", "birth_date": "750315",
          "reason": "wanted", "ref": "NOTICE-UTO-0007"}
NORDMANN = td3("UTO", "NORDMANN", "OLA", "N12345678", "820304", "M", years_from_now(5))
HADDAD = td3("UTO", "HADDAD", "KARIM", "H24681357", "800101", "M", years_from_now(5))
HADDAD_WANTED = {"kind": "person", "surname": "HADDAD", "given_names": "KARIM", "birth_date": "800101",
                 "reason": "wanted", "ref": "NOMINAL-UTO-0011"}
STOLEN_VIN = "1M8GDM9AXKP042788"
STOLEN_CAR = {"kind": "vehicle", "vin": STOLEN_VIN, "plate": "AB-102-CD", "country": "F", "reason": "stolen",
              "ref": "SMV-F-0003"}
WARNED = td3("UTO", "ABDELKADER", "YOUSSEF", "W11223344", "830707", "M", years_from_now(4))
NORDMANN_STOLEN = {"kind": "document", "issuing_state": "UTO", "document_number": "N12345678",
                   "reason": "stolen", "ref": "SLTD-UTO-0042"}
VIRTANEN = td3("UTO", "VIRTANEN", "AINO", "V98765432", "910606", "F", years_from_now(6))
VIRTANEN_STOLEN = {"kind": "document", "issuing_state": "UTO", "document_number": "V98765432",
                   "reason": "stolen", "ref": "SLTD-UTO-0099"}
SAMPLES = [
    ("Passport of ERIKSSON, ANNA MARIA (Utopia), no. L898902C3",
     td3("UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "740812", "F", years_from_now(8), optional="ZE184226B")),
    ("Passport of MUSTERMANN, ERIKA (Utopia), expired 1 Jan 2020",
     td3("UTO", "MUSTERMANN", "ERIKA", "C01X00T47", "640812", "F", "200101")),
    ("Passport of PUBLIC, JOHN Q (Utopia), misprinted check digit",
     break_check(td3("UTO", "PUBLIC", "JOHN Q", "E34567890", "710203", "M", years_from_now(7)))),
    ("Passport of MUHAMMAD, AHMED ALI (Utopia), born 15 Mar 1975 (listed as MOHAMED)",
     td3("UTO", "MUHAMMAD", "AHMED ALI", "M76543210", "750315", "M", years_from_now(6))),
    ("Passport of NORDMANN, OLA (Utopia), valid", NORDMANN),
    ("The same passport of NORDMANN, OLA, swiped again a second later", NORDMANN),
]

REASONS = {
    "expired": "the document has expired",
    "expiry_unreadable": "the expiry date cannot be read",
    "unreadable": "the reader could not read a machine-readable zone",
    "list_stale": "the hit-list is out of date",
    "document_code_refused": "this kind of document is not accepted here",
    "issuing_state_refused": "documents of this issuing state are not accepted here",
    "issuing_state_not_accepted": "documents of this issuing state are not accepted here",
    "indicator_fault": "the gate's lights or relay report a fault",
    "event_log_unavailable": "the decision could not be recorded",
    "hitlist_unavailable": "the hit-list could not be consulted",
    "hitlist_missing": "the gate holds no verified hit-list",
    "hitlist_unreadable": "the gate's hit-list cannot be read",
    "hitlist_wrong_id": "the gate holds another hit-list than the one configured",
}
ADVICE = {
    "CLEAR": "let the traveller pass",
    "HIT": "stop the traveller and call the supervisor",
    "REFER": "check the document by hand",
}


def explain(reason: str) -> str:
    """An officer's wording of a machine reason."""
    head, _, tail = reason.partition(":")
    if head == "check_digit":
        return f"the {tail.replace('_', ' ')} check digit is wrong (misprint, misread or alteration)"
    if head.startswith("listed_"):
        return f"{head.removeprefix('listed_')} is on the hit-list as {tail.upper()}"
    if head.startswith("possible_"):
        return f"possible match with a listed person ({tail}): compare identity"
    return REASONS.get(reason, reason)


def observe(board: Any) -> str:
    """What a person at the gate sees and hears, read from the simulated chips' registers."""
    from hal.indicators.sim import observe as read_chips

    seen = read_chips(board)
    colour = {(0, 255, 0): "GREEN", (255, 0, 0): "RED", (255, 120, 0): "AMBER", (0, 0, 0): "dark"}.get(
        seen.colour, str(seen.colour))
    sound = f"buzzer sounding ({seen.buzzer_hz} Hz)" if seen.buzzer_hz else "silent"
    return f"{colour} light, {sound}, gate {'OPEN' if seen.relay_energised else 'SHUT'}"


def wait_until(pred: Callable[[], Any], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``pred`` until it is true or ``timeout`` seconds passed; returns whether it became true."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def stolen_number(i: int) -> str:
    return f"S{i:08d}"


def records(extra: Sequence[dict[str, str]] = ()) -> list[dict[str, str]]:
    """The list's records: the sample stolen passport, a wanted person, generated stolen passports."""
    stolen = [{"kind": "document", "issuing_state": "UTO", "document_number": stolen_number(i), "reason": "stolen",
               "ref": f"SLTD-UTO-{1000 + i}"} for i in range(STOLEN_STREAM)]
    return [LISTED, WANTED, STOLEN_CAR, *stolen, *extra]


@dataclass
class Swipe:
    """One document at one gate, as the gate decided it."""

    gate: str
    verdict: str  # CLEAR | HIT | REFER | duplicate | none
    reasons: tuple[str, ...] = ()
    event_id: str | None = None
    ref: str = ""
    seconds: float = 0.0  # swipe (last byte written to the reader) to decision shown
    shows: str = ""


@dataclass
class Gate:
    name: str
    app: Any
    stop: threading.Event
    thread: threading.Thread
    event_ids: list[str] = field(default_factory=list)

    @property
    def version(self) -> int:
        return int(self.app.screener.hitlist.version)


class Demo:
    """Runs the story step by step; ``checks`` collects (name, passed, detail)."""

    def __init__(self, workdir: Path, *, quick: bool, pause: float, outage: float) -> None:
        self.dir = workdir
        self.quick = quick
        self.pause = pause
        self.outage_s = outage
        self.checks: list[tuple[str, bool, str]] = []
        self.gates: dict[str, Gate] = {}
        self.centre_hits: list[dict[str, Any]] = []
        self._print = threading.Lock()
        self.broker: Any = None
        self.central: Any = None
        self.lists = workdir / "lists" / LIST_ID
        self.hlkeys = workdir / "hitlist-keys"

    # -- output ---------------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        with self._print:
            print(text, flush=True)

    def step(self, title: str) -> None:
        self.say(f"\n=== {title} " + "=" * max(0, 96 - len(title)))

    def check(self, name: str, passed: bool, detail: str) -> bool:
        self.checks.append((name, passed, detail))
        self.say(f"  CHECK {name}: {detail} ... {'ok' if passed else 'FAILED'}")
        return passed

    # -- the centre -----------------------------------------------------------------------------
    def on_centre(self, kind: str, data: dict[str, Any]) -> None:
        """The central node's console feed (called from its writer thread after the commit)."""
        if kind == "reject":
            self.say(escape_controls(f"  centre: REJECTED a message on {data['topic']}: {data['reason']}"))
            return
        if kind != "hit":
            return
        event = self.central_event(data["gate"], data["id"])
        hit = event.get("hit") or {}
        delay = (data["received"] - event["wall"]) * 1e3 if "wall" in event else float("nan")
        self.centre_hits.append({**data, "event": event})
        self.say(escape_controls(f"  centre <- HIT from {data['gate']}, event #{data['seq']}: "
                                 f"{', '.join(map(str, event.get('reasons', ())))}, record {hit.get('ref', '?')} "
                                 f"(stored {delay:.0f} ms after the gate decided)"))  # gate strings: escaped

    def central_event(self, gate_id: str, msg_id: str) -> dict[str, Any]:
        """The gate's decision event as the centre stored it (read-only look at its SQLite file)."""
        db = sqlite3.connect(f"file:{self.dir / 'central.db'}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT body FROM events WHERE gate_id=? AND msg_id=?", (gate_id, msg_id)).fetchone()
        finally:
            db.close()
        return dict(msgpack.unpackb(row[0], raw=False)) if row else {}

    def centre_ids(self, gate: str) -> list[str]:
        return [e["msg_id"] for e in self.central.store.events(gate)]

    # -- hit-list -------------------------------------------------------------------------------
    def hitlist_cli(self, *argv: str) -> dict[str, Any]:
        """Run ``sharaka-hitlist ARGV --json`` (the real tool, in this process); returns its JSON."""
        from tools.hitlist_cli import main as hitlist_main

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = hitlist_main([*argv, "--json"])
        if code != 0:
            raise RuntimeError(f"sharaka-hitlist {' '.join(argv)} failed ({code}): {out.getvalue()}")
        lines = [ln for ln in out.getvalue().splitlines() if ln.startswith("{")]
        return dict(json.loads(lines[-1])) if lines else {}

    def build_list(self, version: int, recs: list[dict[str, str]], base: Path | None = None) -> Path:
        src = self.dir / "records" / f"v{version}.jsonl"
        src.parent.mkdir(exist_ok=True)
        src.write_text("".join(json.dumps(r) + "\n" for r in recs))
        out = (self.dir / "records" if base else self.lists) / f"snapshot-{version}.bin"
        self.hitlist_cli("build", "--keys", str(self.hlkeys), "--from", str(src), "--list-id", LIST_ID,
                         "--version", str(version), "--out", str(out), *(["--base", str(base)] if base else []))
        return out

    def publish_head(self, list_file: Path) -> None:
        tmp = self.dir / "records" / "head"
        self.hitlist_cli("head", "--keys", str(self.hlkeys), "--list", str(list_file), "--out", str(tmp))
        tmp.replace(self.lists / "head")
        self.central.poll_hitlists()

    def wait_for_version(self, version: int, timeout: float = LIST_FETCH_SPREAD_S + 30.0) -> dict[str, float]:
        """Seconds each gate took to install ``version`` (missing: not within ``timeout``: the fetch spread and
        30 s for the transfer)."""
        t0 = time.monotonic()
        took: dict[str, float] = {}
        deadline = t0 + timeout
        while len(took) < len(self.gates) and time.monotonic() < deadline:
            for g in self.gates.values():
                if g.name not in took and g.version >= version:
                    took[g.name] = time.monotonic() - t0
            time.sleep(0.02)
        return took

    @staticmethod
    def persons_version(gate: Gate) -> int:
        return next((int(src.hitlist.version) for src in gate.app.lists if src.name == PERSONS_ID), 0)

    def centre_sees_version(self, version: int, timeout: float = 6.0) -> int:
        """How many gates the centre's status view (heartbeats) shows on ``version`` or newer."""

        def count() -> int:
            return sum((g["list_version"] or 0) >= version for g in self.central.store.gates())

        wait_until(lambda: count() == len(GATES), timeout, 0.1)
        return count()

    # -- gates ----------------------------------------------------------------------------------
    def start_gate(self, name: str, password: str, command_pubs: list[str],
                   devices: dict[str, str] | None = None) -> Gate:  # fmt: skip
        from agent.app import GateApp
        from agent.config import load_config
        from agent.keys import load_public_key

        d = self.dir / name
        d.mkdir()
        (d / "broker.password").write_text(password + "\n")
        (d / "broker.password").chmod(0o600)
        config = write_gate_config(
            d, gate_id=name, site="uto-north",
            devices={"reader_id": "desk-reader", **(devices or {})},
            screening={"duplicate_window_s": 3.0, "relay_pulse_s": 1.0, "clear_show_s": 1.0},
            hitlist={"store_dir": "state/hitlist", "root_pub": "../hitlist-keys/root.pub"},
            **{f"lists.{PERSONS_ID}": {"store_dir": f"state/{PERSONS_ID}", "root_pub": "../hitlist-keys/root.pub",
                                       **PERSONS_POLICY}},
            link={"enabled": True, "port": self.broker.port, "password_file": "broker.password",
                  "node_pub": "../central-keys/node.key.pub", "command_pubs": command_pubs, "heartbeat_s": 2.0,
                  "list_id": LIST_ID, "query": True, "query_deadline_ms": round(QUERY_DEADLINE_S * 1000),
                  "list_fetch_spread_s": LIST_FETCH_SPREAD_S},
            logging={"level": "INFO"},
            **({"screen": {"enabled": True, "port": 0}} if name == SCREEN_GATE else {}),
        )
        app = GateApp(load_config(config))
        app.open()  # makes the device key, enrolled here before the link connects
        if app.screen is not None:
            officer_demo.enrol_officer(app)
        self.central.store.enrol(name, bytes(load_public_key(d / "state" / "device.key.pub")), time.time())
        if app.link is None:
            raise RuntimeError(f"demo gate {name} has no link: {d / 'gate.toml'} must enable [link]")
        app.link.config.backoff_max = RECONNECT_MAX_S  # the real client, its reconnect backoff capped for the show
        stop = threading.Event()
        thread = threading.Thread(target=app.run, args=(stop,), name=name, daemon=True)
        thread.start()
        return Gate(name, app, stop, thread)

    def swipe(self, gate: Gate, lines: Sequence[str], timeout: float = 5.0) -> Swipe:
        """Swipe ``lines`` on the gate's reader and wait for its decision."""
        screener = gate.app.screener
        before = (dict(screener.counts), screener.last)
        t0 = time.perf_counter()
        gate.app.reader.device.swipe(list(lines))
        if not wait_until(lambda: (dict(screener.counts), screener.last) != before, timeout, 0.001):
            return Swipe(gate.name, "none")
        took = time.perf_counter() - t0
        shows = observe(gate.app.indicators)
        deadline = time.monotonic() + 0.6
        while shows.startswith("dark") and time.monotonic() < deadline:  # the HIT pattern blinks at 2 Hz
            time.sleep(0.02)
            shows = observe(gate.app.indicators)
        if screener.counts["duplicate"] > before[0].get("duplicate", 0):
            return Swipe(gate.name, "duplicate", seconds=took, shows=shows)
        last = screener.last
        d = last.decision
        if last.event_id:
            gate.event_ids.append(last.event_id)
        return Swipe(gate.name, d.verdict, tuple(d.reasons), last.event_id, d.hit.ref if d.hit else "", took, shows)

    def outbox_depths(self) -> dict[str, int]:
        return {g.name: g.app.outbox.depth() for g in self.gates.values()}

    # -- the story ------------------------------------------------------------------------------
    def setup(self) -> None:
        from tools.central.cli import main as central_main
        from tools.central.hitlists import HitListServer
        from tools.central.node import CentralConfig, CentralNode
        from tools.central.online import OnlineLists
        from tools.central.store import CentralStore
        from tools.mosquitto import Broker

        self.step("1. Broker, central node and three gates")
        self.broker = Broker(self.dir / "broker")
        self.passwords = passwords = {g: self.broker.add_gate(g)[1] for g in (*GATES, CAMERA_GATE)}
        self.broker.start()
        self.say(f"  Mosquitto {self.broker.url} (pid {self.broker.pid}): one password per gate, ACL "
                 f"{self.broker.acl_path}")
        with contextlib.redirect_stdout(io.StringIO()):
            central_main(["keygen", "--out", str(self.dir / "central-keys")])
        keys = self.dir / "central-keys"
        command_pubs = [f"../central-keys/{p.name}" for p in sorted(keys.glob("command-*.key.pub"))]
        self.hitlist_cli("keygen", "--out", str(self.hlkeys))
        # the persons list's own signing key and the centre's alert key, certified by the root (keyring v2)
        self.hitlist_cli("certify", "--keys", str(self.hlkeys), "--add-list-key", PERSONS_ID, "--add-alert-key")
        self.lists.mkdir(parents=True)
        from agent import keys as keyfiles

        user, password = self.broker.central
        self.central = CentralNode(
            CentralConfig(host=self.broker.host, port=self.broker.port, username=user, password=password),
            CentralStore(self.dir / "central.db"), keyfiles.load_signing_key(keys / "node.key"),
            [keyfiles.load_signing_key(p) for p in sorted(keys.glob("command-*.key"))],
            on_update=self.on_centre, hitlists=HitListServer(self.dir / "lists", keyrings=self.hlkeys / "keyrings"))
        # online queries: the centre answers from LISTS/*/records.jsonl as they are now (docs/online-query.md)
        self.central.online = OnlineLists(self.dir / "lists", published=self.central.hitlists.newest)
        # The centre first, and each gate enrolled before its link connects: a gate asks for keyrings as soon
        # as it connects, and the centre answers only gates it knows.
        self.central.start()
        self.command_pubs = command_pubs
        for name in GATES:
            self.gates[name] = gate = self.start_gate(name, passwords[name], command_pubs)
            self.say(f"  {name}: config {self.dir / name / 'gate.toml'}; shows {observe(gate.app.indicators)} "
                     f"(safe state); device key enrolled at the centre")
        self.say(f"  (reconnect backoff capped at {RECONNECT_MAX_S:g} s for the demo, 60 s by default; a list update "
                 f"fetched within {LIST_FETCH_SPREAD_S:g} s of its head, 30 s by default so a fleet does not fetch at once)")
        connected = self.central.wait_for_connected(10) and all(
            g.app.link.wait_for_connected(10) for g in self.gates.values())
        online = wait_until(lambda: sum(g["online"] for g in self.central.store.gates()) == len(GATES), 10)
        self.check("connected", connected and online,
                   f"central node and {len(GATES)} gates connected to the broker, the centre sees "
                   f"{sum(g['online'] for g in self.central.store.gates())} gates online")

    def publish_list(self) -> None:
        self.step("2. Build, sign and publish the hit-list")
        recs = records()
        self.v1 = self.build_list(1, recs)
        meta = self.hitlist_cli("inspect", str(self.v1))
        self.say(f"  sharaka-hitlist build: {len(recs)} records -> {self.v1.name}, {self.v1.stat().st_size} bytes, "
                 f"signed (list {LIST_ID!r} v1{', ' + str(meta.get('count')) + ' entries' if 'count' in meta else ''})")
        self.say(f"  listed: passport UTO {LISTED['document_number']} ({LISTED['reason']}), "
                 f"{STOLEN_STREAM} more stolen passports, and a wanted person "
                 f"{WANTED['surname']}, {WANTED['given_names']} born {WANTED['birth_date']}")
        self.publish_head(self.v1)
        persons = self.dir / "lists" / PERSONS_ID
        persons.mkdir()
        src = self.dir / "records" / f"{PERSONS_ID}.jsonl"
        src.write_text(json.dumps(HADDAD_WANTED) + "\n")
        self.hitlist_cli("build", "--keys", str(self.hlkeys), "--from", str(src), "--list-id", PERSONS_ID,
                         "--version", "1", "--out", str(persons / "snapshot-1.bin"))
        self.hitlist_cli("head", "--keys", str(self.hlkeys), "--list", str(persons / "snapshot-1.bin"),
                         "--out", str(persons / "head"))
        self.central.poll_hitlists()
        self.say(f"  and a second list {PERSONS_ID!r} (wanted persons), signed by its own key")
        self.say("  heads signed and published by the central node; the gates fetch the lists over MQTT and "
                 "verify them against their pinned root key")
        took = self.wait_for_version(1)
        wait_until(lambda: all(self.persons_version(g) >= 1 for g in self.gates.values()), 30)
        for g in self.gates.values():
            st = g.app.screener.hitlist.status(time.time())
            self.say(f"  {g.name}: list {st.get('list_id')} v{st.get('version', 0)} installed "
                     f"({st.get('count', '?')} entries, {'stale' if st.get('stale') else 'fresh'})"
                     + (f" in {took[g.name]:.2f} s" if g.name in took else ""))
        seen = self.centre_sees_version(1)
        self.check("hit-list v1", len(took) == len(GATES),
                   f"installed at {len(took)}/{len(GATES)} gates; the centre's status view shows v1 at {seen}")

    def samples(self) -> None:
        self.step("3a. Sample passports at gate-1")
        gate = self.gates["gate-1"]
        results = []
        for n, (label, lines) in enumerate(SAMPLES, 1):
            self.say(f"{n}. {label}")
            self.say(f"     MRZ  {lines[0]}\n          {lines[1]}")
            s = self.swipe(gate, lines)
            results.append(s)
            if s.verdict == "none":
                self.say("  -> no decision within 5 s\n")
            elif s.verdict == "duplicate":
                self.say(f"  -> same passage as before: no new record; still shows {s.shows}\n")
            else:
                self.say(f"  -> {s.verdict}: {ADVICE[s.verdict]}   ({s.seconds * 1e3:.1f} ms)")
                self.say(f"     shows: {s.shows}")
                for reason in s.reasons:
                    self.say(f"     why:   {explain(reason)}")
                if s.ref:
                    self.say(f"     record: {s.ref}")
                self.say("")
            time.sleep(self.pause)
        got = [s.verdict for s in results]
        want = ["HIT", "REFER", "REFER", "HIT", "CLEAR", "duplicate"]
        self.check("samples", got == want, f"decisions {got}, expected {want}")

    def stream(self) -> None:
        count = 12 if self.quick else 36
        self.step(f"3b. {count} travellers across the three gates (every 4th passport is on the list)")
        self.say("  gate    passport        decision  shows                                             time")
        names = list(self.gates)
        expected_hits: list[str] = []
        from tools.specimens import stream as specimens

        docs = list(specimens(count, seed=7))
        for i in range(count):
            gate = self.gates[names[i % len(names)]]
            lines = docs[i]
            if i % 4 == 3:  # a stolen passport from the list
                lines = td3("UTO", "SPECIMEN", "ALEX", stolen_number(i), "800101", "M", years_from_now(7))
            s = self.swipe(gate, lines)
            if s.verdict == "HIT" and s.event_id:
                expected_hits.append(s.event_id)
            self.say(f"  {gate.name}  UTO {lines[1][:9].rstrip('<'):<10}  {s.verdict:<8}  {s.shows:<48}  "
                     f"{s.seconds * 1e3:5.1f} ms")
            time.sleep(self.pause * 0.7)
        arrived = wait_until(lambda: set(expected_hits) <= {h["id"] for h in self.centre_hits}, 15)
        self.say("  at the centre (sharaka-central events):")
        for g in self.gates.values():
            evs = self.central.store.events(g.name)
            self.say(f"    {g.name}: {len(evs)} events, {sum(e['is_hit'] for e in evs)} hits; "
                     f"outbox at the gate: {g.app.outbox.depth()} waiting")
        self.check("hits at the centre", arrived and len(expected_hits) == count // 4,
                   f"{len(expected_hits)} hits decided at the gates, "
                   f"{len(set(expected_hits) & {h['id'] for h in self.centre_hits})} received and stored centrally")

    def officer_screen(self) -> None:
        self.step(f"3c. The officer's screen at {SCREEN_GATE} (headless Chromium)")
        gate = self.gates[SCREEN_GATE]
        passport = td3("UTO", "SPECIMEN", "SAM", stolen_number(STOLEN_STREAM - 1), "810101", "F", years_from_now(6))
        passed, detail, officer_events = officer_demo.run(
            gate.app, lambda: self.swipe(gate, passport), self.dir / "central.db", self.dir / "officer-screen.png",
            lambda p, t: wait_until(p, t))
        gate.event_ids.extend(officer_events)  # the gate's events too (checked exactly once in step 5)
        self.check("officer's screen", passed, detail)

    def second_list(self) -> None:
        self.step(f"3d. A second list: wanted persons ({PERSONS_ID!r}), its own signing key and policy")
        gate = self.gates["gate-2"]
        source = next(src for src in gate.app.lists if src.name == PERSONS_ID)
        policy = source.policy
        self.say(f"  policy: governs {', '.join(policy.governs)}; exact match -> {policy.on_match.upper()}, weak name "
                 f"match -> {policy.on_weak.upper()}, stale -> {policy.on_stale.upper()}; officer acknowledges: "
                 f"{'yes' if policy.acknowledge else 'no'}")
        for g in self.gates.values():
            st = g.app.status()["lists"]
            self.say(f"  {g.name}: " + "; ".join(f"{name} v{one['version']} "
                                                  f"{'stale' if one['stale'] else 'fresh'}" for name, one in st.items()))
        s = self.swipe(gate, HADDAD)
        answers = {a.source: a.decided for a in gate.app.screener.last.decision.answers}
        self.say(f"  HADDAD, KARIM swiped at gate-2 -> {s.verdict} {', '.join(s.reasons)} record {s.ref or '-'}; "
                 f"lists answered: " + ", ".join(f"{k} {v}" for k, v in answers.items()))
        fresh = all(self.persons_version(g) == 1 for g in self.gates.values())
        self.check("second list", fresh and s.verdict == "HIT" and answers.get(PERSONS_ID) == "HIT"
                   and answers.get(LIST_ID) == "CLEAR",
                   f"{PERSONS_ID} v1 at {sum(self.persons_version(g) == 1 for g in self.gates.values())}/{len(GATES)} "
                   f"gates; the wanted person is a HIT decided by {PERSONS_ID} (sltd: {answers.get(LIST_ID)})")

    def vehicle(self) -> None:
        self.step("3e. A vehicle at the land crossing: the officer enters a VIN, then a plate")
        gate = self.gates["gate-3"]
        check = gate.app.vehicles
        results = []
        for label, entry in (("VIN 1M8GDM9AXKP042788", {"vin": STOLEN_VIN}),
                             ("plate AB 1O2 CD (F), as typed", {"plate": "AB 1O2 CD", "country": "F"}),
                             ("VIN WVWZZZ1JZXW000001", {"vin": "WVWZZZ1JZXW000001"})):
            decision = check(**entry)
            last = gate.app.screener.last
            if last is not None and last.event_id:
                gate.event_ids.append(last.event_id)
            results.append(decision.verdict)
            self.say(f"  {label} -> {decision.verdict} {', '.join(decision.reasons)} "
                     f"record {decision.hit.ref if decision.hit else '-'}; shows {observe(gate.app.indicators)}")
        self.check("vehicle check", results == ["HIT", "HIT", "CLEAR"],
                   f"stolen car by VIN and by plate (confusable O for 0 folded): {results}, expected HIT, HIT, CLEAR")

    def early_warning(self) -> None:
        from agent.keys import load_signing_key
        from tools.central.alerts import alert_receipts, build_alert, publish_alert
        from tools.central.node import CentralConfig

        self.step("3f. An early warning from the centre: passport UTO W11223344 stolen an hour ago")
        key = load_signing_key(next(self.hlkeys.glob("alert-*.key")))
        listing = {"kind": "document", "issuing_state": "UTO", "document_number": "W11223344", "reason": "stolen",
                   "ref": "EW-UTO-0001", "list": LIST_ID, "version": 3}
        alert_id, wire, expires = build_alert(key, notice="Passport UTO W11223344 reported stolen; stop and refer",
                                              severity="urgent", ttl=3600, listings=[listing])
        user = "central-cmd"
        t0 = time.monotonic()
        publish_alert(CentralConfig(host=self.broker.host, port=self.broker.port, username=user,
                                    password=self.broker.credentials[user]), alert_id, wire, expires)
        self.say(f"  sharaka-central alert send: alert {alert_id[:8]}…, signed by the alert key, retained for all gates")
        took: dict[str, float] = {}
        while len(took) < len(GATES) and time.monotonic() - t0 < 10:
            for g in self.gates.values():
                if g.name not in took and alert_id in g.app.warnings.alerts:
                    took[g.name] = time.monotonic() - t0
            time.sleep(0.01)
        hits = []
        for g in self.gates.values():
            s = self.swipe(g, WARNED)
            shown = g.app.warnings.active_alerts()
            self.say(f"  {g.name}: received in {took.get(g.name, float('nan')) * 1e3:.0f} ms; W11223344 swiped -> "
                     f"{s.verdict} record {s.ref or '-'}; notice shown: {shown[0]['notice'] if shown else '-'}")
            if s.verdict == "HIT" and s.ref == "EW-UTO-0001":
                hits.append(g.name)
        self.gates["gate-1"].app.warnings.acknowledge(alert_id, "officer-demo")
        reported = wait_until(lambda: len(alert_receipts(self.central.store, alert_id).get(alert_id, {})) == len(GATES)
                              and "acknowledged" in alert_receipts(self.central.store, alert_id)[alert_id].get(
                                  "gate-1", {}), 15, 0.1)
        receipts = alert_receipts(self.central.store, alert_id).get(alert_id, {})
        for g in self.gates.values():  # the reports are events of the gate too (checked exactly once in step 5)
            g.event_ids += [e["msg_id"] for e in self.central.store.events(g.name, kind="alert")
                            if e["msg_id"] not in g.event_ids]
        self.say("  at the centre (sharaka-central alert status): " + "; ".join(
            f"{gate} {'acknowledged by ' + st['officer'] if 'acknowledged' in st else 'received'}"
            for gate, st in sorted(receipts.items())))
        slowest = max(took.values(), default=float("inf"))
        self.check("early warning", len(hits) == len(GATES) and reported and slowest <= 2.0,
                   f"alert at {len(took)}/{len(GATES)} gates within {slowest * 1e3:.0f} ms (limit 2 s), HIT at "
                   f"{len(hits)}/{len(GATES)}, receipts at the centre {len(receipts)}/{len(GATES)}, acknowledged at gate-1")

    def delta(self) -> None:
        self.step("4. A delta pushed centrally: passport UTO N12345678 (NORDMANN, OLA) reported stolen")
        self.say("  it was CLEAR at gate-1 a moment ago")
        full = self.build_list(2, records([NORDMANN_STOLEN]), base=self.v1)
        delta = self.lists / "delta-2.bin"
        self.hitlist_cli("delta", "--keys", str(self.hlkeys), "--from", str(self.v1), "--to", str(full),
                         "--out", str(delta))
        self.say(f"  sharaka-hitlist delta v1 -> v2: {delta.stat().st_size} bytes (the v2 snapshot would be "
                 f"{full.stat().st_size}); new head published")
        self.publish_head(full)
        took = self.wait_for_version(2)
        for g in self.gates.values():
            self.say(f"  {g.name}: now v{g.version}" + (f" (installed {took[g.name]:.2f} s after the push)"
                                                     if g.name in took else ""))
        seen = self.centre_sees_version(2)
        self.check("delta v2", len(took) == len(GATES),
                   f"installed at {len(took)}/{len(GATES)} gates; the centre's status view shows v2 at {seen}")
        hits = []
        before = len(self.centre_hits)
        for g in self.gates.values():
            s = self.swipe(g, NORDMANN)
            self.say(f"  {g.name}: NORDMANN, OLA swiped -> {s.verdict} {', '.join(s.reasons)} "
                     f"record {s.ref or '-'}; shows {s.shows}")
            if s.verdict == "HIT" and s.ref == NORDMANN_STOLEN["ref"]:
                hits.append(g.name)
        wait_until(lambda: len(self.centre_hits) >= before + len(hits), 10)
        self.check("delta hit", len(hits) == len(GATES), f"HIT at {len(hits)}/{len(GATES)} gates: {', '.join(hits)}")

    def online_query(self) -> None:
        self.step("4b. Online query: passport UTO V98765432 (VIRTANEN, AINO) reported stolen at the centre just now")
        current = self.lists / "records.jsonl"  # the centre's current records: v2 plus what came in since
        current.write_text("".join(json.dumps(r) + "\n" for r in records([NORDMANN_STOLEN, VIRTANEN_STOLEN])))
        self.central.online.scan()
        self.say(f"  added to {current.name} at the centre; no snapshot or delta holds it: every gate is still on "
                 + ", ".join(f"v{g.version}" for g in self.gates.values()))
        gate = self.gates["gate-3"]
        s = self.swipe(gate, VIRTANEN)
        decision = gate.app.screener.last.decision
        local = decision.local_hit
        sources = ", ".join([f"local answered ({LIST_ID} v{decision.list_version})"
                             + (f" HIT {local.ref}" if local else " no hit")]
                            + [f"{a.source} {a.state}"
                               + (f" ({', '.join(f'{lid} v{v}' for lid, v in a.consulted)})" if a.consulted else "")
                               + (f" HIT {a.match.ref}" if a.match else " no hit")
                               for a in decision.answers if a.remote])
        self.say(f"  {gate.name}: VIRTANEN, AINO swiped -> {s.verdict} {', '.join(s.reasons)} record {s.ref or '-'} "
                 f"in {s.seconds * 1e3:.1f} ms; shows {s.shows}")
        self.say(f"     sources: {sources}")
        self.check("online hit", s.verdict == "HIT" and "online_hit" in s.reasons and s.ref == VIRTANEN_STOLEN["ref"]
                   and gate.version == 2,
                   f"{s.verdict} at {gate.name} on an entry in no delta (its list still v{gate.version}), "
                   f"the event records the centre as {decision.centre}")

    def broker_outage(self) -> None:
        self.step(f"5. The broker goes down for {self.outage_s:g} s; the gates keep screening")
        self.broker.stop()
        self.say(f"  broker stopped (pid gone, port {self.broker.port} closed)")
        names = list(self.gates)
        backlog: dict[str, list[str]] = {n: [] for n in names}
        slow: list[Swipe] = []
        swipes: list[Swipe] = []
        i = 0
        t_end = time.monotonic() + self.outage_s
        while time.monotonic() < t_end or i < len(names):
            gate = self.gates[names[i % len(names)]]
            listed = i % 5 == 4
            lines = td3("UTO", "SPECIMEN", "ALEX", stolen_number(100 + i), "800101", "M", years_from_now(7)) if listed \
                else td3("UTO", "SAMPLE", "JANE", f"B{i:08d}", "900101", "F", years_from_now(7))
            s = self.swipe(gate, lines)
            swipes.append(s)
            if s.event_id:
                backlog[gate.name].append(s.event_id)
            # the first swipes may still ask the centre (the link has not noticed yet): up to the query deadline
            if s.seconds > QUERY_DEADLINE_S + 0.5 or s.verdict == "none":
                slow.append(s)
            self.say(f"  {gate.name}  {s.verdict:<6} in {s.seconds * 1e3:5.1f} ms; outboxes waiting: "
                     + ", ".join(f"{n} {d}" for n, d in self.outbox_depths().items()))
            i += 1
            time.sleep(0.4)
        queued = sum(len(v) for v in backlog.values())
        slowest = max((sw.seconds for sw in swipes), default=0.0)
        self.check("decisions while offline", not slow,
                   f"{i} travellers decided without the centre, slowest in {slowest * 1e3:.1f} ms (limit "
                   f"{(QUERY_DEADLINE_S + 0.5) * 1e3:.0f} ms: the query deadline + 500 ms)")
        depths = self.outbox_depths()
        self.check("outbox grows", sum(depths.values()) >= queued,
                   f"{queued} events queued durably at the gates ({', '.join(f'{n} {d}' for n, d in depths.items())})")
        t0 = time.monotonic()
        self.broker.start()
        self.say(f"  broker back on port {self.broker.port}; the gates reconnect (jittered backoff) and resend")
        all_ids = {g.name: list(g.event_ids) for g in self.gates.values()}
        delivered = wait_until(lambda: all(set(ids) <= set(self.centre_ids(n)) for n, ids in all_ids.items())
                               and sum(self.outbox_depths().values()) == 0, 60, 0.1)
        self.say(f"  backlog delivered and acknowledged in {time.monotonic() - t0:.1f} s; outboxes: "
                 + ", ".join(f"{n} {d}" for n, d in self.outbox_depths().items()))
        problems = []
        for g in self.gates.values():
            central = self.centre_ids(g.name)
            missing = set(g.event_ids) - set(central)
            extra = set(central) - set(g.event_ids)
            doubled = len(central) - len(set(central))
            lost = set(backlog[g.name]) - set(central)
            self.say(f"    {g.name}: {len(g.event_ids)} events decided at the gate, {len(central)} stored centrally; "
                     f"backlog {len(backlog[g.name])}, missing {len(missing | lost)}, extra {len(extra)}, "
                     f"twice {doubled}")
            if missing or extra or doubled or lost:
                problems.append(g.name)
        self.say(f"  the centre dropped {self.central.stats.duplicates} resent copies by id")
        self.check("exactly once", delivered and not problems,
                   f"every event id queued at the gates is stored exactly once at the centre "
                   f"({sum(len(g.event_ids) for g in self.gates.values())} events, backlog {queued})"
                   + (f"; problems at {problems}" if problems else ""))

    def camera_gate(self) -> None:
        self.step(f"5b. A camera gate ({CAMERA_GATE}): a passport page placed under the camera, no reader")
        import random

        import numpy as np

        from agent.vision.image import read_image
        from hal.camera.pnm import write_pnm
        from tools.vision.synth import document_sample

        tray = self.dir / "camera-tray"
        tray.mkdir()
        write_pnm(tray / "tray.ppm", np.full((600, 800, 3), 96, np.uint8))  # the empty tray
        label, lines = SAMPLES[0]
        photo = read_image(Path(__file__).resolve().parents[1] / "tests" / "data" / "vision" / "astronaut.jpg")
        page = document_sample(random.Random(CAMERA_PAGE_SEED), "TD3", lines=lines, face=photo, px_per_mm=6.0,
                               angle=2.0, damage_strength=0.3).image  # fmt: skip
        gate = self.start_gate(CAMERA_GATE, self.passwords[CAMERA_GATE], self.command_pubs,
                               devices={"reader": "", "camera": f"file://{tray}", "reader_id": "desk-camera"})
        screener = gate.app.screener
        try:
            ready = wait_until(lambda: gate.version >= 1, 20)
            self.say(f"  {CAMERA_GATE}: camera file://{tray} (frames of the tray), list v{gate.version} over MQTT; "
                     f"the page: {label}, a face photo pasted, turned 2 degrees, seed {CAMERA_PAGE_SEED}")
            write_pnm(tray / "page.tmp", page)
            (tray / "page.tmp").replace(tray / "tray.ppm")  # the page is placed under the camera
            t0 = time.monotonic()
            decided = wait_until(lambda: screener.last is not None, 20, 0.005)
            took = time.monotonic() - t0
            last = screener.last
            time.sleep(0.5)  # the page still lies there: no second passage
            passages = sum(screener.counts[v] for v in ("CLEAR", "HIT", "REFER"))
            verdict = last.decision.verdict if last else "none"
            face = (last.face if last else None) or {}
            self.say(f"  -> {verdict} {', '.join(last.decision.reasons) if last else ''} in {took * 1e3:.0f} ms from "
                     f"placing the page (frames every 50 ms); shows {observe(gate.app.indicators)}")
            crop = self.dir / "face-crop.jpg"
            at_centre = False
            if last is not None and last.event_id:
                event: dict[str, Any] = {}
                wait_until(lambda: bool(event.update(self.central_event(CAMERA_GATE, last.event_id)) or event), 10)
                central_face = event.get("face") or {}
                at_centre = central_face.get("jpeg") == face.get("jpeg") and bool(face.get("jpeg"))
                if face.get("jpeg"):
                    crop.write_bytes(face["jpeg"])
            self.say(f"  face: present {face.get('present')}, score {face.get('score')}, quality {face.get('quality')}; "
                     f"crop {len(face.get('jpeg', b''))} bytes -> {crop}")
            self.check("camera gate", ready and decided and verdict == "HIT" and passages == 1 and at_centre,
                       f"{verdict} for the listed passport read from the page in {took * 1e3:.0f} ms, one passage "
                       f"while it lies there ({passages}); face crop {'stored at the centre' if at_centre else 'MISSING'}"
                       f", saved as {crop}")
        finally:
            gate.stop.set()
            gate.thread.join(15)

    def shutdown(self) -> None:
        self.step("6. Shutdown")
        safe = []
        for g in self.gates.values():
            g.stop.set()
        for g in self.gates.values():
            g.thread.join(15)
            shows = observe(g.app.indicators)
            self.say(f"  {g.name} stopped: {shows}")
            if shows.startswith("AMBER") and shows.endswith("gate SHUT"):
                safe.append(g.name)
        if self.central is not None:
            self.central.stop()
        if self.broker is not None:
            self.broker.stop()
        self.say("  central node and broker stopped")
        self.check("safe state", len(safe) == len(self.gates), f"{len(safe)}/{len(self.gates)} gates amber, relay shut")

    def run(self) -> int:
        steps = (self.setup, self.publish_list, self.samples, self.stream, self.officer_screen, self.second_list,
                 self.vehicle, self.early_warning, self.delta, self.online_query, self.broker_outage, self.camera_gate)
        started = time.monotonic()
        try:
            for run_step in steps:
                run_step()
                if not all(passed for _, passed, _ in self.checks) and run_step in (self.setup, self.publish_list):
                    break  # nothing later can work without the link or the list
        finally:
            self.shutdown()
        failed = [name for name, passed, _ in self.checks if not passed]
        self.say(f"\n{len(self.checks) - len(failed)}/{len(self.checks)} checks passed in "
                 f"{time.monotonic() - started:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
        self.say(f"files: {self.dir} (gate configs, state, central.db, broker log)")
        return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer travellers, shorter pauses and outage (about 15 s instead of about 50 s)")
    ap.add_argument("--pause", type=float, help="seconds between sample travellers (default 1, --quick 0.2)")
    ap.add_argument("--outage", type=float, help="seconds the broker stays down (default 10, --quick 4)")
    ap.add_argument("--keep", metavar="DIR", help="keep configs, state, central.db and logs in DIR (must be empty)")
    args = ap.parse_args(argv)
    pause = args.pause if args.pause is not None else (0.2 if args.quick else 1.0)
    outage = args.outage if args.outage is not None else (4.0 if args.quick else 10.0)
    from agent.logs import setup_logging

    def run(workdir: Path) -> int:
        with (workdir / "gates.log").open("a") as log:
            setup_logging("INFO", stream=log)  # the gates' JSON-lines logs go to a file; the screen is the officer's
            print("Sharaka Gate demo: three gates on simulated hardware, a real Mosquitto broker, the central node")
            print(f"  working directory {workdir}; gate logs {workdir / 'gates.log'}")
            return Demo(workdir, quick=args.quick, pause=pause, outage=outage).run()

    if args.keep:
        keep = Path(args.keep)
        keep.mkdir(parents=True, exist_ok=True)
        if any(keep.iterdir()):
            ap.error(f"--keep {args.keep!r}: the directory is not empty")
        return run(keep.resolve())
    with tempfile.TemporaryDirectory(prefix="sharaka-demo-") as tmp:
        return run(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
