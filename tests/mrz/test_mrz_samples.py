"""The shipped sample MRZs (tools/samples) parse with the outcome each is meant to show."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

from agent.mrz import MrzFormatError, parse_mrz
from tests.support.paths import REPO

SAMPLES = REPO / "tools" / "samples"
TODAY = datetime.date(2026, 11, 23)  # injected: the outcomes must not move with the real clock


def test_cli_parses_every_shipped_sample_with_its_outcome():
    """`sharaka-gate mrz parse` on the shipped samples, all in one run as a pipe of documents (one interpreter
    start, not one per sample: eight starts in a row each had to finish within its own bound on a loaded CI
    machine): valid, repaired, invalid and not-an-MRZ each reported as such, and the worst exit code (2)."""
    paths = sorted(SAMPLES.glob("*.mrz"))
    stdin = "".join(path.read_text().strip("\n") + "\n\n" for path in paths)
    out = subprocess.run([sys.executable, "-m", "agent", "mrz", "parse", "--json", "--today", TODAY.isoformat()],
                         input=stdin, capture_output=True, text=True, timeout=60)  # fmt: skip
    reports = dict(zip([path.name for path in paths], map(json.loads, out.stdout.splitlines()), strict=True))
    outcomes = {name: "not an MRZ" if "error" in r else "repaired" if r["valid"] and r["corrections"]
                else "valid" if r["valid"] else "invalid" for name, r in reports.items()}
    assert outcomes.pop("06-td3-ocr-confusions.mrz") == "repaired"
    assert outcomes.pop("07-td3-tampered-birth-date.mrz") == "invalid"
    assert outcomes.pop("08-not-an-mrz-cut-off-line.mrz") == "not an MRZ"
    assert set(outcomes.values()) == {"valid"}, outcomes
    assert out.returncode == 2 and "document 8: not an MRZ" in out.stderr, out.stderr


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
