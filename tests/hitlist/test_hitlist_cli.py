"""`sharaka-hitlist` and `sharaka-gate hitlist` end to end, as real processes."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hitlist_central import LISTED_DOCUMENT, LISTED_PERSON
from tests.support.paths import REPO

RECORDS = [
    LISTED_DOCUMENT,
    {**LISTED_PERSON, "given_names": "ANNA<MARIA"},  # names as a reader gives them: '<' separates
    {"kind": "vehicle", "vin": "1HGCM82633A004352", "reason": "stolen", "ref": "V-1"},
]


def build(keys: Path, records: Path, version: int, out: Path | str, *extra: str) -> subprocess.CompletedProcess:
    """``sharaka-hitlist build`` of list ``sltd`` at ``version`` from ``records`` into ``out``."""
    return run("build", "--keys", str(keys), "--from", str(records), "--list-id", "sltd", "--version", str(version),
               "--out", str(out), *extra)


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    module = "tools.hitlist_cli" if args[0] != "gate" else "agent"
    argv = [sys.executable, "-m", module, *(args[1:] if args[0] == "gate" else args)]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv} -> {proc.returncode}: {proc.stderr}")
    return proc


def as_json(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout)


@pytest.fixture
def keys(tmp_path) -> Path:
    run("keygen", "--out", str(tmp_path / "keys"), "--json")
    return tmp_path / "keys"


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_keygen_writes_private_keys_0600_and_refuses_to_overwrite(keys):
    for key in keys.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(bytes.fromhex((keys / "root.pub").read_text().strip())) == 32
    before = (keys / "root.key").read_bytes()
    proc = run("keygen", "--out", str(keys), check=False)
    assert proc.returncode != 0 and "refusing to overwrite" in proc.stderr
    assert (keys / "root.key").read_bytes() == before


def test_build_install_lookup_round_trip(tmp_path, keys):
    records = write_jsonl(tmp_path / "r.jsonl", RECORDS)
    snap = tmp_path / "v1.shl"
    built = as_json(build(keys, records, 1, snap, "--person-cost", "5", "--json"))
    assert built["entries"] >= 3
    state = str(tmp_path / "gate")
    run("gate", "hitlist", "install", str(snap), "--root-pub", str(keys / "root.pub"), "--state", state)
    out = as_json(
        run("gate", "hitlist", "lookup", "--state", state, "--document", "UTO", "L898902C3", "--json")
    )
    assert {k: out[k] for k in ("hit", "kind", "reason", "ref", "list_version", "stale")} == {
        "hit": True, "kind": "document", "reason": "stolen", "ref": "SLTD-1", "list_version": 1, "stale": True,
    }  # fmt: skip
    person = as_json(
        run(
            "gate",
            "hitlist",
            "lookup",
            "--state",
            state,
            "--person",
            "ERIKSSON",
            "ANNA MARIA",
            "740812",
            "--json",
        )
    )
    assert (person["hit"], person["ref"]) == (True, "N-7")
    vin = as_json(run("gate", "hitlist", "lookup", "--state", state, "--vin", "1HGCM82633A004352", "--json"))
    assert (vin["hit"], vin["kind"]) == (True, "vehicle")
    miss = as_json(
        run("gate", "hitlist", "lookup", "--state", state, "--document", "UTO", "L898902C4", "--json")
    )
    assert (miss["hit"], miss["reason"], miss["ref"]) == (False, None, None)
    assert as_json(run("gate", "hitlist", "verify", "--state", state, "--json"))["ok"]


def test_delta_head_and_refused_rollback_via_cli(tmp_path, keys):
    v1, v2, d2, h2 = (str(tmp_path / n) for n in ("v1.shl", "v2.shl", "d2.shl", "h2.shl"))
    build(keys, write_jsonl(tmp_path / "a.jsonl", RECORDS[:1]), 1, v1)
    extra = {
        "kind": "document",
        "issuing_state": "D",
        "document_number": "C01X00T47",
        "reason": "lost",
        "ref": "SLTD-2",
    }
    build(keys, write_jsonl(tmp_path / "b.jsonl", [extra]), 2, v2, "--base", v1)
    delta = as_json(run("delta", "--keys", str(keys), "--from", v1, "--to", v2, "--out", d2, "--json"))
    assert (delta["adds"], delta["removes"]) == (1, 1)
    run("head", "--keys", str(keys), "--list", v2, "--out", h2)
    state = str(tmp_path / "gate")
    run("gate", "hitlist", "install", v1, "--root-pub", str(keys / "root.pub"), "--state", state)
    run("gate", "hitlist", "install", d2, "--state", state)
    run("gate", "hitlist", "install", h2, "--state", state)
    status = as_json(run("gate", "hitlist", "status", "--state", state, "--json"))
    assert (status["version"], status["stale"]) == (2, False)
    refused = run("gate", "hitlist", "install", v1, "--state", state, check=False)
    assert refused.returncode == 3 and "rollback" in refused.stderr
    assert (
        as_json(run("gate", "hitlist", "status", "--state", state, "--json"))["state_hash"]
        == status["state_hash"]
    )
    hit = as_json(
        run("gate", "hitlist", "lookup", "--state", state, "--document", "D<<", "C01X00T47", "--json")
    )
    assert (hit["hit"], hit["list_version"], hit["stale"]) == (True, 2, False)


def test_build_from_csv_and_inspect(tmp_path, keys):
    csv_path = tmp_path / "r.csv"
    csv_path.write_text(
        "kind,issuing_state,document_number,surname,given_names,birth_date,vin,reason,ref\n"
        "document,UTO,L898902C3,,,,,stolen,SLTD-1\n"
        "person,,,ERIKSSON,ANNA MARIA,740812,,wanted,N-7\n"
    )
    out = str(tmp_path / "v1.shl")
    build(keys, csv_path, 1, out)
    meta = as_json(run("inspect", out, "--json"))
    assert (meta["kind"], meta["version"], meta["reasons"]) == ("snapshot", 1, ["stolen", "wanted"])
    assert as_json(run("verify", out, "--root-pub", str(keys / "root.pub"), "--json"))["ok"]
    assert as_json(run("lookup", out, "--document", "UTO", "L898902C3", "--json"))["hit"]


def test_bad_record_is_named(tmp_path, keys):
    records = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {
                "kind": "document",
                "issuing_state": "UTO",
                "document_number": "L8/9",
                "reason": "stolen",
                "ref": "x",
            }
        ],
    )
    proc = run(
        "build",
        "--keys",
        str(keys),
        "--from",
        str(records),
        "--list-id",
        "s",
        "--version",
        "1",
        "--out",
        str(tmp_path / "o"),
        check=False,
    )
    assert proc.returncode == 2 and "'L8/9'" in proc.stderr


def test_list_key_rotation_via_certify(tmp_path, keys):
    build(keys, write_jsonl(tmp_path / "a.jsonl", RECORDS[:1]), 3, tmp_path / "v3.shl")
    state = str(tmp_path / "gate")
    run(
        "gate",
        "hitlist",
        "install",
        str(tmp_path / "v3.shl"),
        "--root-pub",
        str(keys / "root.pub"),
        "--state",
        state,
    )
    cert = as_json(run("certify", "--keys", str(keys), "--rotate-list-key", "--json"))
    assert cert["epoch"] == 2 and cert["revoked"]
    build(keys, tmp_path / "a.jsonl", 1, tmp_path / "e2v1.shl")
    run("gate", "hitlist", "install", str(tmp_path / "e2v1.shl"), "--state", state)
    status = as_json(run("gate", "hitlist", "status", "--state", state, "--json"))
    assert (status["epoch"], status["version"]) == (2, 1)
    assert stat.S_IMODE((keys / "list-2.key").stat().st_mode) == 0o600


def test_gate_lookup_from_mrz_lines(tmp_path, keys):
    records = write_jsonl(tmp_path / "r.jsonl", RECORDS)
    snap = str(tmp_path / "v1.shl")
    build(keys, records, 1, snap)
    state = str(tmp_path / "gate")
    run("gate", "hitlist", "install", snap, "--root-pub", str(keys / "root.pub"), "--state", state)
    td3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
    out = as_json(run("gate", "hitlist", "lookup", "--state", state, "--mrz", *td3, "--json"))
    assert (out["hit"], out["kind"], out["ref"]) == (True, "document", "SLTD-1")


def test_root_rotation_via_certify_reaches_a_gate_pinned_to_the_old_root(tmp_path, keys):
    records = write_jsonl(tmp_path / "a.jsonl", RECORDS[:1])
    build(keys, records, 1, tmp_path / "v1.shl")
    state = str(tmp_path / "gate")
    run(
        "gate",
        "hitlist",
        "install",
        str(tmp_path / "v1.shl"),
        "--root-pub",
        str(keys / "root.pub"),
        "--state",
        state,
    )
    rotated = as_json(run("certify", "--keys", str(keys), "--rotate-root", "--json"))
    assert rotated["keyring_version"] == 2
    build(keys, records, 2, tmp_path / "v2.shl", "--base", str(tmp_path / "v1.shl"))
    run("gate", "hitlist", "install", str(tmp_path / "v2.shl"), "--state", state)
    status = as_json(run("gate", "hitlist", "status", "--state", state, "--json"))
    assert (status["version"], status["keyring_version"]) == (2, 2)


def _in_process(argv: list[str], capsys) -> tuple[int, str]:
    """``sharaka-hitlist`` in this process: (exit code, stderr)."""
    from tools.hitlist_cli import main

    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("argv", "flag"), [
    (["keygen", "--validity-days", "nan"], "--validity-days nan"),
    (["keygen", "--validity-days", "-1"], "--validity-days -1.0"),
    (["build", "--expires-days", "nan"], "--expires-days nan"),
    (["build", "--expires-days", "-5"], "--expires-days -5.0"),
    (["head", "--valid-minutes", "0"], "--valid-minutes 0.0"),
])
def test_a_lifetime_that_is_not_a_positive_number_is_refused_before_anything_is_written(tmp_path, capsys, argv, flag):
    """keygen wrote a keyring (and build a list, head a head) valid until NaN or already expired: gates refused the
    keyring and the expired list, and took a NaN expiry for a list that never expires."""
    keys = tmp_path / "keys"
    assert _in_process(["keygen", "--out", str(keys)], capsys)[0] == 0
    snap = tmp_path / "v1.shl"
    assert _in_process(["build", "--keys", str(keys), "--from", str(write_jsonl(tmp_path / "r.jsonl", RECORDS[:1])),
                        "--list-id", "sltd", "--version", "1", "--out", str(snap)], capsys)[0] == 0
    out = tmp_path / "out"
    where = {"keygen": ["--out", str(out)],
             "build": ["--keys", str(keys), "--from", str(tmp_path / "r.jsonl"), "--list-id", "sltd", "--version",
                       "2", "--out", str(out)],
             "head": ["--keys", str(keys), "--list", str(snap), "--out", str(out)]}[argv[0]]
    code, err = _in_process([*argv, *where], capsys)
    assert (code, err) == (2, f"sharaka-hitlist {argv[0]}: {flag}: expected a positive number; see --help\n")
    assert not out.exists()


@pytest.mark.parametrize("cost", ["0", "100000000000000000000"])
def test_build_refuses_a_person_cost_gates_refuse(tmp_path, capsys, cost):
    """A cost of 0 built a list every gate refused; one beyond 64 bits ended in msgpack's OverflowError traceback."""
    keys = tmp_path / "keys"
    assert _in_process(["keygen", "--out", str(keys)], capsys)[0] == 0
    code, err = _in_process(["build", "--keys", str(keys), "--from", str(write_jsonl(tmp_path / "r.jsonl", RECORDS)),
                             "--list-id", "sltd", "--version", "1", "--out", str(tmp_path / "v1.shl"),
                             "--person-cost", cost], capsys)
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"sharaka-hitlist build: fingerprint person_cost {cost}: expected an integer 1..10000000;")
    assert not (tmp_path / "v1.shl").exists()


def test_certify_refuses_to_revoke_a_key_id_the_keyring_does_not_certify(tmp_path, capsys):
    """A mistyped --revoke published keyring v2 revoking nothing, and the key meant stayed trusted."""
    keys = tmp_path / "keys"
    assert _in_process(["keygen", "--out", str(keys)], capsys)[0] == 0
    before = (keys / "keyring.bin").read_bytes()
    code, err = _in_process(["certify", "--keys", str(keys), "--revoke", "0123456789abcdef"], capsys)
    assert code == 2
    assert err.startswith("sharaka-hitlist certify: --revoke '0123456789abcdef': no key with this id is certified")
    assert (keys / "keyring.bin").read_bytes() == before
    assert sorted(p.name for p in (keys / "keyrings").iterdir()) == ["000001.bin"]


def test_lookup_refuses_an_impossible_birth_date_or_a_name_without_letters(tmp_path, keys, capsys):
    """`lookup --person ERIKSSON ANNA 991399` (or names "" "") answered "no hit", exit 0: a list holding no persons
    never looked at them, and a list holding persons keyed the impossible date as given."""
    from agent.cli import main

    state = str(tmp_path / "gate")
    for n, records in enumerate((RECORDS[:1], RECORDS), start=1):
        build(keys, write_jsonl(tmp_path / f"r{n}.jsonl", records), n, tmp_path / f"v{n}.shl", "--person-cost", "5")
        run("gate", "hitlist", "install", str(tmp_path / f"v{n}.shl"), "--root-pub", str(keys / "root.pub"),
            "--state", state)
        for birth in ("991399", "970229", "74<<32", "7408", "74081201", "74-08-12", "x" * 5000):
            assert main(["hitlist", "lookup", "--state", state, "--person", "ERIKSSON", "ANNA", birth]) == 2
            err = capsys.readouterr().err
            assert err == (f"sharaka-gate hitlist lookup: birth date {birth!r:.60}: expected a date YYMMDD as printed "
                           "in the MRZ, its unknown parts << (e.g. 740812 or 74<<<<); check that the file or value is "
                           "the right one and not damaged\n")
        assert main(["hitlist", "lookup", "--state", state, "--person", "", "<<", "740812"]) == 2
        assert "has no letters" in capsys.readouterr().err
        for birth in ("74<<<<", "<<0812", "000229", "<<0229", "7408<<", "<<<<<<"):
            assert main(["hitlist", "lookup", "--state", state, "--person", "ERIKSSON", "ANNA", birth]) == 0, birth
        capsys.readouterr()
    proc = run("lookup", str(tmp_path / "v2.shl"), "--person", "ERIKSSON", "ANNA", "991399", check=False)
    assert proc.returncode == 2 and "birth date '991399': expected a date YYMMDD" in proc.stderr, proc.stderr


def test_lookup_errors_quote_a_long_argument_cut_short(tmp_path, keys, capsys):
    """`lookup --vin` with a 5,000-character argument repeated all of it in the error line."""
    from agent.cli import main

    build(keys, write_jsonl(tmp_path / "r.jsonl", RECORDS), 1, tmp_path / "v1.shl", "--person-cost", "5")
    state = str(tmp_path / "gate")
    run("gate", "hitlist", "install", str(tmp_path / "v1.shl"), "--root-pub", str(keys / "root.pub"), "--state", state)
    long = "A" * 5000
    for query in (["--vin", long], ["--document", "UTO", long], ["--document", long, "X"],
                  ["--person", "ERIKSSON", "ANNA", long], ["--person", "1" * 150, "ANNA", "740812"]):
        assert main(["hitlist", "lookup", "--state", state, *query]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and len(err) < 300, err
    proc = run("lookup", str(tmp_path / "v1.shl"), "--vin", long, check=False)
    assert proc.returncode == 2 and len(proc.stderr) < 300, proc.stderr
