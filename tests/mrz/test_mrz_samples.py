"""The shipped sample MRZs (tools/samples) parse with the outcome each is meant to show."""

from __future__ import annotations

import datetime
import subprocess
import sys

from agent.mrz import MrzFormatError, parse_mrz
from tests.support.paths import REPO

SAMPLES = REPO / "tools" / "samples"
TODAY = datetime.date(2026, 11, 23)  # injected: the outcomes must not move with the real clock


def test_cli_parses_every_shipped_sample_with_its_outcome():
    """`sharaka-gate mrz parse` on the shipped samples: valid, repaired, invalid and not-an-MRZ exit codes."""
    outcomes = {}
    for path in sorted(SAMPLES.glob("*.mrz")):
        out = subprocess.run([sys.executable, "-m", "agent", "mrz", "parse", "--json", "--today", TODAY.isoformat()],
                             input=path.read_text(),
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        outcomes[path.name] = out.returncode
    assert outcomes.pop("06-td3-ocr-confusions.mrz") == 0
    assert outcomes.pop("07-td3-tampered-birth-date.mrz") == 1
    assert outcomes.pop("08-not-an-mrz-cut-off-line.mrz") == 2
    assert set(outcomes.values()) == {0}


def test_sample_files_cover_every_layout_family():
    layouts = set()
    for path in sorted(SAMPLES.glob("*.mrz")):
        try:
            r = parse_mrz(path.read_text(), today=TODAY)
        except MrzFormatError:
            continue
        layouts.add((r.format, r.layout))
    assert {
        ("TD1", "ICAO"),
        ("TD2", "ICAO"),
        ("TD3", "ICAO"),
        ("MRVA", "ICAO"),
        ("TD2", "FRA_1995"),
    } <= layouts
