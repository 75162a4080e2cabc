"""The first-stage demo (`python -m tools.demo`) runs on the shipped samples and reaches every outcome."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent.mrz import MrzFormatError, parse_mrz

SAMPLES = Path(__file__).resolve().parents[2] / "tools" / "samples"


def test_demo_parses_every_sample_and_prints_the_summary():
    out = subprocess.run([sys.executable, "-m", "tools.demo", "--today", "2026-11-23"], capture_output=True,
                         text=True, timeout=60, cwd=SAMPLES.parents[1])  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Summary: 5 valid, 1 repaired, 1 invalid, 1 not an MRZ" in out.stdout
    assert "VALID after OCR repair" in out.stdout and "French 1995-layout identity card: VALID" in out.stdout


def test_sample_files_cover_every_layout_family():
    layouts = set()
    for path in sorted(SAMPLES.glob("*.mrz")):
        try:
            r = parse_mrz(path.read_text())
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
