"""`sharaka-gate officer …` (agent/commands/officer.py): accounts managed from the command line, the password
never an argument, mistakes reported in one line with exit 2."""

from __future__ import annotations

import io
import json

import pytest

from agent.cli import main
from agent.web.accounts import Accounts
from tests.support.gatesim import write_app_config


@pytest.fixture
def config(tmp_path):  # type: ignore[no-untyped-def]
    return str(write_app_config(tmp_path))


def run(argv, stdin="", monkeypatch=None):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def test_add_list_passwd_unlock_remove(config, tmp_path, monkeypatch, capsys):
    assert run(["officer", "add", "amina", "--config", config], "correct horse battery\n", monkeypatch) == 0
    assert run(["officer", "add", "omar", "--role", "supervisor", "--config", config], "another long one\n",
               monkeypatch) == 0
    capsys.readouterr()
    assert run(["officer", "list", "--json", "--config", config], "", monkeypatch) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(a["name"], a["role"], a["locked"]) for a in listed] == [("amina", "officer", False),
                                                                    ("omar", "supervisor", False)]
    assert run(["officer", "passwd", "amina", "--config", config], "a new passphrase\n", monkeypatch) == 0
    assert Accounts(tmp_path / "state" / "officers.sqlite3").authenticate("amina", "a new passphrase")
    assert run(["officer", "unlock", "amina", "--config", config], "", monkeypatch) == 0
    assert run(["officer", "remove", "omar", "--config", config], "", monkeypatch) == 0
    assert [a.name for a in Accounts(tmp_path / "state" / "officers.sqlite3").list()] == ["amina"]


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["officer", "add", "amina"], "short\n", "password of 5 characters: expected 10-1024"),
    (["officer", "add", "Bad Name"], "correct horse battery\n", "account name 'Bad Name'"),
    (["officer", "remove", "nobody"], "", "no account 'nobody'"),
    (["officer", "unlock", "nobody"], "", "no account 'nobody'"),
], ids=["short_password", "bad_name", "remove_unknown", "unlock_unknown"])
def test_mistakes_are_one_line_and_exit_2(config, monkeypatch, capsys, argv, stdin, message):
    assert run([*argv, "--config", config], stdin, monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith(f"sharaka-gate officer {argv[1]}: ")


def test_taken_name_is_refused_and_the_account_unchanged(config, tmp_path, monkeypatch, capsys):
    assert run(["officer", "add", "amina", "--config", config], "correct horse battery\n", monkeypatch) == 0
    assert run(["officer", "add", "amina", "--config", config], "another password\n", monkeypatch) == 2
    assert "already exists" in capsys.readouterr().err
    assert Accounts(tmp_path / "state" / "officers.sqlite3").authenticate("amina", "correct horse battery")
