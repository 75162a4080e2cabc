"""`sharaka-gate reader decode` on a capture of each reader family prints exactly what was sent."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.wait import wait_until

CAPTURES = Path(__file__).parents[2] / "data" / "captures"
FAMILIES = sorted(p.name.removesuffix(".hex") for p in CAPTURES.glob("*.hex"))


def decode(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "reader", "decode", url, *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_reader_family_has_a_capture():
    assert set(FAMILIES) >= {
        "access-is",
        "desko-cute",
        "rte-3m",
        "code-corp-prefixed",
        "elyctis",
        "plain-com-crlf",
        "cooked-tty-lf",
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_decode_capture_prints_exactly_the_expected_documents(family):
    capture = CAPTURES / f"{family}.hex"
    query = capture.read_text().splitlines()[0].removeprefix("# decode: ")
    expected = [json.loads(line) for line in (CAPTURES / f"{family}.expected.jsonl").read_text().splitlines()]
    result = decode(f"replay://{capture}?{query}", "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == expected
    assert any("lines" in e for e in expected)


def test_decode_without_json_prints_rows_and_misreads(tmp_path):
    capture = CAPTURES / "code-corp-prefixed.hex"
    result = decode(f"replay://{capture}?framing=lines&prefix=]o1")
    assert result.returncode == 0
    assert "misread: unpaired row dropped" in result.stdout
    assert (
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\n"
        in result.stdout
    )


def test_decode_capture_of_a_7e1_access_is_reader_read_as_8n1_reports_the_misread(tmp_path):
    # hand-written: FS STX rows ETX GS with bit 7 set on every byte of odd weight (STX 0x82, CR 0x8d, 'T' 0xd4)
    rows = b"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\rL898902C36UTO7408122F1204159ZE184226B<<<<<10\r"
    frame = bytes(b | 0x80 if bin(b).count("1") % 2 else b for b in b"\x1c\x02" + rows + b"\x03\x1d")
    capture = tmp_path / "access-is-7e1.hex"
    capture.write_text(f"# an Access-IS unit at 9600 7E1, port opened 8N1\n0.000000 {frame[:40].hex(' ')}\n"
                       f"0.010000 {frame[40:].hex(' ')}\n")
    result = decode(f"replay://{capture}?framing=stx-etx", "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"misread": "byte 0xd4 >= 0x80 in a row (a 7E1 line read as 8N1?)"}
    ]


BAD_CAPTURES = {
    "odd-hex": ("0.5 02 5", "not hex bytes"),
    "bad-timestamp": ("1.2.3 02 50", "timestamp '1.2.3'"),
    "letters": ("hello", "not hex bytes"),
}


@pytest.mark.parametrize("line,message", BAD_CAPTURES.values(), ids=BAD_CAPTURES.keys())
def test_decode_bad_capture_names_line_and_value(tmp_path, line, message):
    capture = tmp_path / "bad.hex"
    capture.write_text(f"# a capture\n02 03\n{line}\n")
    result = decode(f"replay://{capture}")
    assert result.returncode == 2
    assert f"{capture}:3" in result.stderr and message in result.stderr


def test_decode_missing_capture_is_a_clear_error(tmp_path):
    result = decode(f"replay://{tmp_path}/none.hex")
    assert result.returncode == 2 and "cannot read capture" in result.stderr


def _terminal_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_capture_then_decode_round_trip_from_a_live_reader(tmp_path):
    """Record a simulated reader over a real pty with `reader capture`, then decode the capture."""
    from hal.reader.sim import SimReaderDevice
    from tests.support.reader_specimens import TD1, TD3

    link, out = tmp_path / "reader", tmp_path / "live.hex"
    device = SimReaderDevice("stx-etx", link, bcc="xor")
    recorded = lambda: [line for line in out.read_text().splitlines() if not line.startswith("#")]  # noqa: E731
    # Generous bounds (a loaded machine starts Python slowly); Ctrl-C ends the capture, not --duration.
    # -X faulthandler: a capture that does not end is sent SIGABRT below and prints every thread's stack.
    # Ctrl-C as a terminal delivers it: SIGINT at its default and unblocked in the capture, whatever this test
    # process has. The CI that twice saw the capture sit in its read loop past the SIGINT (2026-12-07) started
    # pytest with SIGINT ignored: a shell without job control starts a background job (`cmd &`) so, every worker and
    # child inherits SIG_IGN across exec and Python leaves it. No test leaves it ignored (tests/conftest.py's guard);
    # `bash -c 'python -m pytest -k round_trip ... & wait'` without preexec_fn below reproduces the hang.
    inherited = (signal.getsignal(signal.SIGINT), signal.pthread_sigmask(signal.SIG_BLOCK, []))
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "agent", "reader", "capture",
                             f"serial://{link}?framing=stx-etx&bcc=xor", "--out", str(out), "--duration", "600"],
                            stderr=subprocess.PIPE, text=True, preexec_fn=_terminal_sigint)  # fmt: skip
    try:
        # "started" is written once the port is open (agent/commands/reader.py): nothing sent after it is lost
        assert wait_until(lambda: "started" in (out.read_text() if out.exists() else ""), 60), "capture did not start"
        frame = device.spec.encode(TD3)
        device.write(frame[:30])
        time.sleep(0.05)
        device.write(frame[30:] + device.spec.encode(TD1))
        assert wait_until(lambda: len(recorded()) >= 2, 60), "capture did not record the reads"
        proc.send_signal(signal.SIGINT)  # how a technician stops it: Ctrl-C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # seen once in a clean-clone CI (2026-12-07), not reproduced: where it hung
            proc.send_signal(signal.SIGABRT)
            proc.wait(timeout=30)
            pytest.fail(f"capture did not end on Ctrl-C (this process's SIGINT handler and blocked signals: "
                        f"{inherited}); its threads:\n{proc.stderr.read()}")
        err = proc.stderr.read()
    finally:
        proc.kill()  # a no-op once it exited
        device.close()
    assert proc.returncode == 0, err
    result = decode(f"replay://{out}?framing=stx-etx&bcc=xor", "--json")
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"lines": list(TD3)},
        {"lines": list(TD1)},
    ]


@pytest.mark.parametrize("duration", ["nan", "-1", "inf"])
@pytest.mark.parametrize("command", ["decode", "capture"])
def test_a_duration_that_is_not_seconds_is_refused_and_the_capture_file_kept(tmp_path, capsys, command, duration):
    """--duration nan (or -1) stopped at once and exited 0: "captured 0 reads", the --out file emptied."""
    from agent.cli import main

    out = tmp_path / "live.hex"
    out.write_text("# an earlier capture\n")
    extra = ["--out", str(out)] if command == "capture" else []
    code = main(["reader", command, f"replay://{CAPTURES / FAMILIES[0]}.hex", *extra, "--duration", duration])
    assert (code, capsys.readouterr().err) == (
        2, f"sharaka-gate reader {command}: --duration {float(duration):g}: expected a finite number of seconds, "
           "0 or more (none: until Ctrl-C); see --help\n")
    assert out.read_text() == "# an earlier capture\n"


@pytest.mark.parametrize(("gap", "documents"), [(0.1, 1), (1.0, 0)], ids=["within-idle", "longer-than-idle"])
def test_a_gap_in_a_captures_timestamps_longer_than_idle_is_the_line_going_idle(tmp_path, gap, documents):
    """A passport whose row 2 arrives in two reads: one document when they are closer than ``idle`` (0.5 s), the
    partial block given up (misreads, no document) when the capture's clock shows a longer gap between them."""
    from hal import open_reader
    from hal.reader import ReaderDocument
    from tests.support.reader_specimens import TD3

    def hex_bytes(text: str) -> str:
        return " ".join(f"{c:02x}" for c in text.encode())

    capture = tmp_path / "gap.hex"
    capture.write_text(f"0.000 {hex_bytes(TD3[0])} 0d\n0.010 {hex_bytes(TD3[1][:30])}\n"
                       f"{0.010 + gap:.3f} {hex_bytes(TD3[1][30:])} 0d\n")  # fmt: skip
    with open_reader(f"replay://{capture}?framing=lines&idle=0.5") as reader:
        seen = list(iter(reader.read, None))
    assert sum(isinstance(item, ReaderDocument) for item in seen) == documents and seen
