"""`sharaka-gate mrz parse` as a user runs it: real subprocess, stdin, exit codes, JSON keys."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from agent.mrz.result import JSON_KEYS

TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
TD3_BAD = TD3[:-1] + "9"
TD3_OCR = TD3.replace("7408122", "74O8122")
TD1 = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "agent", "mrz", "parse", "--today", "2026-11-23", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)


def test_acceptance_icao_specimen_from_stdin_prints_fields_valid_true():
    out = run("--json", stdin=TD3 + "\n")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert list(doc) == list(JSON_KEYS)
    assert doc["valid"] is True and doc["surname"] == "ERIKSSON" and doc["given_names"] == "ANNA MARIA"
    assert doc["document_number"] == "L898902C3" and doc["optional_data_2"] == "" and doc["corrections"] == []


def test_lines_as_arguments_are_one_document():
    out = run("--json", *TD1.split("\n"))
    assert out.returncode == 0 and json.loads(out.stdout)["format"] == "TD1"


def test_several_documents_on_stdin_one_object_each_and_worst_exit_code():
    stdin = TD3 + "\n\n\n" + TD3_BAD + "\n\n" + TD1  # no newline at EOF: EOF ends the last document
    out = run("--json", stdin=stdin)
    docs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [d["format"] for d in docs] == ["TD3", "TD3", "TD1"]
    assert [d["valid"] for d in docs] == [True, False, True]
    assert docs[1]["failed_checks"] == ["composite"]
    assert out.returncode == 1


def test_repaired_ocr_confusion_is_valid_and_listed():
    out = run("--json", stdin=TD3_OCR)
    doc = json.loads(out.stdout)
    assert out.returncode == 0 and doc["birth_date"] == "740812"
    assert doc["failed_checks"] == ["birth_date", "composite"] and len(doc["corrections"]) == 1


def test_not_an_mrz_exits_2_with_the_reason_on_stderr():
    out = run("--json", stdin="hello world\n")
    assert out.returncode == 2
    assert "got 1 line" in out.stderr and "error" in json.loads(out.stdout)


def test_not_an_mrz_among_valid_documents_still_exits_2():
    out = run(stdin=TD3 + "\n\nP<UTO\n\n" + TD1)
    assert out.returncode == 2 and "document 2: not an MRZ" in out.stderr
    assert out.stdout.count("VALID") == 2


def test_empty_stdin_exits_2():
    out = run(stdin="")
    assert out.returncode == 2 and "no MRZ lines" in out.stderr


def test_human_output_names_fields_checks_and_repairs():
    out = run(stdin=TD3_OCR)
    assert out.returncode == 0
    assert "TD3 passport: VALID after OCR repair" in out.stdout
    assert "ERIKSSON" in out.stdout and "1974-08-12" in out.stdout and "EXPIRED" in out.stdout
    assert "corrected      birth_date: 'O' -> '0' (line 2, position 16)" in out.stdout


def _line_within(stream, seconds: float) -> bytes:
    """One line of ``stream`` if it arrives within ``seconds``, else b""."""
    import select

    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline() if ready else b""


def test_stdin_stream_answers_each_document_before_the_input_ends():
    cmd = [sys.executable, "-m", "agent", "mrz", "parse", "--json", "--today", "2026-11-23"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(TD3.encode() + b"\n\n")
        proc.stdin.flush()  # stdin stays open, like a user at a terminal or a slow producer
        first = _line_within(proc.stdout, 20)
        assert json.loads(first)["document_number"] == "L898902C3", "no answer before the input ended"
        proc.stdin.write(TD1.encode() + b"\n")
        proc.stdin.close()
        assert json.loads(proc.stdout.readline())["format"] == "TD1"
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_input_that_is_not_utf8_is_not_an_mrz_without_a_traceback():
    cmd = [sys.executable, "-m", "agent", "mrz", "parse", "--today", "2026-11-23"]
    out = subprocess.run(cmd, input=TD3.encode("latin-1").replace(b"ERIKSSON", b"ERIKS\xd6ON"),
                         capture_output=True, timeout=60)  # fmt: skip
    assert out.returncode == 2 and b"illegal character" in out.stderr and b"Traceback" not in out.stderr


def test_file_saved_with_a_utf8_byte_order_mark_and_crlf_parses_like_plain_text():
    # Windows Notepad saves "UTF-8" with a BOM and CR LF: the invisible mark made line 1 "45 characters"
    cmd = [sys.executable, "-m", "agent", "mrz", "parse", "--json", "--today", "2026-11-23"]
    text = "\ufeff" + TD3.replace("\n", "\r\n") + "\r\n\r\n" + TD1.replace("\n", "\r\n") + "\r\n"
    out = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["format"] for line in out.stdout.splitlines()] == ["TD3", "TD1"]


def test_byte_order_mark_split_across_reads_still_goes():
    proc = subprocess.Popen([sys.executable, "-m", "agent", "mrz", "parse", "--json", "--today", "2026-11-23"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    proc.stdin.write(b"\xef")
    proc.stdin.flush()
    time.sleep(0.2)  # the first read holds one byte of the mark
    out, err = proc.communicate(b"\xbb\xbf" + TD3.encode() + b"\n", timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out)["valid"] is True


def test_many_documents_from_a_pipe_each_get_one_answer_in_order():
    stdin = "".join(f"{TD3 if i % 2 else TD1}\n\n" for i in range(3000))
    out = run("--json", stdin=stdin)
    formats = [json.loads(line)["format"] for line in out.stdout.splitlines()]
    assert out.returncode == 0 and formats == ["TD1", "TD3"] * 1500
