"""The README's main command: `python -m tools.demo --quick` end to end (real Mosquitto, central node, three
gates on simulated hardware), judged by its CHECK lines and by the central node's database it leaves behind."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from tests.support.paths import REPO


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    keep = tmp_path_factory.mktemp("demo")
    proc = subprocess.run([sys.executable, "-m", "tools.demo", "--quick", "--keep", str(keep)], cwd=REPO,
                          capture_output=True, text=True, timeout=150)
    return proc, keep


def check_line(out: str, name: str) -> str:
    found = re.findall(rf"^  CHECK {re.escape(name)}: (.*) \.\.\. (ok|FAILED)$", out, re.M)
    assert len(found) == 1, f"no single CHECK {name!r} line in:\n{out}"
    detail, verdict = found[0]
    assert verdict == "ok", f"CHECK {name}: {detail}"
    return str(detail)


def test_demo_passes_every_check_and_exits_zero(demo):
    proc, _ = demo
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert re.search(r"^(\d+)/\1 checks passed", proc.stdout, re.M), proc.stdout[-2000:]


def test_demo_samples_at_gate_1_show_each_decision_as_an_officer_sees_it(demo):
    proc, keep = demo
    sample_part = proc.stdout.split("=== 3a.")[1].split("=== 3b.")[0]
    verdicts = [line.split("->")[1].split(":")[0].strip() for line in sample_part.splitlines() if "  -> " in line]
    assert verdicts == ["HIT", "REFER", "REFER", "HIT", "CLEAR", "same passage as before"]
    assert "RED light, buzzer sounding" in sample_part and "GREEN light, silent, gate OPEN" in sample_part
    assert "the document has expired" in sample_part and "check digit is wrong" in sample_part
    assert "person is on the hit-list as WANTED" in sample_part
    log = (keep / "gates.log").read_text()
    assert '"gate ready"' in log, "the gates' JSON log is missing"
    for secret in ("ERIKSSON", "L898902C3", "MUHAMMAD", "NORDMANN"):
        assert secret not in log, f"{secret} in the INFO log"


def test_demo_hits_arrive_at_the_centre(demo):
    proc, _ = demo
    detail = check_line(proc.stdout, "hits at the centre")
    decided, received = map(int, re.match(r"(\d+) hits decided at the gates, (\d+) received", detail).groups())
    assert decided > 0 and received == decided
    assert proc.stdout.count("centre <- HIT from gate-") >= decided
    assert re.search(r"centre <- HIT from gate-1, .*listed_person:wanted, record NOTICE-UTO-0007", proc.stdout), \
        "the transliterated name (MUHAMMAD for listed MOHAMED) was not a person hit at the centre"


def test_demo_delta_pushed_centrally_is_a_hit_at_all_three_gates(demo):
    proc, _ = demo
    assert check_line(proc.stdout, "delta v2").startswith("installed at 3/3 gates")
    assert check_line(proc.stdout, "delta hit").startswith("HIT at 3/3 gates: gate-1, gate-2, gate-3")
    for gate in ("gate-1", "gate-2", "gate-3"):
        assert re.search(rf"^  {gate}: NORDMANN, OLA swiped -> HIT listed_document:stolen record SLTD-UTO-0042",
                         proc.stdout, re.M)


def test_demo_backlog_after_broker_outage_delivered_exactly_once(demo):
    proc, keep = demo
    detail = check_line(proc.stdout, "exactly once")
    backlog = int(re.search(r"backlog (\d+)\)", detail).group(1))
    assert backlog > 0, "nothing was queued while the broker was down"
    check_line(proc.stdout, "outbox grows")
    check_line(proc.stdout, "decisions while offline")
    for line in re.findall(r"^    gate-\d: .*backlog.*$", proc.stdout, re.M):
        assert line.endswith("missing 0, extra 0, twice 0"), line
    # Independently of the demo's own bookkeeping: each gate's event sequence is complete and unique centrally.
    db = sqlite3.connect(f"file:{keep / 'central.db'}?mode=ro", uri=True)
    try:
        for gate in ("gate-1", "gate-2", "gate-3"):
            seqs = [s for (s,) in db.execute("SELECT seq FROM events WHERE gate_id=? ORDER BY seq", (gate,))]
            assert seqs == list(range(1, len(seqs) + 1)), f"{gate}: gaps or repeats in {seqs}"
            assert len(seqs) > backlog // 3
    finally:
        db.close()


def test_demo_leaves_every_gate_in_the_safe_state(demo):
    proc, _ = demo
    assert check_line(proc.stdout, "safe state") == "3/3 gates amber, relay shut"
    assert "central node and broker stopped" in proc.stdout


def test_demo_refuses_a_keep_directory_that_is_not_empty(tmp_path):
    (tmp_path / "precious.txt").write_text("do not mix demo files with this")
    proc = subprocess.run([sys.executable, "-m", "tools.demo", "--quick", "--keep", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


def test_demo_online_query_finds_an_entry_in_no_delta(demo):
    proc, keep = demo
    assert check_line(proc.stdout, "online hit").startswith("HIT at gate-3 on an entry in no delta (its list still v2)")
    assert re.search(r"^  gate-3: VIRTANEN, AINO swiped -> HIT listed_document:stolen, online_hit record SLTD-UTO-0099",
                     proc.stdout, re.M)
    assert re.search(r"sources: local answered \(sltd v2\) no hit, centre answered \(sltd v2\) HIT SLTD-UTO-0099",
                     proc.stdout)
    db = sqlite3.connect(f"file:{keep / 'central.db'}?mode=ro", uri=True)
    try:  # the centre stored the gate's event with both sources (opened: sealed fields in clear at the centre)
        bodies = [msgpack.unpackb(b, raw=False) for (b,) in db.execute("SELECT body FROM events WHERE gate_id='gate-3'")]
    finally:
        db.close()
    online = [e for e in bodies if "online_hit" in e.get("reasons", ())]
    assert len(online) == 1 and online[0]["centre"] == "answered"
    assert [s["source"] for s in online[0]["sources"]] == ["local", "centre"]


def test_demo_officer_screen_shows_the_hit_and_the_acknowledgement_reaches_the_centre(demo):
    proc, keep = demo
    detail = check_line(proc.stdout, "officer's screen")
    assert "RELOADED" not in detail and "acknowledgement stored at the centre" in detail
    shot = keep / "officer-screen.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(shot) in detail


def test_demo_second_list_vehicle_and_early_warning(demo):
    proc, _ = demo
    assert "decided by nominal" in check_line(proc.stdout, "second list")
    assert "['HIT', 'HIT', 'CLEAR']" in check_line(proc.stdout, "vehicle check")
    detail = check_line(proc.stdout, "early warning")
    assert "HIT at 3/3" in detail and "receipts at the centre 3/3" in detail


def test_demo_camera_gate_reads_the_page_and_the_face_crop_comes_out(demo):
    proc, keep = demo
    detail = check_line(proc.stdout, "camera gate")
    assert detail.startswith("HIT for the listed passport read from the page") and "one passage" in detail
    assert "face crop stored at the centre" in detail
    crop = (keep / "face-crop.jpg").read_bytes()
    assert crop[:2] == b"\xff\xd8" and 1_000 < len(crop) < 40_000
    assert re.search(r"centre <- HIT from gate-4, .*listed_document:stolen.*record SLTD-UTO-0001", proc.stdout)
