"""The gate config is typed and closed: every problem is named, nothing invalid starts."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any, Literal

import pytest

from agent.config import SECTIONS, InvalidConfigError, describe, load_config, parse_config
from agent.errors import ConfigError
from tests.support.paths import DOCS, IMAGES

GOOD = """
[gate]
id = "gate-01"
site = "uto-north"
state_dir = "state"

[devices]
reader = "serial:///dev/serial/by-id/usb-reader?baud=115200&framing=lines"
indicators = "i2c://1/0x40?chip=pca9685"

[screening]
duplicate_window_s = 5
refused_issuing_states = ["XXA"]
stale_policy = "clear-flag"
clear_event_detail = "fingerprint"
lab_gate = true

[hitlist]
records = "listed.jsonl"

[link]
enabled = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gate.toml"
    path.write_text(text)
    return path


def test_good_config_loads_with_defaults_and_relative_paths(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.gate.id == "gate-01"
    assert cfg.gate.state_dir == tmp_path / "state"
    assert cfg.hitlist.records == tmp_path / "listed.jsonl"
    assert cfg.screening.duplicate_window_s == 5.0 and isinstance(cfg.screening.duplicate_window_s, float)
    assert cfg.screening.refused_issuing_states == ("XXA",)
    assert cfg.screening.expiry_policy == "refer"  # default
    assert cfg.devices.camera == ""
    assert cfg.link.enabled is False


BAD = [
    ("unknown_key", GOOD.replace('site = "uto-north"', 'site = "uto-north"\ncolour = "red"'),
     "[gate] colour = 'red': unknown key"),
    ("unknown_section", GOOD + '\n[printer]\nport = 1\n', "[printer]: unknown section"),
    ("missing_required", GOOD.replace('id = "gate-01"\n', ""), "[gate] id: missing required key"),
    ("missing_section", GOOD.replace("[devices]", "[other]"), "[devices]: missing section"),
    ("wrong_type", GOOD.replace("duplicate_window_s = 5", 'duplicate_window_s = "5"'),
     "[screening] duplicate_window_s = '5': expected a number"),
    ("bool_is_not_a_number", GOOD.replace("duplicate_window_s = 5", "duplicate_window_s = true"),
     "[screening] duplicate_window_s = True: expected a number"),
    ("endless_window", GOOD.replace("duplicate_window_s = 5", "duplicate_window_s = inf"),
     "[screening] duplicate_window_s = inf: expected a finite number"),
    ("nan_window", GOOD.replace("duplicate_window_s = 5", "duplicate_window_s = nan"),
     "[screening] duplicate_window_s = nan: expected a finite number"),
    ("negative_window", GOOD.replace("duplicate_window_s = 5", "duplicate_window_s = -1"),
     "[screening] duplicate_window_s = -1: expected a number >= 0"),
    ("bad_policy", GOOD.replace('stale_policy = "clear-flag"', 'stale_policy = "clear"'),
     "[screening] stale_policy = 'clear': expected one of 'refer', 'clear-flag'"),
    ("bad_state_code", GOOD.replace('["XXA"]', '["uto"]'), "[screening] refused_issuing_states = ['uto']"),
    ("unknown_reader_scheme", GOOD.replace("serial:///dev/serial/by-id/usb-reader", "usb://reader"),
     "unknown reader URL scheme 'usb'; known: replay, serial, sim"),
    ("reader_not_a_url", GOOD.replace("serial:///dev/serial/by-id/usb-reader?baud=115200&framing=lines",
                                      "/dev/ttyUSB0"), "[devices] reader = '/dev/ttyUSB0': expected a URL"),
    ("bad_reader_framing", GOOD.replace("framing=lines", "framing=morse"),
     "reader option framing='morse': expected one of"),
    ("framing_option_of_another_mode", GOOD.replace("framing=lines", "framing=lines&bcc=xor"),
     "reader option bcc='xor' does not apply to framing=lines"),
    ("bad_indicator_channel", GOOD.replace("chip=pca9685", "chip=pca9685&red=99"), "red='99'"),
    ("gate_id_with_topic_chars", GOOD.replace('"gate-01"', '"gate/01"'), "[gate] id = 'gate/01'"),
    # The forms docs/config.md states for ids, names and codes.
    ("gate_id_reserved_in_any_case", GOOD.replace('"gate-01"', '"Central-1"'), "[gate] id = 'Central-1'"),
    ("site_starting_with_a_dot", GOOD.replace('"uto-north"', '".north"'), "[gate] site = '.north'"),
    ("reader_id_with_a_space", GOOD.replace("[devices]", '[devices]\nreader_id = "desk 1"'),
     "[devices] reader_id = 'desk 1'"),
    ("plate_country_in_lower_case", GOOD.replace("[devices]", '[devices]\nplate_country = "f"'),
     "[devices] plate_country = 'f'"),
    ("document_code_with_a_digit", GOOD.replace("[screening]", '[screening]\naccepted_document_codes = ["P1"]'),
     "[screening] accepted_document_codes = ['P1']"),
    ("list_governing_nothing", GOOD.replace('records = "listed.jsonl"', 'records = "listed.jsonl"\ngoverns = []'),
     "[hitlist] governs = []"),
    ("list_instead_of_table", "link = [1]\n" + GOOD.replace("[link]\nenabled = false", ""),
     "link = [1]: expected a table"),
    # Rules between keys: checked at load, before any device or the outbox is opened.
    ("records_on_a_deployed_gate", GOOD.replace("lab_gate = true", "lab_gate = false"),
     "[hitlist] records = 'listed.jsonl': an unsigned records file is for lab gates only"),
    ("store_without_list_id", GOOD.replace('records = "listed.jsonl"', 'store_dir = "hl"'),
     "[hitlist] store_dir = 'hl': no list id"),
    ("list_ids_differ", GOOD.replace('records = "listed.jsonl"', 'store_dir = "hl"\nlist_id = "sltd"')
     .replace("enabled = false", 'list_id = "nominal"'), "[link] list_id = 'nominal': differs from [hitlist]"),
    ("link_without_node_pub", GOOD.replace("enabled = false", "enabled = true"),
     "[link] enabled = true: node_pub is not set"),
    # Key and TLS files: read when the config loads, not after the indicators and the outbox are open.
    ("node_pub_missing", GOOD.replace("enabled = false", 'node_pub = "absent.pub"'),
     "[link] node_pub = 'absent.pub': public key file"),
    ("command_pub_not_a_key", GOOD.replace("enabled = false", 'command_pubs = ["gate.toml"]'),
     "[link] command_pubs = ['gate.toml']: public key file"),
    ("root_pub_not_a_key", GOOD.replace('records = "listed.jsonl"', 'store_dir = "hl"\nlist_id = "sltd"\n'
                                                                    'root_pub = "gate.toml"'),
     "[hitlist] root_pub = 'gate.toml': public key file"),
    ("ca_file_missing", GOOD.replace("enabled = false", 'ca_file = "ca.pem"'), "[link] ca_file = 'ca.pem': cannot read"),
    ("cert_without_its_key", GOOD.replace("enabled = false", 'ca_file = "gate.toml"\ncert_file = "gate.toml"'),
     "[link] cert_file = 'gate.toml': key_file is not set"),
]


@pytest.mark.parametrize("text,expected", [(t, e) for _, t, e in BAD], ids=[i for i, _, _ in BAD])
def test_bad_config_names_file_key_and_value(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(InvalidConfigError) as err:
        load_config(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_every_error_is_listed_at_once(tmp_path):
    text = (GOOD.replace('id = "gate-01"\n', "")
            .replace("duplicate_window_s = 5", "duplicate_window_s = -1")
            .replace('"i2c://1/0x40?chip=pca9685"', '"spi://0"'))
    with pytest.raises(InvalidConfigError) as err:
        load_config(write(tmp_path, text))
    assert len(err.value.errors) == 3
    assert "[gate] id: missing" in err.value.errors[0]
    assert any("[devices] indicators = 'spi://0'" in e for e in err.value.errors)


def test_not_toml_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[gate\nid="))


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.toml")


def values_of(tp: Any) -> str:
    """The "values" cell docs/config.md gives a key of annotation ``tp`` (before its range, if any)."""
    args = typing.get_args(tp)
    if type(None) in args:  # unset: the default column says None
        (tp,) = [a for a in args if a is not type(None)]
        args = typing.get_args(tp)
    if typing.get_origin(tp) is Literal:
        choices = [repr(a) for a in args]
        return ", ".join(choices[:-1]) + " or " + choices[-1]
    if typing.get_origin(tp) is tuple:
        return "list of " + values_of(args[0]) + "s"
    return {str: "string", Path: "path", int: "integer", float: "number", bool: "true or false"}[tp]


TABLE_ROW = re.compile(r"^\| `(\w+)` \| (\*\*required\*\*|`[^`]*`) \| ([^|]*) \|", re.M)
RANGE = re.compile(r", (?:(?P<low>-?[\d.]+)\.\.(?P<high>[\d.]+)|(?P<lop>>=?) (?P<l>[\d.]+)(?:, (?P<hop><=?) (?P<h>[\d.]+))?)$")


def documented() -> dict[tuple[str, str], tuple[str, str]]:
    """(section, key) -> (default, values) of every row of docs/config.md's key tables."""
    rows = {}
    for part in re.split(r"^### ", (DOCS / "config.md").read_text(), flags=re.M)[1:]:
        section = re.match(r"`\[(\w+)\]`", part)
        if section:
            body = re.split(r"^#", part, flags=re.M)[0]
            for key, default, values in TABLE_ROW.findall(body):
                rows[(section[1], key)] = (default.strip("`").replace("**required**", "required"), values.strip())
    return rows


def test_every_key_is_documented():
    """docs/config.md's tables are the schema, both ways: every key in its own section (a `port` row of [link]
    passed for [screen] before), none that the code does not read, each with the code's default and type."""
    docs = documented()
    code = {(section, key): (default, doc) for section, key, default, doc in describe()}
    assert sorted(docs) == sorted(code), "docs/config.md and agent/config.py differ in keys"
    for (section, key), (default, doc) in code.items():
        assert doc, f"[{section}] {key} has no description"
        hint = typing.get_type_hints(SECTIONS[section])[key]
        assert docs[(section, key)][0] == default, f"[{section}] {key}: docs/config.md's default is not the code's"
        assert RANGE.sub("", docs[(section, key)][1]) == values_of(hint), f"[{section}] {key}: type differs"


def _accepts(section: str, key: str, value: Any) -> bool:
    """Whether the config takes ``[section] key = value``; only that key may be refused."""
    data: dict[str, dict[str, Any]] = {"gate": {"id": "gate-01", "site": "site-a", "state_dir": "state"},
                                       "devices": {"reader": "sim://reader", "indicators": "sim://pca9685"}}
    data.setdefault(section, {})[key] = value
    try:
        parse_config(data, Path("/nonexistent/gate.toml"))
    except InvalidConfigError as exc:
        assert all(e.startswith(f"[{section}] {key} = ") for e in exc.errors), exc.errors
        return False
    return True


def documented_range(values: str, kind: type) -> list[tuple[float, bool] | None]:
    """[lower, upper] bound of a "values" cell, each (value, inclusive), or None where the cell states none."""
    found = RANGE.search(values)
    if found is None:
        return [None, None]
    if found["low"] is not None:
        return [(kind(found["low"]), True), (kind(found["high"]), True)]
    upper = None if found["h"] is None else (kind(found["h"]), found["hop"] == "<=")
    return [(kind(found["l"]), found["lop"] == ">="), upper]


NUMBERS = [(section, key) for section, key, _, _ in describe()
           if typing.get_type_hints(SECTIONS[section])[key] in (int, float)]


@pytest.mark.parametrize("section,key", NUMBERS, ids=[f"{s}.{k}" for s, k in NUMBERS])
def test_every_number_takes_exactly_its_documented_range(section, key):
    """The range in docs/config.md's "values" is the one the config enforces: each bound taken, the next value
    past it refused, and a key documented without a bound takes values far out on that side."""
    kind = typing.get_type_hints(SECTIONS[section])[key]
    step = 1 if kind is int else 1e-6
    values = documented()[(section, key)][1]
    for side, bound in zip((-1, 1), documented_range(values, kind), strict=True):
        if bound is None:
            assert _accepts(section, key, kind(side * 10**12)), f"[{section}] {key}: a bound {values!r} leaves out"
            continue
        edge, inclusive = bound
        inside, outside = (edge, edge + side * step) if inclusive else (edge - side * step, edge)
        assert _accepts(section, key, inside), f"[{section}] {key} = {inside} refused: not {values!r}"
        assert not _accepts(section, key, outside), f"[{section}] {key} = {outside} taken: not {values!r}"


def test_config_errors_read_as_shown_here(tmp_path, capsys, monkeypatch):
    """docs/config.md's first example is what a technician sees, line for line, and the exit code is 2."""
    from agent.cli import main

    shown = (DOCS / "config.md").read_text().split("$ sharaka-gate run --config gate.toml\n")[1].split("```")[0]
    monkeypatch.chdir(tmp_path)
    write(tmp_path, GOOD.replace('site = "uto-north"', 'site = "uto-north"\ncolour = "red"')
          .replace("serial:///dev/serial/by-id/usb-reader?baud=115200&framing=lines", "usb://x"))
    assert main(["run", "--config", "gate.toml"]) == 2
    assert capsys.readouterr().err == shown


def test_bad_node_pub_stops_run_with_exit_2_before_anything_opens(tmp_path, capsys):
    from agent.cli import main

    (tmp_path / "node.pub").write_bytes(b"not a key")
    path = write(tmp_path, GOOD.replace("enabled = false", 'enabled = true\nnode_pub = "node.pub"'))
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"sharaka-gate run: {path}: 1 config error(s); fix the config (docs/config.md lists every key)"
    assert "[link] node_pub = 'node.pub': public key file" in err[1]
    assert not (tmp_path / "state").exists()  # no outbox, no indicators: nothing was opened


def test_deployed_gate_refuses_lab_gate_config(tmp_path, capsys):
    from agent.cli import main

    path = write(tmp_path, GOOD)  # lab_gate = true, an unsigned records file
    assert main(["run", "--appliance", "--config", str(path)]) == 2
    assert "[screening] lab_gate = true: refused on a deployed gate" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()
    unit = (Path(__file__).parents[2] / "images" / "systemd" / "sharaka-gate.service").read_text()
    assert "sharaka-gate run --appliance --config" in unit


def test_one_list_id_for_screening_and_link(tmp_path):
    text = GOOD.replace('records = "listed.jsonl"', 'store_dir = "hl"').replace("enabled = false", 'list_id = "sltd"')
    cfg = load_config(write(tmp_path, text))
    assert cfg.hitlist.list_id == cfg.link.list_id == "sltd"


def test_example_config_loads():
    load_config(IMAGES / "gate.example.toml")
