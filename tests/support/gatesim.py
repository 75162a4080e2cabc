"""A gate on simulated hardware for the agent tests: a real pty reader, the register-level
PCA9685 + PCF8574 models behind the real indicator driver, a real SQLite outbox. Time is injected."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from agent.gate_toml import write_gate_config
from agent.outbox import Outbox
from agent.screening import Screener
from agent.screening.events import EventOpener, EventSealer
from tools.specimens import break_check, td3, years_from_now

CENTRE_KEY = SigningKey(bytes(range(32)))
"""The central node's key the simulated gates seal the personal part of their events to."""
SEALER = EventSealer(CENTRE_KEY.verify_key)
CENTRE = EventOpener(CENTRE_KEY)

PCA = 0x40
RELAY_EXPANDER = 0x20  # PCF8574, relay on P0, active low (the board's default wiring)

# Specimens (made-up people; issuing state UTO is the ICAO specimen state). The valid ones expire years
# after the real date: the gate app tests screen them with the real clock.
VALID_UNTIL = years_from_now(5)
LISTED_DOC = td3("UTO", "ERIKSSON", "ANNA MARIA", "L898902C3", "740812", "F", VALID_UNTIL, optional="ZE184226B")
LISTED_PERSON = td3("UTO", "NORDMANN", "OLA", "N12345678", "820304", "M", VALID_UNTIL)
CLEAR_DOC = td3("UTO", "MUSTERMANN", "ERIKA", "C01X00T47", "640812", "F", VALID_UNTIL)
EXPIRED_DOC = td3("UTO", "DOE", "JOHN", "D23456789", "700101", "M", "250101")
BAD_CHECK_DOC = break_check(td3("UTO", "PUBLIC", "JOHN Q", "E34567890", "710203", "M", VALID_UNTIL))
# The name field is full (26 letters of given names fit): the MRZ name may be truncated.
TRUNCATED_NAME_DOC = td3("UTO", "MEIKALAINEN", "MATTI JUHANI KALERVO SAKAR", "F45678901", "690505", "M", VALID_UNTIL)
RECORDS = [
    {"kind": "document", "issuing_state": "UTO", "document_number": "L898902C3", "reason": "stolen",
     "ref": "SLTD-0001"},
    {"kind": "person", "surname": "NORDMANN", "given_names": "OLA", "birth_date": "820304", "reason": "wanted",
     "ref": "NOTICE-7"},
    # Shares the truncated document's complete given names, not its cut last one: a possible match only.
    {"kind": "person", "surname": "MEIKALAINEN", "given_names": "MATTI JUHANI KALERVO XAVIER",
     "birth_date": "690505", "reason": "wanted", "ref": "NOTICE-9"},
]


def write_app_config(directory: Path, reader: str = "sim://reader?framing=lines", **sections: Any) -> Path:
    """``directory/gate.toml`` of lab gate ``gate-a`` screening against ``RECORDS`` (list version 12) written
    beside it; ``sections`` add to or override the tables (see `agent.gate_toml.gate_toml`)."""
    (directory / "listed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    sections.setdefault("screening", {"duplicate_window_s": 2.0, "lab_gate": True})  # records stand in for a list
    sections.setdefault("hitlist", {"records": "listed.jsonl", "version": 12})
    if "link" not in sections:  # events' personal fields are sealed to CENTRE_KEY
        (directory / "centre.pub").write_bytes(bytes(CENTRE_KEY.verify_key))
        sections["link"] = {"node_pub": "centre.pub"}
    return write_gate_config(directory, gate_id="gate-a", site="site-a", reader=reader, **sections)


TODAY_WALL = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC).timestamp()


class Clock:
    """Injected time: ``wall`` for the calendar, ``mono`` for windows."""

    def __init__(self) -> None:
        self.wall_t = TODAY_WALL
        self.mono_t = 5000.0

    def wall(self) -> float:
        return self.wall_t

    def mono(self) -> float:
        return self.mono_t

    def advance(self, seconds: float) -> None:
        self.wall_t += seconds
        self.mono_t += seconds


@dataclass
class SimGate:
    reader: Any
    indicators: Any
    outbox: Outbox
    screener: Screener
    clock: Clock
    path: Path
    writes: list[tuple[int, int | None, int]] = field(default_factory=list)

    @property
    def device(self) -> Any:
        return self.reader.device

    def swipe(self, lines, timeout: float = 5.0):
        """Swipe on the simulated reader, read through the real framer, screen it."""
        self.device.swipe(lines)
        return self.screen_next(timeout)

    def screen_next(self, timeout: float = 5.0):
        item = self.reader.read(timeout=timeout)
        assert item is not None, "the reader produced nothing"
        return self.screener.handle(item)

    def board(self) -> dict[str, Any]:
        """What the chips drive, computed from their registers."""
        pca = self.indicators.bus.device(PCA)
        relay_pin_high = self.indicators.bus.device(RELAY_EXPANDER).pin(0)
        return {
            "colour": tuple(round(pca.channel_duty(ch) * 255) for ch in (0, 1, 2)),
            "buzzer_duty": pca.channel_duty(3),
            "pwm_hz": round(pca.frequency_hz),
            "relay_energised": not relay_pin_high,
        }

    def events(self) -> list[dict[str, Any]]:
        """Every event committed, read from the file by a second connection, in seq order, opened as the
        centre would open them."""
        return [CENTRE.open(b) for b in outbox_bodies(self.path)]


def outbox_bodies(path: Path) -> list[bytes]:
    """The body of every row of the outbox at ``path``, in seq order ([] when unreadable), read-only."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return [b for (b,) in db.execute("SELECT body FROM outbox ORDER BY seq")]
        finally:
            db.close()
    except sqlite3.Error:
        return []
