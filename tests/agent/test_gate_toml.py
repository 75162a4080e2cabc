"""The one gate.toml writer (agent/gate_toml.py) writes what TOML reads back, and what the loader accepts."""

from __future__ import annotations

import tomllib

import pytest

from agent.config import load_config
from agent.gate_toml import gate_toml, write_gate_config


def test_values_read_back_as_written_including_quotes_backslashes_and_non_ascii():
    awkward = 'say "hi" \\ to Ærøskøbing\n'
    text = gate_toml(gate_id="gate-a", site=awkward, link={"enabled": True, "port": 1883, "keepalive_s": 2.5,
                                                           "command_pubs": ["a.pub", "b.pub"]})
    assert tomllib.loads(text) == {
        "gate": {"id": "gate-a", "site": awkward, "state_dir": "state"},
        "devices": {"reader": "sim://reader?framing=lines", "indicators": "sim://pca9685"},
        "link": {"enabled": True, "port": 1883, "keepalive_s": 2.5, "command_pubs": ["a.pub", "b.pub"]},
    }


def test_written_config_loads(tmp_path):
    config = load_config(write_gate_config(tmp_path, gate_id="gate-a", site="site-a",
                                           devices={"reader_id": "desk"}, logging={"level": "INFO"}))
    assert (config.gate.id, config.devices.reader_id) == ("gate-a", "desk")


def test_a_value_toml_cannot_hold_is_refused_by_name():
    with pytest.raises(TypeError, match="None"):
        gate_toml(gate_id="gate-a", site="s", link={"host": None})
