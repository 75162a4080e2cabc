"""The README's demo runs a gate on simulated hardware and shows each decision as an officer sees it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_shows_hit_refer_refer_clear_and_one_passage_for_the_reswipe(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tools.demo", "--pause", "0", "--keep", str(tmp_path)],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    verdicts = [line.split("->")[1].split(":")[0].strip() for line in out.stdout.splitlines() if "->" in line]
    assert verdicts == ["HIT", "REFER", "REFER", "CLEAR", "same passage as before"]
    assert "RED light, buzzer sounding" in out.stdout and "GREEN light, silent, gate OPEN" in out.stdout
    assert "the document has expired" in out.stdout and "check digit is wrong" in out.stdout
    assert out.stdout.rstrip().endswith("AMBER light, silent, gate SHUT (safe state: relay shut)")
    assert "4 events waiting" in out.stdout
    log = (tmp_path / "gate.log").read_text()
    assert "ERIKSSON" not in log and "L898902C3" not in log  # no MRZ in the INFO log
