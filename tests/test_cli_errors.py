"""No user mistake ends in a traceback: every subcommand of the four command-line tools, given a
missing, an unreadable and a malformed file, says what is wrong in one line
(``<prog> <command>: <what>; <remedy>``) and exits with its family's code (docs/adr/0001-errors.md).

Subcommands and their file arguments are enumerated from the argparse parsers, so a new command is
covered the day it is added. A file argument is one whose metavar says so (``FILE``, ``DIR``,
``URL``, ``RECORDS``, ``OLD``, ``NEW``, ``IMAGE``); ``--out`` is an output. Tests run as root, so "unreadable"
is a directory where a file is expected (and a file where a directory is): that fails for root too.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.cli import build_parser as gate_parser
from agent.cli import main as gate_main
from agent.errors import EXIT_REFUSED, EXIT_USAGE
from tools.central.cli import build_parser as central_parser
from tools.central.cli import main as central_main
from tools.hitlist_cli import build_parser as hitlist_parser
from tools.hitlist_cli import main as hitlist_main
from tools.update_bundle import build_parser as update_parser
from tools.update_bundle import main as update_main

CLIS: dict[str, tuple[Callable[[], argparse.ArgumentParser], Callable[[list[str]], int]]] = {
    "sharaka-gate": (gate_parser, gate_main),
    "sharaka-hitlist": (hitlist_parser, hitlist_main),
    "sharaka-central": (central_parser, central_main),
    "sharaka-update": (update_parser, update_main),
}
INPUT_FILES = {"FILE", "RECORDS", "OLD", "NEW", "IMAGE"}
FILE_METAVARS = INPUT_FILES | {"DIR", "URL"}
# Commands that take no file at all (checked, so that a new one is a decision, not an accident).
WITHOUT_FILES = {("sharaka-gate", "mrz parse"), ("sharaka-gate", "update status"),
                 # called by RAUC with slot names / its environment, not by people
                 ("sharaka-gate", "update bootloader"), ("sharaka-gate", "update check-bundle")}
# Names a tool looks for inside a directory it is given; in a "malformed" directory each holds garbage.
DIR_ENTRIES = ("root.pub", "root.key", "list-1.key", "list-1.pub", "keyring.bin", "CURRENT", "node.key",
               "node.key.pub", "command-1.key", "command-1.key.pub", "device.key", "records.jsonl")
GARBAGE = b"\x00\xff\xfe not what it claims {[\n\x80"
ONE_LINE = re.compile(r"^(sharaka-gate|sharaka-hitlist|sharaka-central|sharaka-update) [a-z -]+: \S.*; \S.*$")


@dataclass(frozen=True)
class Command:
    prog: str
    path: tuple[str, ...]
    parser: argparse.ArgumentParser

    @property
    def name(self) -> str:
        return " ".join(self.path)

    def file_args(self) -> list[argparse.Action]:
        return [a for a in self.parser._actions if a.metavar in FILE_METAVARS]

    def only_outputs(self) -> bool:
        return all(a.dest == "out" for a in self.file_args())


def commands() -> Iterator[Command]:
    """Every leaf subcommand of every CLI, from the parsers themselves."""

    def leaves(prog: str, parser: argparse.ArgumentParser, path: tuple[str, ...]) -> Iterator[Command]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield Command(prog, path, parser)
            return
        for name, sub in subs[0].choices.items():
            yield from leaves(prog, sub, (*path, name))

    for prog, (build, _main) in CLIS.items():
        yield from leaves(prog, build(), ())


def bad_path(tmp: Path, kind: str, metavar: str, dest: str) -> Path:
    """A path of ``kind`` for an argument that expects a file (or, for ``DIR``, a directory)."""
    path = tmp / f"{kind}-{dest}"
    wants_dir = metavar == "DIR"
    if kind == "missing":
        return tmp / "no-such-dir" / dest if dest == "out" else path
    if kind == "unreadable":  # the other kind of file system object: fails for root as well
        if wants_dir:
            path.write_bytes(GARBAGE)
        else:
            path.mkdir()
        return path
    if wants_dir:  # malformed: a directory whose every expected entry is garbage
        path.mkdir()
        for name in DIR_ENTRIES:
            (path / name).write_bytes(GARBAGE)
        return path
    path.write_bytes(GARBAGE)
    return path


def placeholder(action: argparse.Action) -> list[str]:
    """Plausible values for a required argument that is not a file."""
    if action.choices:
        value = str(next(iter(action.choices)))
    elif action.type in (int, float):
        value = "1"
    else:
        value = "x"
    if isinstance(action.nargs, int):
        return [value] * action.nargs
    return [] if action.nargs == "*" else [value]


def argv_for(command: Command, tmp: Path, kind: str) -> list[str]:
    argv = list(command.path)
    chosen = {id(a) for a in command.file_args()}
    for group in command.parser._mutually_exclusive_groups:
        if group.required:
            chosen.add(id(group._group_actions[0]))
    for action in command.parser._actions:
        if isinstance(action, argparse._HelpAction) or (id(action) not in chosen and not action.required):
            continue
        if action.metavar in FILE_METAVARS:
            path = bad_path(tmp, kind, str(action.metavar), action.dest)
            values = [f"replay://{path}" if action.metavar == "URL" else str(path)]
        else:
            values = placeholder(action)
        argv += values if not action.option_strings else [action.option_strings[-1], *values]
    return argv


ALL = list(commands())


def test_every_command_is_enumerated():
    names = {(c.prog, c.name) for c in ALL}
    assert {("sharaka-gate", "hitlist install"), ("sharaka-hitlist", "build"), ("sharaka-central", "run")} <= names
    assert {(c.prog, c.name) for c in ALL if not c.file_args()} == WITHOUT_FILES


@pytest.mark.parametrize("kind", ["missing", "unreadable", "malformed"])
@pytest.mark.parametrize("command", [c for c in ALL if c.file_args()], ids=lambda c: f"{c.prog} {c.name}")
def test_every_subcommand_reports_user_mistakes_without_traceback(command, kind, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = argv_for(command, tmp_path, kind)
    code = CLIS[command.prog][1](argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    if code == 0 and command.only_outputs() and kind != "unreadable":
        return  # a command that only writes may create what is missing, or write beside what is there
    allowed = {EXIT_USAGE, EXIT_REFUSED} if kind == "malformed" else {EXIT_USAGE}
    assert code in allowed, f"{argv}: exit {code}\n{out.err}"
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and ONE_LINE.match(lines[0]), f"{argv}:\n{out.err}"
    assert lines[0].startswith(f"{command.prog} {command.name}: ")


def test_missing_optional_package_is_one_line_not_a_traceback(capsys):
    """A gate installed without the vision extras asked to read an image: say what to install (exit 1)."""
    import importlib

    from agent.errors import EXIT_FAILED, run_command

    assert run_command("sharaka-gate", "face detect", lambda: importlib.import_module("no_such_vision_runtime")) \
        == EXIT_FAILED
    (line,) = capsys.readouterr().err.splitlines()
    assert ONE_LINE.match(line) and "pip install" in line


# --- the mistakes of people at work: a key file of the wrong kind, a spreadsheet's CSV, an empty value ---------

CSV_HEADER = "kind,issuing_state,document_number,reason,ref"


@pytest.fixture
def signed(tmp_path, capsys) -> tuple[Path, Path]:
    """A centre's keys directory and a snapshot signed with it (one listed document)."""
    keys, records, snapshot = tmp_path / "keys", tmp_path / "listed.csv", tmp_path / "v1.shl"
    records.write_text(f"{CSV_HEADER}\ndocument,UTO,L898902C3,wanted,R-1\n")
    assert hitlist_main(["keygen", "--out", str(keys)]) == 0
    assert hitlist_main(["build", "--keys", str(keys), "--from", str(records), "--list-id", "main", "--version", "1",
                         "--out", str(snapshot)]) == 0
    capsys.readouterr()
    return keys, snapshot


def one_line(capsys) -> str:
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert "Traceback" not in out.err and len(lines) == 1 and ONE_LINE.match(lines[0]), out.err
    return lines[0]


def test_an_empty_vin_is_a_bad_vin_not_a_traceback(signed, tmp_path, capsys):
    """`lookup --vin ''` fell through to the MRZ (or person) branch and ended in a TypeError traceback."""
    keys, snapshot = signed
    state = str(tmp_path / "gate")
    assert gate_main(["hitlist", "install", str(snapshot), "--state", state, "--root-pub", str(keys / "root.pub")]) == 0
    capsys.readouterr()
    assert gate_main(["hitlist", "lookup", "--state", state, "--vin", ""]) == EXIT_USAGE
    assert "VIN '': expected" in one_line(capsys)
    assert hitlist_main(["lookup", str(snapshot), "--vin", ""]) == EXIT_USAGE
    assert "VIN '': expected" in one_line(capsys)


def test_a_first_install_refused_by_a_wrong_root_key_pins_nothing(signed, tmp_path, capsys):
    """The root key given with a refused first install was pinned all the same: "nothing was changed", yet the right
    key was then refused as "pinned to another root key" until someone deleted root.pub by hand."""
    keys, snapshot = signed
    assert hitlist_main(["keygen", "--out", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    state = tmp_path / "gate"
    install = ["hitlist", "install", str(snapshot), "--state", str(state), "--root-pub"]
    assert gate_main([*install, str(tmp_path / "other" / "root.pub")]) == EXIT_REFUSED
    assert "nothing was changed" in one_line(capsys)
    assert not (state / "root.pub").exists()
    assert gate_main([*install, str(keys / "root.pub")]) == 0
    assert (state / "root.pub").read_text() == (keys / "root.pub").read_text()


@pytest.mark.parametrize("cli", ["gate install", "hitlist verify", "central enrol"])
def test_a_private_key_where_a_public_one_is_expected_is_named(signed, tmp_path, capsys, cli):
    """Both halves of a key pair are 32 bytes: `--root-pub root.key` was refused as a bad signature (and pinned),
    `sharaka-central enrol --pub node.key` enrolled the private key as the gate's public key."""
    keys, snapshot = signed
    root_key = str(keys / "root.key")
    if cli == "gate install":
        code = gate_main(["hitlist", "install", str(snapshot), "--state", str(tmp_path / "gate"), "--root-pub", root_key])
    elif cli == "hitlist verify":
        code = hitlist_main(["verify", str(snapshot), "--root-pub", root_key])
    else:
        code = central_main(["enrol", "--db", str(tmp_path / "central.db"), "--gate", "gate-1", "--pub", root_key])
    assert code == EXIT_USAGE
    assert f"{root_key!r} is a private key: give its public key file {str(keys / 'root.pub')!r}" in one_line(capsys)
    assert not (tmp_path / "gate").exists()


BAD_CSV = {  # what a spreadsheet or a hand edit makes of the records, and what the builder must say
    "semicolons": (CSV_HEADER.replace(",", ";") + "\ndocument;UTO;L898902C3;wanted;R-1\n",
                   "listed.csv:1: CSV header: unknown column(s) 'kind;issuing_state"),
    "misnamed-column": ("kind,state,document_number,reason\ndocument,UTO,L898902C3,wanted\n",
                        "listed.csv:1: CSV header: unknown column(s) 'state'; expected comma-separated"),
    "no-kind-column": ("issuing_state,document_number,reason\nUTO,L898902C3,wanted\n",
                       "listed.csv:1: CSV header: no 'kind' column"),
    "unquoted-comma": (f"{CSV_HEADER}\ndocument,UTO,L898902C3,wanted,R-1,Smith, J\n",
                       "listed.csv:2: 7 cells, the header names 5 (a comma inside a value needs \"quotes\")"),
    "huge-cell": (f"{CSV_HEADER}\ndocument,UTO,L898902C3,wanted,{'x' * 200_000}\n",
                  "listed.csv:2: not CSV: field larger than field limit"),
}


@pytest.mark.parametrize("text, message", BAD_CSV.values(), ids=BAD_CSV.keys())
def test_build_names_a_csv_mistake_and_writes_nothing(signed, tmp_path, capsys, text, message):
    """A CSV with a wrong delimiter or column was read as records without a kind or reason (a misleading "reason ''"),
    a row with a cell too many lost that cell silently, and a cell over 128 KiB ended in a csv.Error traceback."""
    keys, _ = signed
    records, out = tmp_path / "listed.csv", tmp_path / "v2.shl"
    records.write_text(text)
    argv = ["build", "--keys", str(keys), "--from", str(records), "--list-id", "main", "--version", "2",
            "--out", str(out)]
    assert hitlist_main(argv) == EXIT_USAGE
    assert f"sharaka-hitlist build: {records}:" in (line := one_line(capsys)) and message in line, line
    assert not out.exists()


def test_build_reads_a_spreadsheets_csv_with_byte_order_mark_and_crlf(signed, tmp_path, capsys):
    """Excel's "CSV UTF-8" starts with a byte order mark: its first column was '\\ufeffkind', every record kindless."""
    keys, snapshot = signed
    records, out = tmp_path / "excel.csv", tmp_path / "excel.shl"
    records.write_bytes(b"\xef\xbb\xbf" + f"{CSV_HEADER}\r\ndocument,UTO,L898902C3,wanted,R-1\r\n".encode())
    assert hitlist_main(["build", "--keys", str(keys), "--from", str(records), "--list-id", "main", "--version", "1",
                         "--out", str(out), "--json"]) == 0
    assert '"entries": 1' in capsys.readouterr().out
    assert hitlist_main(["lookup", str(out), "--document", "UTO", "L898902C3", "--json"]) == 0
    assert '"hit": true' in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["cmd", "--gate", "gate-1", "--op", "reboot", "--sign-with", "K", "--out", "OUT"],
     "argument --op: invalid choice: 'reboot' (choose from 'set_policy', "),
    (["keys", "--hits"], "unrecognized arguments: --hits"),
], ids=["cmd-misspelt-op", "keys-hits"])
def test_central_refuses_an_option_it_would_not_honour(tmp_path, capsys, argv, message):
    """`cmd --op reboot` (no gate executes it) signed and wrote or sent a command every gate rejects as unknown_op;
    `keys --hits` was accepted and ignored: the device-key history has no hits."""
    db, out = tmp_path / "central.db", tmp_path / "cmd.bin"
    argv = [str(tmp_path / "k") if a == "K" else str(out) if a == "OUT" else a for a in argv]
    with pytest.raises(SystemExit) as exit_:
        central_main([*argv, "--db", str(db)])
    assert exit_.value.code == EXIT_USAGE and message in capsys.readouterr().err
    assert not db.exists() and not out.exists()


@pytest.mark.parametrize("locale", ["C.UTF-8", "C"], ids=["strict-stdin", "surrogateescape-stdin"])
def test_a_password_that_is_not_utf8_is_named_and_no_account_is_made(tmp_path, locale):
    """A password piped in Latin-1 ended in "'utf-8' codec can't encode character '\\udcd0'…" (the hash's error)."""
    import os
    import subprocess
    import sys

    from agent.gate_toml import write_gate_config
    from tests.support.paths import REPO

    config = write_gate_config(tmp_path, gate_id="gate-1", site="port-a")
    env = {**os.environ, "LC_ALL": locale, "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    proc = subprocess.run([sys.executable, "-m", "agent", "officer", "add", "amina", "--config", str(config)],
                          input="mot de passe élevé\n".encode("latin-1"), capture_output=True, cwd=REPO, env=env,
                          timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == EXIT_USAGE and err == ("sharaka-gate officer add: the password is not UTF-8 text: type "
                                                     "it again, or give it in UTF-8; see --help\n"), err
    assert not (tmp_path / "state" / "officers.sqlite3").exists() or "amina" not in subprocess.run(
        [sys.executable, "-m", "agent", "officer", "list", "--config", str(config)], capture_output=True, text=True,
        cwd=REPO, timeout=60).stdout


@pytest.mark.parametrize("target", ["keys/root.key", "keys/keyring.bin", "listed.csv", "v1.shl"])
def test_build_out_never_replaces_a_key_the_records_or_its_base(signed, tmp_path, capsys, target):
    """`build --out keys/root.key` replaced the root private key with the list (0644), for good; `--out` naming the
    records or the --base snapshot replaced the input it was read from."""
    keys, snapshot = signed
    out = tmp_path / target
    before = out.read_bytes()
    assert hitlist_main(["build", "--keys", str(keys), "--from", str(tmp_path / "listed.csv"), "--list-id", "main",
                         "--version", "2", "--base", str(snapshot), "--out", str(out)]) == EXIT_USAGE
    assert f"--out {str(out)!r} " in one_line(capsys)
    assert out.read_bytes() == before
    assert hitlist_main(["head", "--keys", str(keys), "--list", str(snapshot), "--out", str(tmp_path / "head.shl")]) == 0
    assert hitlist_main(["head", "--keys", str(keys), "--list", str(snapshot), "--out", str(tmp_path / "head.shl")]) == 0


def test_capture_keeps_an_earlier_capture(tmp_path, capsys):
    """`reader capture --out reader.hex` emptied the capture taken yesterday (or any file named by mistake)."""
    from tests.support.paths import REPO

    out = tmp_path / "reader.hex"
    out.write_text("# yesterday's capture of the failing swipe\n")
    replay = f"replay://{REPO / 'tests' / 'data' / 'captures' / 'plain-com-crlf.hex'}?framing=lines"
    assert gate_main(["reader", "capture", replay, "--out", str(out), "--duration", "0"]) == EXIT_USAGE
    assert one_line(capsys) == f"sharaka-gate reader capture: already exists: {str(out)!r}; remove it or choose another path"
    assert out.read_text() == "# yesterday's capture of the failing swipe\n"
    assert gate_main(["reader", "capture", replay, "--out", str(tmp_path / "new.hex"), "--duration", "0"]) == 0


@pytest.mark.parametrize("list_id, version", [("main", "1"), ("main", "0"), ("other", "2")],
                         ids=["same-version", "older", "another-list"])
def test_build_refuses_a_base_it_cannot_follow(signed, tmp_path, capsys, list_id, version):
    """`build --base v1.shl --version 1` (or of another list) was signed, exit 0: a file every gate holding v1
    refuses (rollback, or a chain from another list)."""
    keys, snapshot = signed
    out = tmp_path / "next.shl"
    assert hitlist_main(["build", "--keys", str(keys), "--from", str(tmp_path / "listed.csv"), "--list-id", list_id,
                         "--version", version, "--base", str(snapshot), "--out", str(out)]) == EXIT_USAGE
    assert f"base 'main' v1: a snapshot chained from it is a newer version of the same list, not {list_id!r} " \
           f"v{version}" in one_line(capsys)
    assert not out.exists()


def test_hitlist_status_refuses_state_and_config_together(signed, tmp_path, capsys):
    """`hitlist status --state DIR --config FILE` answered for the config's lists and ignored --state (and
    --root-pub) without a word: a technician checking one store read the status of others."""
    from agent.gate_toml import write_gate_config

    keys, _ = signed
    config = write_gate_config(tmp_path, gate_id="gate-1", site="port-a")
    for extra in (["--state", str(tmp_path / "store")], ["--root-pub", str(keys / "root.pub")]):
        assert gate_main(["hitlist", "status", "--config", str(config), *extra]) == EXIT_USAGE
        assert one_line(capsys) == ("sharaka-gate hitlist status: give --state DIR [--root-pub FILE] (one list) or "
                                    "--config FILE (every list), not both; see --help")


@pytest.mark.parametrize("flags", [["--enrol-broker", "broker.example:8883"], ["--enrol-list", "main"],
                                   ["--root-pub", "ROOT"]], ids=lambda f: f[0])
def test_central_run_refuses_enrolment_settings_without_the_desk(signed, tmp_path, capsys, flags):
    """`run --enrol-broker HOST:PORT` without --enrol-ca ran (exit 0) with the enrolment desk off: the operator
    believed gates could enrol. Said before the store is made."""
    keys, _ = signed
    assert central_main(["keygen", "--out", str(tmp_path / "node")]) == 0
    capsys.readouterr()
    flags = [str(keys / "root.pub") if f == "ROOT" else f for f in flags]
    db = tmp_path / "central.db"
    assert central_main(["run", "--db", str(db), "--keys", str(tmp_path / "node"), "--port", "1", "--duration", "1",
                         *flags]) == EXIT_USAGE
    assert one_line(capsys) == (f"sharaka-central run: {flags[0]} without --enrol-ca DIR: the enrolment desk is off; "
                                "add --enrol-ca; see --help")
    assert not db.exists()


def test_certify_without_a_change_publishes_nothing(signed, capsys):
    """`certify --keys DIR` with no action published keyring v2, identical to v1 and never to be overwritten."""
    keys, _ = signed
    assert hitlist_main(["certify", "--keys", str(keys)]) == EXIT_USAGE
    assert one_line(capsys).startswith("sharaka-hitlist certify: nothing to certify: give --rotate-list-key, ")
    assert sorted(p.name for p in (keys / "keyrings").iterdir()) == ["000001.bin"]


def test_build_refuses_a_list_of_no_entries_unless_asked(signed, tmp_path, capsys):
    """An empty records file (a failed export) signed exit 0 a list that, published, cleared every gate's list;
    now it is refused and nothing written, and ``--allow-empty`` signs one on purpose."""
    keys, _ = signed
    records, out = tmp_path / "export.csv", tmp_path / "v2.shl"
    records.write_text(f"{CSV_HEADER}\n")
    argv = ["build", "--keys", str(keys), "--from", str(records), "--list-id", "main", "--version", "2",
            "--out", str(out)]
    assert hitlist_main(argv) == EXIT_USAGE
    assert "holds no record" in (line := one_line(capsys)) and "--allow-empty" in line, line
    assert not out.exists()
    assert hitlist_main([*argv, "--allow-empty", "--json"]) == 0
    assert '"entries": 0' in capsys.readouterr().out and out.exists()


@pytest.mark.parametrize("argv, message", [
    (["update", "install", "http://x/b.raucb", "--size", "-5", "--sha256", "00"], "argument --size: '-5': expected"),
    (["update", "install", "http://x/b.raucb", "--size", "0", "--sha256", "00"], "argument --size: '0': expected"),
    (["update", "commit", "--config", "gate.toml", "--settle", "nan"], "argument --settle: 'nan': expected"),
    (["update", "commit", "--config", "gate.toml", "--deadline", "-1"], "argument --deadline: '-1': expected"),
], ids=["negative-size", "zero-size", "nan-settle", "negative-deadline"])
def test_update_options_are_checked_as_usage_errors(capsys, argv, message):
    """``update install --size -5`` was reported as a refused bundle (exit 3) after the download began, and a
    ``nan`` or negative ``--settle``/``--deadline`` judged a trial boot at once."""
    with pytest.raises(SystemExit) as exit_:
        gate_main(argv)
    assert exit_.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err
