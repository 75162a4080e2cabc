"""`./tools/dev demo`: a border gate on simulated hardware screening a few sample passports.

The gate is the real agent (``agent.app.GateApp``) built from a real config file: a simulated
passport reader on a pseudo-terminal, the real indicator driver on a register-level PCA9685 +
PCF8574 model, a durable SQLite event log, and a small hit-list listing one stolen passport.
Each sample is swiped on the reader; the demo prints the decision and what the light, buzzer and
gate relay show, read back from the simulated chips' registers, in words an officer uses.

    python -m tools.demo [--pause SECONDS] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tools.specimens import break_check, td3

LISTED = {"kind": "document", "issuing_state": "UTO", "document_number": "L898902C3", "reason": "stolen",
          "ref": "SLTD-UTO-0001"}
SAMPLES = [
    ("Passport of ERIKSSON, ANNA MARIA (Utopia), no. L898902C3",
     td3("UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "740812", "F", "341231", optional="ZE184226B")),
    ("Passport of MUSTERMANN, ERIKA (Utopia), expired 1 Jan 2020",
     td3("UTO", "MUSTERMANN", "ERIKA", "C01X00T47", "640812", "F", "200101")),
    ("Passport of PUBLIC, JOHN Q (Utopia), misprinted check digit",
     break_check(td3("UTO", "PUBLIC", "JOHN Q", "E34567890", "710203", "M", "331231"))),
    ("Passport of NORDMANN, OLA (Utopia), valid",
     td3("UTO", "NORDMANN", "OLA", "N12345678", "820304", "M", "311130")),
    ("The same passport of NORDMANN, OLA, swiped again a second later",
     td3("UTO", "NORDMANN", "OLA", "N12345678", "820304", "M", "311130")),
]

CONFIG = """\
[gate]
id = "demo-gate-1"
site = "uto-north"
state_dir = "state"

[devices]
reader = "sim://reader?framing=lines"
indicators = "sim://pca9685"
reader_id = "desk-reader"

[screening]
duplicate_window_s = 10.0
relay_pulse_s = 3.0

[hitlist]
records = "listed.jsonl"
version = 1

[logging]
level = "INFO"
"""

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


ADVICE = {
    "CLEAR": "let the traveller pass",
    "HIT": "stop the traveller and call the supervisor",
    "REFER": "check the document by hand",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between travellers")
    ap.add_argument("--keep", metavar="DIR", help="keep the gate's config, state and log in DIR")
    args = ap.parse_args(argv)
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        return run_demo(Path(args.keep), args.pause)
    with tempfile.TemporaryDirectory(prefix="sharaka-demo-") as tmp:
        return run_demo(Path(tmp), args.pause)


def run_demo(workdir: Path, pause: float) -> int:
    from agent.app import GateApp
    from agent.commands.status import gather
    from agent.config import load_config
    from agent.logs import setup_logging

    (workdir / "listed.jsonl").write_text(json.dumps(LISTED) + "\n")
    config_path = workdir / "gate.toml"
    config_path.write_text(CONFIG)
    log = (workdir / "gate.log").open("a")
    setup_logging("INFO", stream=log)  # the gate's JSON-lines log goes to a file; the screen is the officer's

    print("Sharaka Gate demo: one gate on simulated hardware")
    print(f"  config {config_path}; log {workdir / 'gate.log'}")
    print(f"  hit-list: 1 entry (passport UTO {LISTED['document_number']}, reported {LISTED['reason']})\n")
    app = GateApp(load_config(config_path))
    screener = app.open()
    stop = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop,), name="gate")
    runner.start()
    device = app.reader.device
    print(f"  gate ready: {observe(app.indicators)} (safe state)\n")
    try:
        for n, (label, lines) in enumerate(SAMPLES, 1):
            before = (dict(screener.counts), screener.last)
            print(f"{n}. {label}")
            print(f"     MRZ  {lines[0]}\n          {lines[1]}")
            device.swipe(lines)
            deadline = time.monotonic() + 5
            while (dict(screener.counts), screener.last) == before and time.monotonic() < deadline:
                time.sleep(0.005)
            last = screener.last
            if last is None or (dict(screener.counts), last) == before:
                print("     no decision within 5 s")
                return 1
            time.sleep(0.05)  # let the board settle (the HIT pattern blinks)
            if screener.counts["duplicate"] > before[0].get("duplicate", 0):
                print(f"  -> same passage as before: no new record; still shows {observe(app.indicators)}\n")
            else:
                d = last.decision
                print(f"  -> {d.verdict}: {ADVICE[d.verdict]}")
                print(f"     shows: {observe(app.indicators)}")
                for reason in d.reasons:
                    print(f"     why:   {explain(reason)}")
                if d.hit is not None:
                    print(f"     record: {d.hit.ref}")
                print(f"     recorded as event #{last.seq} before the light changed\n")
            time.sleep(pause)
        report = gather(str(config_path), time.time())
        box = report["outbox"]
        print(f"status: {box['depth']} events waiting for the central node (oldest {box['oldest_age_s']:.1f} s), "
              f"hit-list version {report['hitlist']['version']}, faults: {report['faults'] or 'none'}")
    finally:
        stop.set()
        runner.join(timeout=15)
        log.close()
    print(f"gate stopped: {observe(app.indicators)} (safe state: relay shut)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
